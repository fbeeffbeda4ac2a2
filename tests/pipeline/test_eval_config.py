"""The gate's settings from the project config: label, slices, columns and the rule."""

import pytest

from components.evaluate.gate import GateSettings, SliceRule
from pipeline import eval_config
from pipeline.config import ConfigError, load_config


@pytest.fixture(scope="module")
def config():
    return load_config().with_overrides(
        evaluation={
            "min_auc": 0.65,
            "max_auc_drop": 0.003,
            "max_log_loss_increase": 0.02,
            "confidence": 0.9,
            "min_clicks": 30,
            "slice_thresholds": [
                {"slice": ["device_type"], "max_auc_drop": 0.005},
                {"slice": ["device_type", "slot_position"], "min_auc": 0.55},
            ],
        }
    )


def test_the_rule_comes_from_the_evaluation_section(config):
    built = eval_config.build(config)

    assert (built.min_auc, built.max_auc_drop, built.max_log_loss_increase) == (0.65, 0.003, 0.02)
    assert (built.confidence, built.min_clicks, built.guard_slices) == (0.9, 30, True)
    assert built.slice_rules == (
        SliceRule(("device_type",), None, 0.005),
        SliceRule(("device_type", "slot_position"), 0.55, None),
    )


def test_slices_label_and_the_columns_to_read_come_from_the_dataset(config):
    built = eval_config.build(config)

    assert built.label == "clicked"
    assert built.slices == tuple(tuple(s) for s in config.dataset.slices)
    assert built.column_kinds == {
        "ad_category": "bytes",
        "ad_id": "bytes",
        "device_type": "bytes",
        "slot_position": "bytes",
    }


def test_numeric_slice_columns_are_read_as_floats():
    config = load_config().with_overrides(dataset={"slices": [["hour"]]})

    assert eval_config.build(config).column_kinds["hour"] == "float"


def test_the_ad_click_config_calls_ads_absent_from_training_new():
    assert eval_config.build(load_config()).new_column == "ad_id"
    assert eval_config.build(load_config()).new_slice == "new ad_id (absent from training)"


def test_defaults_guard_every_slice_and_survive_the_component_parameter():
    built = eval_config.build(load_config())

    assert built.guard_slices and built.min_clicks == 10 and built.confidence == 0.95
    assert GateSettings.from_json(built.to_json()) == built


def test_new_column_must_be_a_stored_column(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[evaluation]\nnew_column = "creative"\n')

    with pytest.raises(ConfigError, match="evaluation.new_column 'creative' is not a non-image feature"):
        load_config(path)


def test_another_dataset_does_not_inherit_the_ad_click_new_column(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[dataset]\nsource = "data"\nlabel = "y"\nexample_id = "id"\npassthrough = []\n'
        '[[dataset.features]]\nname = "colour"\nkind = "categorical"\n'
    )

    assert load_config(path).evaluation.new_column == ""
