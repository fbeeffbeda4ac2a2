"""Runtime parameters: defaults from the config, `--param` overrides, clear errors."""

import pytest

from kubeflow.parameters import ParameterError, parameter_values
from pipeline.config import load_config


@pytest.fixture(scope="module")
def config():
    return load_config()


def test_every_parameter_defaults_to_its_config_key(config):
    monthly = config.with_overrides(dataset={"span": "2026-09"})

    assert parameter_values(config) == {"span": "latest"}
    assert parameter_values(monthly) == {"span": "2026-09"}


def test_param_overrides_the_default(config):
    assert parameter_values(config, ["span=2026-10"]) == {"span": "2026-10"}


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("span", "expected NAME=VALUE"),
        ("=2026-10", "expected NAME=VALUE"),
        ("month=2026-10", "unknown parameter 'month' (known: span)"),
        ("span=2026-13", "use 'latest' or a month like 2026-10"),
        ("span=October", "use 'latest' or a month like 2026-10"),
    ],
)
def test_bad_param_names_itself(config, assignment, message):
    with pytest.raises(ParameterError) as error:
        parameter_values(config, [assignment])

    assert str(error.value).startswith(f"--param {assignment}: ")
    assert message in str(error.value)
