"""The typed config: the default loads, and every user mistake names the key and the file."""

import re
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
    assert "training.epoch: unknown key (did you mean epochs?)" in str(error.value)


def test_an_unknown_key_far_from_any_is_only_named(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(_write(tmp_path, "[serving]\nflux_capacitor = 1\n"))
    assert str(error.value).endswith("serving.flux_capacitor: unknown key (remove it or check the spelling)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[trainig]\nepochs = 2\n", "trainig: unknown key (did you mean training?)"),
        (
            '[[dataset.features]]\nname = "a"\nknd = "numeric"\n',
            "dataset.features.0.knd: unknown key (did you mean kind?)",
        ),
    ],
)
def test_unknown_keys_are_matched_in_their_own_section(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(_write(tmp_path, text))


def test_a_partial_file_is_laid_over_the_defaults(tmp_path):
    path = _write(
        tmp_path,
        '[dataset]\nsource = "gs://b/ads"\n\n[kubeflow]\nimage = "europe-docker.pkg.dev/p/ml/clickpipe:1"\n',
    )

    config = load_config(path)

    assert config.dataset.source == "gs://b/ads"
    assert config.kubeflow.image == "europe-docker.pkg.dev/p/ml/clickpipe:1"
    # Keys the file leaves out keep their defaults, the feature list included.
    assert config.dataset.features == load_config().dataset.features
    assert config.kubeflow.experiment == "clickpipe" and config.training.epochs == load_config().training.epochs


def test_a_dataset_with_its_own_features_inherits_nothing_from_the_ad_click_one(tmp_path):
    text = '[dataset]\nsource = "d"\nlabel = "bought"\n\n[[dataset.features]]\nname = "a"\nkind = "categorical"\n'

    config = load_config(_write(tmp_path, text))

    assert [f.name for f in config.dataset.features] == ["a"]
    assert (config.dataset.crosses, config.dataset.slices) == ([], [])
    assert config.dataset.label == "bought"
    # The code's defaults are neutral: no row key or passthrough column, a plain output name.
    assert (config.dataset.example_id, config.dataset.passthrough) == ("", [])
    assert config.dataset.prediction == "probability"
    assert config.dataset.impressions_pattern == "{span}/*.csv"
    assert config.registry().csv_columns == ["a", "bought"]
    # Other sections still come from the defaults.
    assert config.training == load_config().training


def test_the_ad_click_values_live_in_the_default_toml_only():
    config = load_config()

    assert (config.dataset.example_id, config.dataset.passthrough) == ("impression_id", ["timestamp"])
    assert config.dataset.prediction == config.registry().prediction == "click_probability"
    assert config.dataset.impressions_pattern == "impressions/{span}/*.csv"


NEW_DATASET = """
[dataset]
source = "trips"
label = "generous_tip"
{extra}

[[dataset.features]]
name = "fare_amount"
kind = "numeric"
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("", "dataset.label: missing required key"),
        ('label_rule = {column = "tip", op = ">", right = true}', "label_rule.right.number: Input should be a valid"),
        ('label_rule = {column = "tip", op = "=>", right = 1}', "dataset.label_rule.op: Input should be '>'"),
        ('label_rule = {column = "kind", op = ">", right = "card"}', "a text right side 'card' takes only == or !="),
        (
            'label_rule = {column = "fare_amount", op = ">", right = 0}',
            "label_rule.column 'fare_amount' is a feature of dataset.features: the model would see the outcome",
        ),
        ('span_column = "pickup"\nimpressions_pattern = "{span}/*.csv"', "names {span}, but dataset.span_column"),
        ('impressions_pattern = "trips.csv"', "must name the month folder once as {span}"),
        ('span_format = "%Y"', "span_format is set but dataset.span_column is not"),
        ('span_column = "pickup"\nspan_format = "YYYY-MM-DD"', "is not a strptime format"),
        ("window = 601", "dataset.window: Input should be less than or equal to 600"),
        ('prediction = "tip probability"', "dataset.prediction: String should match pattern"),
    ],
)
def test_a_new_dataset_s_mistakes_are_named(tmp_path, extra, expected):
    text = NEW_DATASET.format(extra=extra)
    if not extra:
        text = text.replace('label = "generous_tip"\n', "")

    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(_write(tmp_path, text))


def test_a_derived_label_a_timestamp_span_and_an_output_name_reach_the_registry(tmp_path):
    extra = (
        'label_rule = {column = "tip_amount", op = ">", right = {column = "fare_amount", times = 0.2}}\n'
        'span_column = "pickup"\nspan_format = "%Y-%m-%d %H:%M"\nwindow = 48\nprediction = "tip_probability"'
    )

    config = load_config(_write(tmp_path, NEW_DATASET.format(extra=extra)))
    registry = config.registry()

    assert config.dataset.impressions_pattern == "*.csv"
    assert registry.label_rule.describe() == "tip_amount > 0.2 * fare_amount"
    assert registry.label_columns == ("tip_amount", "fare_amount")
    assert registry.csv_columns == ["pickup", "fare_amount", "tip_amount"]
    assert registry.request_columns == ["fare_amount"]
    assert (registry.span_column, registry.span_format, registry.prediction) == (
        "pickup", "%Y-%m-%d %H:%M", "tip_probability"
    )
    assert FeatureRegistry.from_dict(registry.to_dict()) == registry
    # An override round-trips the rule through plain values.
    assert config.with_overrides(dataset={"window": 2}).registry().label_rule == registry.label_rule


def test_a_text_label_rule_compares_with_equality(tmp_path):
    extra = 'label_rule = {column = "income", op = "==", right = ">50K"}'

    registry = load_config(_write(tmp_path, NEW_DATASET.format(extra=extra))).registry()

    assert registry.label_rule.describe() == "income == '>50K'" and not registry.label_rule.numeric


def test_an_array_in_the_file_replaces_the_default_whole(tmp_path):
    config = load_config(_write(tmp_path, '[dataset]\nslices = [["device_type"]]\n'))

    assert config.dataset.slices == [["device_type"]]
    assert config.dataset.crosses == load_config().dataset.crosses


def test_a_file_is_checked_together_with_the_defaults_it_lies_over(tmp_path):
    path = _write(tmp_path, '[evaluation]\nslice_thresholds = [{slice = ["region"], min_auc = 0.5}]\n')

    with pytest.raises(ConfigError, match=r"slice \['region'\] is not in dataset.slices"):
        load_config(path)
    path = _write(tmp_path, '[evaluation]\nslice_thresholds = [{slice = ["device_type"], min_auc = 0.5}]\n')
    assert load_config(path).evaluation.slice_thresholds[0].min_auc == 0.5


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("enable_cache = true", 'enable_cache = "yes"', "enable_cache: Input should be a valid boolean (got 'yes')"),
        ("epochs = 6", 'epochs = "6"', "training.epochs: Input should be a valid integer (got '6')"),
        ("epochs = 6", "epochs = 6.5", "training.epochs: Input should be a valid integer"),
        ("window = 1", "window = true", "dataset.window: Input should be a valid integer (got True)"),
    ],
)
def test_values_are_taken_only_in_their_own_type(tmp_path, old, new, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(_write(tmp_path, DEFAULT_TOML.replace(old, new)))


@pytest.mark.parametrize("column", ["bid_price", "impression_id", "timestamp"])
def test_the_label_cannot_be_a_feature_or_a_row_key(tmp_path, column):
    path = _write(tmp_path, f'[dataset]\nlabel = "{column}"\n')
    expected = rf"dataset: label '{column}' is also .*point dataset\.label at the 0/1 column, or .*label_rule"
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_wrong_type_is_named(tmp_path):
    path = _write(tmp_path, DEFAULT_TOML.replace("batch_size = 1024", 'batch_size = "big"'))
    with pytest.raises(ConfigError, match=r"training\.batch_size: "):
        load_config(path)


def test_missing_key_is_named(tmp_path):
    text = DEFAULT_TOML.replace('name = "creative"\nkind = "image"', 'name = "creative"')
    with pytest.raises(ConfigError, match=r"dataset\.features\.\d+\.kind: missing required key"):
        load_config(_write(tmp_path, text))


def test_slice_on_an_unknown_feature_is_refused(tmp_path):
    text = DEFAULT_TOML.replace('slices = [["device_type"]', 'slices = [["browser"]')
    with pytest.raises(ConfigError, match=r"dataset\.slices: names features not in dataset\.features: browser$"):
        load_config(_write(tmp_path, text))


def test_bad_span_and_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset\.span: 'October' is not a span: .*2026-10"):
        load_config(_write(tmp_path, DEFAULT_TOML.replace('span = "latest"', 'span = "October"')))
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(_write(tmp_path, "[dataset\n"))
    with pytest.raises(ConfigError, match="cannot read config .*nowhere.toml"):
        load_config(tmp_path / "nowhere.toml")


def test_a_flag_value_is_blamed_on_the_flag_not_the_config():
    with pytest.raises(ConfigError) as error:
        load_config().with_flags({"--span": ("dataset.span", "2026/10"), "--home": ("pipeline.home", None)})

    assert str(error.value) == "--span: '2026/10' is not a span: use 'latest' or a month like 2026-10"


def test_flags_set_keys_and_unset_flags_change_nothing():
    config = load_config()

    assert config.with_flags({"--home": ("pipeline.home", None)}) is config
    assert config.with_flags({"--home": ("pipeline.home", "/h")}).pipeline.home == "/h"
    with pytest.raises(ConfigError, match=r"^--window 0: Input should be greater than or equal to 1$"):
        config.with_flags({"--window": ("dataset.window", 0)})


def test_overrides_are_validated():
    config = load_config().with_overrides(dataset={"span": "2026-10"})
    assert config.dataset.span == "2026-10"
    with pytest.raises(ConfigError, match=r"dataset\.window"):
        config.with_overrides(dataset={"window": 0})
