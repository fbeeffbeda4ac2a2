"""Signatures run as session calls give what the eager signature functions give; closing frees."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import tensorflow as tf

from serving.batching import Batcher
from serving.servable import Servable
from serving.server_config import BatchingOptions
from tests.serving import models


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory):
    return models.build_version(tmp_path_factory.mktemp("servable") / "1", 1)


@pytest.mark.parametrize(
    "signature, inputs",
    [
        ("serving_default", {"examples": [models.example(0.5, "ab"), models.example(-2.0, "")]}),
        ("predict_raw", {"x": np.array([0.5, 3.0], np.float32), "k": [b"ab", b"xyz"]}),
        ("classify", {"inputs": [models.example(1.0, "k")]}),
        ("regress", {"inputs": [models.example(1.0, "k")]}),
        ("echo", {"image_bytes": [b"\x89PNG", b""], "x": np.array([1.5, -1.0], np.float32)}),
    ],
)
def test_session_calls_match_the_eager_signatures(version_dir, signature, inputs):
    servable = Servable.load("m", 1, str(version_dir))
    arrays = {key: np.asarray(value, object if isinstance(value, list) else None) for key, value in inputs.items()}
    got = servable.run_unbatched(signature, arrays)
    eager = tf.saved_model.load(str(version_dir)).signatures[signature]
    want = {key: value.numpy() for key, value in eager(**{k: tf.constant(v) for k, v in inputs.items()}).items()}
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype and got[key].tolist() == value.tolist()


def test_outputs_may_repeat_a_tensor_or_return_an_input(tmp_path):
    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None], name="x")
        doubled = x * 2.0
        signature = tf1.saved_model.predict_signature_def({"x": x}, {"a": doubled, "b": doubled, "x_again": x})
        builder = tf1.saved_model.Builder(str(tmp_path / "1"))
        with tf1.Session(graph=graph) as session:
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"serving_default": signature})
        builder.save()
    servable = Servable.load("m", 1, str(tmp_path / "1"))
    outputs = servable.run_unbatched("serving_default", {"x": np.array([1.0, 2.5], np.float32)})
    assert {key: value.tolist() for key, value in outputs.items()} == {
        "a": [2.0, 5.0],
        "b": [2.0, 5.0],
        "x_again": [1.0, 2.5],
    }


@pytest.mark.parametrize("batching", [False, True], ids=["unbatched", "batched"])
def test_a_closed_servable_is_freed_without_a_garbage_collection(version_dir, batching):
    # Only reference counting frees anything here: a cycle would keep the session alive.
    gc.disable()
    try:
        servable = Servable.load("m", 1, str(version_dir))
        if batching:
            servable.set_runner(Batcher(servable.run_unbatched, BatchingOptions(num_batch_threads=1)))
        inputs = {"x": np.array([0.5], np.float32), "k": np.array([b"ab"], object)}
        servable.predict("predict_raw", inputs)
        servable.close()
        freed = weakref.ref(servable)
        del servable
        assert freed() is None
    finally:
        gc.enable()
