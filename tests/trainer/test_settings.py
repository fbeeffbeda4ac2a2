"""Training settings from the config's [training] section."""

from __future__ import annotations

import pytest

from pipeline.config import load_config
from trainer.settings import Branch, TrainingSettings


def test_settings_from_the_default_config_keep_every_value():
    training = load_config().training
    settings = TrainingSettings.from_dict(training.model_dump())
    assert settings.epochs == training.epochs
    assert settings.hidden_units == tuple(training.hidden_units)
    assert settings.learning_rate == training.learning_rate
    assert settings.without == frozenset()


def test_unknown_keys_are_ignored_and_branches_are_parsed():
    settings = TrainingSettings.from_dict({"epochs": 2, "tuner_trials": 9,
                                           "without": ["image", "text"]})
    assert settings.epochs == 2
    assert settings.without == {Branch.IMAGE, Branch.TEXT}


def test_an_unknown_branch_is_an_error():
    with pytest.raises(ValueError, match="'audio'"):
        TrainingSettings.from_dict({"without": ["audio"]})
