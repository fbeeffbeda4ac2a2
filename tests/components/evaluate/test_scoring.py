"""Scoring real SavedModels whose serving signatures misbehave on some rows, then the gate's verdict.

Each model reads `x` from serialized tf.Examples (`tests/pipeline/evaluation_fixtures.py`) and
answers a sigmoid of it, except where it is built to break: NaN or values above 1 on some rows,
two values per row, or an error on any batch holding a row with a large `x`.
"""

import numpy as np
import pytest

from components import evaluation_results
from components.evaluate import gate, scoring
from components.evaluate.gate import GateSettings
from tests.pipeline import evaluation_fixtures as fx

pytestmark = pytest.mark.integration

SETTINGS = GateSettings(label=fx.LABEL, column_kinds={"device_type": "bytes"}, slices=(("device_type",),),
                        min_auc=0.55, key_column="ad_id")
# Rows with x above this are the ones the broken models break on (about 2% of them).
LARGE_X = 2.0


def _save(path, kind: str) -> str:
    import tensorflow as tf

    spec = {"x": tf.io.FixedLenFeature([1], tf.float32), "z": tf.io.FixedLenFeature([1], tf.float32)}

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            parsed = tf.io.parse_example(examples, spec)
            probability = tf.sigmoid(2 * parsed["x"] + 2 * parsed["z"] - 1)
            large = parsed["x"] > LARGE_X
            if kind == "nan":
                probability = tf.where(large, tf.constant(np.nan, tf.float32), probability)
            elif kind == "above_one":
                probability = tf.where(large, 1.5 * tf.ones_like(probability), probability)
            elif kind == "two_per_row":
                probability = tf.concat([probability, 1 - probability], axis=1)
            elif kind == "fails":
                check = tf.debugging.assert_less_equal(parsed["x"], LARGE_X, message="x out of range")
                with tf.control_dependencies([check]):
                    probability = tf.identity(probability)
            return {"click_probability": probability}

    model = Model()
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.serve})
    return str(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("scoring")
    pattern = str(fx.write_examples(root / "eval", rows=3000) / "*")
    rows = fx.impressions(3000)
    large = [i for i, r in enumerate(rows) if r["x"] > LARGE_X]
    models = {kind: _save(root / kind, kind) for kind in ("sound", "nan", "above_one", "two_per_row", "fails")}
    return {"pattern": pattern, "large": large, "first_key": f"ad_id={rows[large[0]]['ad_id']}", **models}


@pytest.mark.parametrize("kind, reason", [
    ("nan", "NaN"), ("above_one", "above 1"), ("fails", gate.SIGNATURE_FAILED),
])
def test_a_candidate_broken_on_some_rows_is_not_blessed_and_the_rows_are_named(world, kind, reason):
    evaluation = scoring.evaluate(world["pattern"], world[kind], None, SETTINGS)

    assert not evaluation.validation_ok
    bad = evaluation.bad_rows[evaluation_results.CANDIDATE]
    assert (bad.count, bad.example_key, bad.reasons) == (len(world["large"]), world["first_key"],
                                                         {reason: len(world["large"])})
    assert evaluation.failures[0].metric == evaluation_results.BAD_PREDICTIONS
    assert world["first_key"] in str(evaluation.failures[0])


def test_a_candidate_answering_two_values_per_row_is_not_blessed(world):
    evaluation = scoring.evaluate(world["pattern"], world["two_per_row"], None, SETTINGS)

    bad = evaluation.bad_rows[evaluation_results.CANDIDATE]
    assert (bad.count, bad.reasons) == (3000, {gate.WRONG_SHAPE: 3000})
    assert not evaluation.validation_ok


def test_a_sound_candidate_is_blessed(world):
    evaluation = scoring.evaluate(world["pattern"], world["sound"], None, SETTINGS)

    assert evaluation.validation_ok and evaluation.bad_rows == {}


@pytest.mark.parametrize("kind", ["nan", "two_per_row", "fails"])
def test_a_broken_production_model_does_not_block_a_sound_candidate(world, kind):
    evaluation = scoring.evaluate(world["pattern"], world["sound"], world[kind], SETTINGS)

    assert evaluation.validation_ok, [str(f) for f in evaluation.failures]
    assert not evaluation.has_baseline and evaluation_results.BASELINE in evaluation.bad_rows
    assert "the model in production gave" in evaluation_results.headline(evaluation)
