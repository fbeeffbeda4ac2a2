"""The exported SavedModel: the serving signatures other areas build against."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from trainer import local
from trainer.export import (
    CLASSIFY_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    set_signature_methods,
)
from trainer.features import Kind


@pytest.fixture(scope="module")
def loaded(exported_dir):
    return tf.saved_model.load(exported_dir)


@pytest.fixture(scope="module")
def examples(rows, registry):
    return tf.constant([local.to_example(row, registry, with_label=False).SerializeToString() for row in rows])


def _raw_json_style(rows, registry):
    """What a REST client sends to predict_raw: plain values, the creative as bytes."""
    return {
        feature.name: tf.constant(
            [row[feature.name] for row in rows], tf.float32 if feature.kind is Kind.NUMERIC else tf.string
        )
        for feature in registry.features
    }


def _method_names(saved_model_dir):
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    return {key: sig.method_name for key, sig in proto.meta_graphs[0].signature_def.items() if not key.startswith("__")}


def test_signatures_have_the_contracted_inputs_and_outputs(loaded, registry):
    signatures = loaded.signatures
    assert set(signatures) == {"serving_default", "predict_raw", "classify", "regress"}

    def inputs(key):
        return {
            name: (spec.dtype, spec.shape.as_list())
            for name, spec in signatures[key].structured_input_signature[1].items()
        }

    def outputs(key):
        return {name: (spec.dtype, spec.shape.as_list()) for name, spec in signatures[key].structured_outputs.items()}

    assert inputs("serving_default") == {"examples": (tf.string, [None])}
    assert outputs("serving_default") == {"click_probability": (tf.float32, [None, 1])}
    assert inputs("predict_raw") == {
        f.name: (tf.float32 if f.kind is Kind.NUMERIC else tf.string, [None]) for f in registry.features
    }
    assert outputs("predict_raw") == {"click_probability": (tf.float32, [None, 1])}
    assert inputs("classify") == {"inputs": (tf.string, [None])}
    assert outputs("classify") == {"classes": (tf.string, [None, 2]), "scores": (tf.float32, [None, 2])}
    assert inputs("regress") == {"inputs": (tf.string, [None])}
    assert outputs("regress") == {"outputs": (tf.float32, [None])}


def test_method_names_let_tf_serving_classify_and_regress(exported_dir):
    assert _method_names(exported_dir) == {
        "serving_default": PREDICT_METHOD,
        "predict_raw": PREDICT_METHOD,
        "classify": CLASSIFY_METHOD,
        "regress": REGRESS_METHOD,
    }


def test_raw_json_prediction_equals_the_tf_example_prediction(loaded, rows, registry, examples):
    from_examples = loaded.signatures["serving_default"](examples=examples)["click_probability"]
    from_raw = loaded.signatures["predict_raw"](**_raw_json_style(rows, registry))
    np.testing.assert_allclose(from_raw["click_probability"].numpy(), from_examples.numpy(), rtol=1e-6)
    assert from_examples.shape == (3, 1)


def test_exported_model_predicts_what_the_trained_model_does(
    loaded, examples, trained_model, transformed, tf_transform_output, registry
):
    from trainer.train import make_dataset, predict_with_labels

    dataset = make_dataset(transformed.eval_files, tf_transform_output, registry, 3, shuffle=False)
    in_training, _ = predict_with_labels(trained_model, dataset)
    served = loaded.signatures["serving_default"](examples=examples)["click_probability"]
    np.testing.assert_allclose(served.numpy().reshape(-1), in_training, rtol=1e-5)


def test_classify_and_regress_agree_with_the_probability(loaded, examples):
    probability = loaded.signatures["serving_default"](examples=examples)["click_probability"]
    classified = loaded.signatures["classify"](inputs=examples)
    assert classified["classes"].numpy().tolist() == [[b"0", b"1"]] * 3
    scores = classified["scores"].numpy()
    np.testing.assert_allclose(scores[:, 1:], probability.numpy(), rtol=1e-6)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-6)
    regressed = loaded.signatures["regress"](inputs=examples)["outputs"].numpy()
    np.testing.assert_allclose(regressed, probability.numpy().reshape(-1), rtol=1e-6)


def test_an_example_missing_a_feature_is_refused(loaded, rows, registry):
    row = {**rows[0]}
    example = local.to_example(row, registry, with_label=False)
    del example.features.feature["ad_title"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="ad_title"):
        loaded.signatures["serving_default"](examples=tf.constant([example.SerializeToString()]))


def test_set_signature_methods_rewrites_only_the_named_signatures(exported_dir, tmp_path):
    copy = str(tmp_path / "model")
    shutil.copytree(exported_dir, copy)
    set_signature_methods(copy, {"predict_raw": REGRESS_METHOD})
    names = _method_names(copy)
    assert names["predict_raw"] == REGRESS_METHOD
    assert names["serving_default"] == PREDICT_METHOD
    assert not os.path.exists(os.path.join(copy, "saved_model.pb.tmp"))


def test_set_signature_methods_names_a_missing_signature(exported_dir, tmp_path):
    copy = str(tmp_path / "model")
    shutil.copytree(exported_dir, copy)
    with pytest.raises(KeyError, match="score"):
        set_signature_methods(copy, {"score": CLASSIFY_METHOD})


def test_a_title_without_words_still_gets_a_probability(loaded, rows, registry):
    row = {**rows[1], "ad_title": "!!"}
    raw = _raw_json_style([row], registry)
    probability = loaded.signatures["predict_raw"](**raw)["click_probability"].numpy()
    assert np.isfinite(probability).all() and 0 < probability[0, 0] < 1


def test_a_batch_repeating_creatives_scores_each_row_as_it_scores_alone(loaded, examples):
    # Each distinct creative of a batch is decoded once, then gathered back to its rows.
    repeated = tf.gather(examples, [0, 1, 0, 2, 1, 0])

    batch = loaded.signatures["serving_default"](examples=repeated)["click_probability"].numpy()
    alone = [
        loaded.signatures["serving_default"](examples=repeated[i : i + 1])["click_probability"].numpy()
        for i in range(6)
    ]

    np.testing.assert_allclose(batch.reshape(-1), np.concatenate(alone).reshape(-1), rtol=1e-6)
