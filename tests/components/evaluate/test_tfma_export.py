"""The gate's evaluation, read back with TFMA 0.47's own loaders from the files `tfma_export` writes."""

import numpy as np
import pytest
import tensorflow_model_analysis as tfma

from components.evaluate import gate, tfma_export
from components.evaluate.gate import GateSettings, Scored
from components.evaluation_results import (
    AUC,
    BASELINE,
    CANDIDATE,
    EXAMPLE_COUNT,
    LOG_LOSS,
    OVERALL,
    AlreadyPushed,
    Evaluation,
)

pytestmark = pytest.mark.integration

SETTINGS = GateSettings(
    label="clicked",
    column_kinds={"device_type": "bytes", "ad_category": "bytes", "slot_position": "int"},
    slices=(("device_type",), ("ad_category",), ("device_type", "slot_position")),
    min_clicks=5,
)
TRAVEL = "ad_category=travel"
TRAVEL_KEY = (("ad_category", "travel"),)


def scored_rows(broken_travel: bool, with_baseline: bool = True, rows: int = 6000) -> Scored:
    """A candidate better than production, or broken on travel ads, scored on the same rows."""
    rng = np.random.default_rng(0)
    logit = rng.normal(scale=1.2, size=rows) - 3.3
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    columns = {
        "device_type": np.array(["mobile", "desktop", "tablet"])[rng.integers(3, size=rows)],
        "ad_category": np.array(["travel", "games", "food", "auto", "home", "sports", "health", "finance"])[
            rng.integers(8, size=rows)],
        "slot_position": rng.integers(1, 4, size=rows).astype(str),
    }

    def model(noise, broken=None):
        guess = logit + rng.normal(scale=noise, size=rows)
        if broken is not None:
            guess = np.where(broken, rng.normal(scale=1.2, size=rows) - 3.3, guess)
        return 1 / (1 + np.exp(-guess))

    predictions = {CANDIDATE: model(0.3, columns["ad_category"] == "travel" if broken_travel else None)}
    if with_baseline:
        predictions[BASELINE] = model(0.7)
    return Scored(labels, predictions, columns)


def judged(broken_travel: bool, with_baseline: bool = True, rows: int = 6000) -> Evaluation:
    """The gate's evaluation of `scored_rows`."""
    return gate.judge(scored_rows(broken_travel, with_baseline, rows), SETTINGS)


@pytest.fixture(scope="module")
def blocked():
    evaluation = judged(broken_travel=True)
    assert not evaluation.validation_ok and {f.slice for f in evaluation.failures} == {TRAVEL}
    return evaluation


@pytest.fixture(scope="module")
def blocked_scored():
    return scored_rows(broken_travel=True)


def by_key(result) -> dict:
    """Slice key -> metric name -> value (a bounded value as (value, lower, upper))."""
    found = {}
    for key, outputs in result.slicing_metrics:
        values = {}
        for name, value in outputs[""][""].items():
            bounded = value.get("boundedValue")
            values[name] = (bounded["value"], bounded["lowerBound"], bounded["upperBound"]) if bounded else (
                value["doubleValue"])
        found[key] = values
    return found


