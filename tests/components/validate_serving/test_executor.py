"""ValidateServing's executor on real artifacts: the candidate is served in-process and probed."""

from __future__ import annotations

import shutil

import pytest

from components import artifacts
from components.validate_serving import executor
from serving.warmup import warmup_path
from tests.components.validate_serving import fixtures as fx

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def examples_uri(tmp_path_factory):
    return fx.write_examples(tmp_path_factory.mktemp("examples"), count=12)


@pytest.fixture(scope="module")
def good_model_uri(tmp_path_factory):
    return fx.write_model(tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def good_blessing(good_model_uri, examples_uri, tmp_path_factory):
    return fx.validate(good_model_uri, examples_uri, tmp_path_factory.mktemp("blessing"), 8)


def test_good_model_is_blessed_with_marker(good_blessing):
    from pathlib import Path

    assert good_blessing.get_int_custom_property(artifacts.BLESSED) == 1
    assert good_blessing.get_string_custom_property(artifacts.BLESSING_REASON) == ""
    assert (Path(good_blessing.uri) / executor.BLESSED_FILE).exists()
    assert not (Path(good_blessing.uri) / executor.NOT_BLESSED_FILE).exists()


def test_warmup_records_are_the_probe_requests(good_blessing, examples_uri):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = warmup_path(good_blessing.uri)
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(path)]
    kinds = [(log.WhichOneof("log_type"), getattr(log, log.WhichOneof("log_type"))
              .request.model_spec.signature_name) for log in logs]
    assert kinds == [("predict_log", "serving_default"), ("predict_log", "predict_raw"),
                     ("classify_log", "classify"), ("regress_log", "regress")]
    raw = logs[1].predict_log.request.inputs
    assert sorted(raw) == ["k", "x"]
    assert tf.make_ndarray(raw["x"]).shape == (8,)
    rows = fx.eval_rows(8)
    expected_k = [r["k"] if isinstance(r["k"], bytes) else r["k"].encode() for r in rows]
    assert list(tf.make_ndarray(raw["k"])) == expected_k
    # Served requests never carry the label or the example id.
    for example in logs[2].classify_log.request.input.example_list.examples:
        assert sorted(example.features.feature) == ["k", "x"]


def test_corrupt_model_is_not_blessed_and_does_not_raise(good_model_uri, examples_uri, tmp_path):
    model_uri = tmp_path / "corrupt"
    shutil.copytree(good_model_uri, model_uri)
    fx.truncate_saved_model(model_uri)

    blessing = fx.validate(model_uri, examples_uri, tmp_path / "blessing")

    assert blessing.get_int_custom_property(artifacts.BLESSED) == 0
    reason = blessing.get_string_custom_property(artifacts.BLESSING_REASON)
    assert reason.startswith("the model did not load:"), reason
    assert (tmp_path / "blessing" / executor.NOT_BLESSED_FILE).exists()
    assert not (tmp_path / "blessing" / executor.BLESSED_FILE).exists()
    assert not (tmp_path / "blessing" / "tf_serving_warmup_requests").exists()


def test_model_without_the_serving_contract_is_not_blessed(examples_uri, tmp_path):
    from tests.pipeline import evaluation_fixtures

    # Loads and serves, but has serving_default only: no predict_raw to probe.
    evaluation_fixtures.save_model(tmp_path / "model" / "Format-Serving", **evaluation_fixtures.GOOD)

    blessing = fx.validate(tmp_path / "model", examples_uri, tmp_path / "blessing")

    assert blessing.get_int_custom_property(artifacts.BLESSED) == 0
    assert "predict_raw" in blessing.get_string_custom_property(artifacts.BLESSING_REASON)


def test_missing_model_folder_is_not_blessed(examples_uri, tmp_path):
    (tmp_path / "empty").mkdir()

    blessing = fx.validate(tmp_path / "empty", examples_uri, tmp_path / "blessing")

    assert blessing.get_int_custom_property(artifacts.BLESSED) == 0
    assert "no SavedModel folder" in blessing.get_string_custom_property(artifacts.BLESSING_REASON)
