"""The gate on real SavedModels: small synthetic impressions and tiny Keras models.

Each test evaluates two models with `pipeline.models.make_report` (both scored on the same
rows through their serving signature, then `components.evaluate.gate`) and reads the verdict
back with `pipeline.blessing`, as the run summary does.
"""

import math

import pytest

from components import evaluation_results
from pipeline import blessing, models
from pipeline.config import load_config
from tests.pipeline import evaluation_fixtures as fx

pytestmark = pytest.mark.integration

SLICES = [["device_type"], ["device_type", "slot_position"]]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    return {
        "data": models.EvalData(str(fx.write_examples(root / "examples", rows=3000) / "*"), span="2026-10"),
        "good": str(fx.save_model(root / "good", **fx.GOOD)),
        "broken": str(fx.save_model(root / "broken", **fx.BROKEN_FEATURE)),
        "wrong_on_mobile": str(fx.save_model(root / "wrong_on_mobile", **fx.WRONG_ON_MOBILE)),
        # The same 4,000 training rows, two seeds: equally good, not identical.
        "seed_1": str(fx.train_model(root / "seed_1", rows=4000, seed=1)),
        "seed_2": str(fx.train_model(root / "seed_2", rows=4000, seed=2)),
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
    assert auc.change.high < -0.002
    assert auc.threshold == "not significantly more than 0.0020 below production"
    assert str(auc).startswith(f"auc on overall: {auc.value:.4f} vs production {auc.baseline:.4f} (")


def test_better_candidate_is_blessed(world, tmp_path):
    evaluation = evaluate(world, tmp_path, gate_config(), "good", "broken")

    assert blessing.explain(evaluation) == []
    assert blessing.headline(evaluation) == "blessed against the model in production"


def test_models_of_equal_quality_from_different_seeds_are_not_blocked_by_noise(world, tmp_path):
    evaluation = evaluate(world, tmp_path, gate_config(), "seed_1", "seed_2")

    loaded = evaluation_results.load(evaluation)
    assert loaded.slice("overall").auc_change.estimate != 0  # different models...
    assert blessing.explain(evaluation) == []  # ...that noise does not tell apart


def test_a_model_better_overall_but_worse_on_one_slice_is_blocked_on_that_slice(world, tmp_path):
    evaluation = evaluate(world, tmp_path, gate_config(), "wrong_on_mobile", "broken")

    failures = blessing.explain(evaluation)

    assert {f.slice for f in failures} == {"device_type=mobile"} | {
        f"device_type=mobile, slot_position={slot}" for slot in fx.SLOTS
    }
    loaded = evaluation_results.load(evaluation)
    assert loaded.slice("overall").auc_change.low > 0
    assert loaded.regressions_first()[0].name.startswith("device_type=mobile")


def test_slices_do_not_block_when_not_guarded(world, tmp_path):
    evaluation = evaluate(world, tmp_path, gate_config(guard_slices=False), "wrong_on_mobile", "broken")

    assert blessing.explain(evaluation) == []


def test_first_run_uses_the_floor_only(world, tmp_path):
    evaluation = evaluate(world, tmp_path, gate_config(min_auc=0.8, check_calibration=False), "broken", None)

    failures = blessing.explain(evaluation)

    assert "absolute thresholds only" in blessing.headline(evaluation)
    assert len(failures) == 1
    assert (failures[0].metric, failures[0].slice, failures[0].threshold) == (
        "auc", "overall", "not significantly below 0.8000")
    assert failures[0].baseline is None
    assert not math.isnan(failures[0].value)


def test_an_eval_split_too_small_to_judge_is_not_blessed(world, tmp_path):
    # About 30% of these rows are clicks: 6 of 20, below the 10 a judgement needs.
    few = models.EvalData(str(fx.write_examples(tmp_path / "few", rows=20) / "*"))
    models.make_report(gate_config(), world["good"], None, few, str(tmp_path / "out"))

    [failure] = blessing.explain(str(tmp_path / "out" / "evaluation"))

    assert "NOT blessed" in blessing.headline(str(tmp_path / "out" / "evaluation"))
    assert failure.metric == "example_count" and "evaluation.min_clicks" in failure.threshold


def test_a_baseline_that_cannot_be_loaded_is_named(world, tmp_path):
    with pytest.raises(models.ModelsError, match=f"the baseline {tmp_path}.*cannot be loaded"):
        models.make_report(gate_config(), world["good"], str(tmp_path), world["data"], str(tmp_path / "out"))