def test_load_eval_result_gives_each_models_metrics_and_the_candidates_change_per_slice(tmp_path, blocked):
    tfma_export.write(str(tmp_path), blocked, SETTINGS)

    candidate = by_key(tfma.load_eval_result(str(tmp_path)))
    baseline = by_key(tfma.load_eval_result(str(tmp_path), model_name=BASELINE))

    assert set(candidate) == set(baseline) and len(candidate) == len(blocked.slices) == 1 + 3 + 8 + 9
    for name, key in ((OVERALL, ()), (TRAVEL, TRAVEL_KEY)):
        ours = blocked.slice(name)
        assert candidate[key][AUC][0] == pytest.approx(ours.metrics[CANDIDATE][AUC], abs=1e-9)
        single = ours.single_intervals
        assert candidate[key][AUC][1:] == pytest.approx((single[AUC].low, single[AUC].high), abs=1e-9)
        assert baseline[key][AUC] == pytest.approx(ours.metrics[BASELINE][AUC], abs=1e-9)
        assert baseline[key][LOG_LOSS] == pytest.approx(ours.metrics[BASELINE][LOG_LOSS], abs=1e-9)
        assert candidate[key][EXAMPLE_COUNT] == baseline[key][EXAMPLE_COUNT] == ours.examples
        for metric in (AUC, LOG_LOSS):
            value, low, high = candidate[key][f"{metric}_diff"]
            assert value == pytest.approx(ours.metrics[CANDIDATE][metric] - ours.metrics[BASELINE][metric], abs=1e-9)
            assert (low, high) == pytest.approx((single[f"{metric}_diff"].low, single[f"{metric}_diff"].high))
        # Single 95% intervals, narrower than the gate's simultaneous ones.
        assert ours.auc_change.low < candidate[key][f"{AUC}_diff"][1]
        assert candidate[key][f"{EXAMPLE_COUNT}_diff"] == 0
        assert not any(name.endswith("_diff") for name in baseline[key])
    assert candidate[()][tfma_export.INTERVAL_LEVEL] == 0.95
    # Two columns, typed as the examples store them.
    two = blocked.slice("device_type=mobile, slot_position=2")
    assert candidate[(("device_type", "mobile"), ("slot_position", 2))][EXAMPLE_COUNT] == two.examples
    config = tfma.load_eval_result(str(tmp_path)).config
    assert [(m.name, m.is_baseline, m.label_key) for m in config.model_specs] == [
        (CANDIDATE, False, "clicked"), (BASELINE, True, "clicked")]
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], *map(list, SETTINGS.slices)]


def test_the_eval_config_says_what_to_run_and_the_gates_limits(tmp_path, blocked):
    tfma_export.write(str(tmp_path), blocked, SETTINGS, model_locations={CANDIDATE: "/m/c", BASELINE: "/m/b"},
                      data_location="/data/Split-eval/*")

    result = tfma.load_eval_result(str(tmp_path), model_name=CANDIDATE)

    assert result.model_location == "/m/c" and result.data_location == "/data/Split-eval/*"
    assert tfma.load_eval_result(str(tmp_path), model_name=BASELINE).model_location == "/m/b"
    config = result.config
    metrics = {m.class_name: m for m in config.metrics_specs[0].metrics}
    assert set(metrics) == {*tfma_export.TFMA_METRICS, *tfma_export.TFMA_PLOTS}
    auc = metrics["AUC"].threshold
    assert auc.value_threshold.lower_bound.value == pytest.approx(SETTINGS.min_auc)
    assert auc.change_threshold.absolute.value == pytest.approx(-SETTINGS.max_auc_drop)
    assert auc.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    loss = metrics["BinaryCrossEntropy"].threshold.change_threshold
    assert (loss.absolute.value, loss.direction) == (pytest.approx(0.01), tfma.MetricDirection.LOWER_IS_BETTER)
    # Every slicing is guarded by default: each carries the same limits.
    assert [list(t.slicing_specs[0].feature_keys) for t in metrics["AUC"].per_slice_thresholds] == [
        list(c) for c in SETTINGS.slices]


def test_plots_render_with_tfmas_own_viewer(tmp_path, blocked, blocked_scored):
    tfma_export.write(str(tmp_path), blocked, SETTINGS, scored=blocked_scored)

    # As with stock TFMA's files of two models, the viewer is told which model's plots to load.
    result = tfma.load_eval_result(str(tmp_path), model_name=CANDIDATE)
    baseline = tfma.load_eval_result(str(tmp_path), model_name=BASELINE)

    assert len(result.plots) == len(blocked.slices)
    overall = dict(result.plots)[()][""][""]
    matrices = overall["confusionMatrixAtThresholds"]["matrices"]
    assert len(matrices) == 1 + 1001
    # At threshold ~0 every row is predicted a click: all clicks are true positives.
    assert matrices[0]["truePositives"] == blocked.slice(OVERALL).clicks
    buckets = overall["calibrationHistogramBuckets"]["buckets"]
    assert sum(b.get("numWeightedExamples", 0) for b in buckets) == pytest.approx(6000)
    assert sum(b.get("totalWeightedLabel", 0) for b in buckets) == blocked.slice(OVERALL).clicks
    assert dict(baseline.plots)[()] != dict(result.plots)[()]
    tfma.view.render_plot(result, tfma.SlicingSpec())
    tfma.view.render_plot(result, tfma.SlicingSpec(feature_values={"ad_category": "travel"}))


