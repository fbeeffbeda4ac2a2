"""The gate with real TFMA runs on small synthetic impressions and tiny Keras models.

Each test evaluates two hand-weighted models with `pipeline.models.make_report` (TFMA's
`run_model_analysis` with the gate's eval config) and reads the verdict back with
`pipeline.blessing`, exactly as the run summary does.
"""

import math

import pytest

from pipeline import blessing, models
from pipeline.config import load_config
from tests.pipeline import evaluation_fixtures as fx

pytestmark = pytest.mark.integration

SLICES = [["device_type"], ["device_type", "slot_position"]]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    return {
        "data": models.EvalData(str(fx.write_examples(root / "examples") / "*"), span="2026-10"),
        "good": str(fx.save_model(root / "good", **fx.GOOD)),
        "broken": str(fx.save_model(root / "broken", **fx.BROKEN_FEATURE)),
        "wrong_on_mobile": str(fx.save_model(root / "wrong_on_mobile", **fx.WRONG_ON_MOBILE)),
    }


def gate_config(**evaluation):
    return load_config().with_overrides(dataset={"slices": SLICES}, evaluation=evaluation)


def evaluate(world, tmp_path, config, candidate, baseline):
    models.make_report(config, world[candidate], world[baseline] if baseline else None, world["data"], str(tmp_path))
    return str(tmp_path / "evaluation")


def test_worse_candidate_is_not_blessed_and_the_explanation_names_the_metric(world, tmp_path):
    evaluation = evaluate(world, tmp_path, gate_config(), "broken", "good")

    failures = blessing.explain(evaluation)

    assert "NOT blessed against the model in production" in blessing.headline(evaluation)
    by_metric = {f.metric: f for f in failures if f.slice == "overall"}
    assert set(by_metric) == {"auc", "binary_crossentropy"}
    auc = by_metric["auc"]
    assert auc.baseline is not None and auc.value < auc.baseline - 0.002
    assert auc.threshold == "at most 0.0020 below production"
    assert str(auc).startswith(f"auc on overall: {auc.value:.4f} vs production {auc.baseline:.4f}")


def test_better_candidate_is_blessed(world, tmp_path):
    evaluation = evaluate(world, tmp_path, gate_config(), "good", "broken")

    assert blessing.explain(evaluation) == []
    assert blessing.headline(evaluation) == "blessed against the model in production"


def test_per_slice_threshold_blocks_a_model_better_overall(world, tmp_path):
    plain = evaluate(world, tmp_path / "plain", gate_config(), "wrong_on_mobile", "broken")
    sliced = evaluate(
        world,
        tmp_path / "sliced",
        gate_config(slice_thresholds=[{"slice": ["device_type"], "max_auc_drop": 0.002}]),
        "wrong_on_mobile",
        "broken",
    )

    # Better overall, so blessed without the per-slice threshold...
    assert blessing.explain(plain) == []
    # ...and blocked by it, on mobile only.
    failures = blessing.explain(sliced)
    assert [(f.metric, f.slice) for f in failures] == [("auc", "device_type=mobile")]
    assert failures[0].value < failures[0].baseline - 0.002
    overall = models_overall_auc(sliced)
    assert overall["candidate"] > overall["baseline"]


def models_overall_auc(evaluation_uri):
    from components.evaluate import results

    loaded = results.load(evaluation_uri)
    return {model: values["auc"] for model, values in loaded.metrics["overall"].items()}


def test_first_run_uses_absolute_thresholds_only(world, tmp_path):
    evaluation = evaluate(world, tmp_path, gate_config(min_auc=0.8), "broken", None)

    failures = blessing.explain(evaluation)

    assert "absolute thresholds only" in blessing.headline(evaluation)
    assert len(failures) == 1
    assert (failures[0].metric, failures[0].slice, failures[0].threshold) == ("auc", "overall", ">= 0.8000")
    assert failures[0].baseline is None
    assert not math.isnan(failures[0].value)
