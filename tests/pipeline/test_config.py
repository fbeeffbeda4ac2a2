"""The typed config: the default loads, and every user mistake names the key and the file."""

from importlib import resources

import pytest

from pipeline.config import ConfigError, load_config
from trainer.features import FeatureRegistry, Kind

DEFAULT_TOML = resources.files("pipeline").joinpath("default.toml").read_text()


def _write(tmp_path, text):
    path = tmp_path / "clickpipe.toml"
    path.write_text(text)
    return path


def test_default_config_describes_the_ad_click_dataset():
    config = load_config()
    registry = config.registry()
    assert registry.label == "clicked"
    assert {f.name for f in registry.of_kind(Kind.IMAGE)} == {"creative"}
    assert registry["creative"].csv_column == "ad_id"
    assert registry.csv_columns[0] == "impression_id" and registry.csv_columns[-1] == "clicked"
    assert config.dataset.slices and config.dataset.crosses


def test_registry_round_trips_through_custom_config_form():
    registry = load_config().registry()
    assert FeatureRegistry.from_dict(registry.to_dict()) == registry


def test_a_file_copy_of_the_default_loads(tmp_path):
    assert load_config(_write(tmp_path, DEFAULT_TOML)) == load_config().model_copy(
        update={"source_file": str(tmp_path / "clickpipe.toml")}
    )


def test_unknown_key_is_named_with_the_file(tmp_path):
    path = _write(tmp_path, DEFAULT_TOML.replace("epochs = 6", "epochs = 6\nepoch = 3"))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(path) in str(error.value)
    assert "training.epoch: unknown key" in str(error.value)


def test_wrong_type_is_named(tmp_path):
    path = _write(tmp_path, DEFAULT_TOML.replace("batch_size = 256", 'batch_size = "big"'))
    with pytest.raises(ConfigError, match=r"training\.batch_size: "):
        load_config(path)


def test_missing_key_is_named(tmp_path):
    text = DEFAULT_TOML.replace('name = "creative"\nkind = "image"', 'name = "creative"')
    with pytest.raises(ConfigError, match=r"dataset\.features\.\d+\.kind: missing required key"):
        load_config(_write(tmp_path, text))


def test_slice_on_an_unknown_feature_is_refused(tmp_path):
    text = DEFAULT_TOML.replace('slices = [["device_type"]', 'slices = [["browser"]')
    with pytest.raises(ConfigError, match="dataset: .*unknown features: browser"):
        load_config(_write(tmp_path, text))


def test_bad_span_and_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset\.span: .*2026-10"):
        load_config(_write(tmp_path, DEFAULT_TOML.replace('span = "latest"', 'span = "October"')))
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(_write(tmp_path, "[dataset\n"))
    with pytest.raises(ConfigError, match="cannot read config .*nowhere.toml"):
        load_config(tmp_path / "nowhere.toml")


def test_overrides_are_validated():
    config = load_config().with_overrides(dataset={"span": "2026-10"})
    assert config.dataset.span == "2026-10"
    with pytest.raises(ConfigError, match=r"dataset\.window"):
        config.with_overrides(dataset={"window": 0})
