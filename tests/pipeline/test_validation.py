"""Validation settings from the config: comparators per feature kind, schema file, spans."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.validate import comparators
from pipeline import validation
from pipeline.config import ConfigError, load_config


@pytest.fixture(scope="module")
def config():
    return load_config()


def test_drift_comparators_follow_feature_kinds(config):
    drift = validation.drift_comparators(config)

    assert drift["bid_price"] == comparators.Comparator("bid_price", comparators.JENSEN_SHANNON, 0.06)
    assert drift["device_type"] == comparators.Comparator("device_type", comparators.L_INFINITY, 0.05)
    assert drift["ad_title"].kind == comparators.L_INFINITY
    assert drift["clicked"] == comparators.Comparator("clicked", comparators.L_INFINITY, 0.01)
    assert "creative" not in drift  # images have no comparator


def test_per_feature_thresholds_override_defaults(config):
    tuned = config.with_overrides(
        validation={"drift_thresholds": {"site": 0.2}, "skew_thresholds": {"site": 0.3, "hour": 0.1}}
    )

    assert validation.drift_comparators(tuned)["site"].threshold == 0.2
    skew = validation.skew_comparators(tuned)
    assert skew["site"].threshold == 0.3
    assert skew["hour"].threshold == 0.1
    assert "clicked" not in skew  # no label at serving


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"drift_thresholds": {"creative": 0.1}}, "validation.drift_thresholds names creative"),
        ({"skew_thresholds": {"nope": 0.1}}, "validation.skew_thresholds names nope"),
        ({"categorical_drift": 0}, "validation.categorical_drift"),
        ({"drift_thresholds": {"site": 2}}, "validation.drift_thresholds.site"),
        ({"unknown": 1}, "validation.unknown"),
    ],
)
def test_bad_validation_keys_are_named(config, values, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config.with_overrides(validation=values)


def test_comparators_round_trip_through_json(config):
    drift = validation.drift_comparators(config)

    assert comparators.comparators_from_json(comparators.comparators_to_json(drift)) == drift


def test_schema_file_defaults_to_the_shipped_curated_schema(config):
    path = Path(validation.schema_file(config))

    assert path.is_file() and path.parts[-3:] == ("pipeline", "schema", "schema.pbtxt")
    assert validation.schema_file(config, validation.IMAGE_PIPELINE_DIR) == "pipeline/schema/schema.pbtxt"
    custom = config.with_overrides(validation={"schema_file": "gs://b/schema.pbtxt"})
    assert validation.schema_file(custom) == "gs://b/schema.pbtxt"


def test_shipped_schema_describes_every_registry_column(config):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = text_format.Parse(Path(validation.schema_file(config)).read_text(), schema_pb2.Schema())
    registry = config.registry()

    expected = {registry.label, registry.example_id, *registry.passthrough, *registry.names}
    assert {f.name for f in schema.feature} == expected
    label = next(f for f in schema.feature if f.name == registry.label)
    assert list(label.not_in_environment) == [comparators.SERVING]


def test_store_root_defaults_under_the_pipeline_root(config):
    assert validation.store_root(config, "gs://b/root/") == "gs://b/root/validation"
    assert validation.store_root(config.with_overrides(validation={"store": "/s"}), "gs://b/root") == "/s"