def test_a_slice_value_holding_another_columns_name_is_exported(tmp_path):
    data = scored_rows(broken_travel=False)
    odd = "mobile, slot_position=1"
    data.columns["device_type"] = np.where(data.columns["device_type"] == "mobile", odd, data.columns["device_type"])
    evaluation = gate.judge(data, SETTINGS)

    tfma_export.write(str(tmp_path), evaluation, SETTINGS, scored=data)

    keys = set(by_key(tfma.load_eval_result(str(tmp_path))))
    assert (("device_type", odd), ("slot_position", 1)) in keys and (("device_type", odd),) in keys
    assert tfma.load_validation_result(str(tmp_path)).validation_ok


def test_load_validation_result_names_the_failing_slice_of_a_blocked_candidate(tmp_path, blocked):
    tfma_export.write(str(tmp_path), blocked, SETTINGS)

    result = tfma.load_validation_result(str(tmp_path))

    assert result.validation_ok is False and not result.rubber_stamp
    [per_slice] = result.metric_validations_per_slice
    assert tfma.slicer.deserialize_slice_key(per_slice.slice_key) == TRAVEL_KEY
    failure = next(f for f in per_slice.failures if f.metric_key.name == AUC)
    assert failure.metric_key.model_name == CANDIDATE and failure.metric_key.is_diff
    assert failure.metric_threshold.change_threshold.absolute.value == pytest.approx(-SETTINGS.max_auc_drop)
    assert failure.metric_value.double_value.value == pytest.approx(blocked.slice(TRAVEL).auc_change.estimate)
    assert failure.message.startswith("auc on ad_category=travel: ")
    assert f"{blocked.interval_level:.4%} each, 95% together over the {blocked.comparisons} checks" in failure.message
    assert len([f for s in result.metric_validations_per_slice for f in s.failures]) == len(blocked.failures)
    details = {tuple(d.slicing_spec.feature_keys): d.num_matching_slices
               for d in result.validation_details.slicing_details}
    assert details == {(): 1, ("device_type",): 3, ("ad_category",): 8, ("device_type", "slot_position"): 9}


def test_a_blessed_candidate_validates_and_a_first_run_is_tfmas_rubber_stamp(tmp_path):
    blessed, first = judged(broken_travel=False), judged(broken_travel=False, with_baseline=False)
    assert blessed.validation_ok and first.validation_ok
    tfma_export.write(str(tmp_path / "blessed"), blessed, SETTINGS)
    tfma_export.write(str(tmp_path / "first"), first, SETTINGS)

    result = tfma.load_validation_result(str(tmp_path / "blessed"))
    assert result.validation_ok and not result.metric_validations_per_slice and not result.rubber_stamp
    assert tfma.load_validation_result(str(tmp_path / "first")).rubber_stamp
    # Without a baseline the candidate is the only model, so no model name is needed.
    overall = by_key(tfma.load_eval_result(str(tmp_path / "first")))[()]
    assert overall[AUC][0] == pytest.approx(first.value(OVERALL, CANDIDATE, AUC), abs=1e-9)
    assert not any(name.endswith("_diff") for name in overall)


@pytest.mark.parametrize("version, blessed", [(7, True), (5, False)])
def test_an_already_pushed_candidate_leaves_only_the_verdict(tmp_path, version, blessed):
    evaluation = Evaluation(has_baseline=True, validated=False, validation_ok=blessed,
                            already_pushed=AlreadyPushed(version, production_version=7))

    paths = tfma_export.write(str(tmp_path), evaluation, SETTINGS)

    assert [p.rsplit("/", 1)[1] for p in paths] == [tfma_export.VALIDATIONS_FILE]
    result = tfma.load_validation_result(str(tmp_path))
    assert result.validation_ok is blessed
    messages = [f.message for s in result.metric_validations_per_slice for f in s.failures]
    assert messages == ([] if blessed else ["already pushed as version 5; production serves version 7"])
    assert tfma.load_eval_result(str(tmp_path)).slicing_metrics == []
