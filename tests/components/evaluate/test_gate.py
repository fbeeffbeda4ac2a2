"""The gate's rule on simulated predictions whose quality is known by construction."""

import numpy as np
import pytest

from components import evaluation_results
from components.evaluate import gate
from components.evaluate.gate import GateSettings, Scored, SliceRule

DEVICES = np.array(["mobile", "desktop", "tablet"])
CATEGORIES = np.array(["travel", "games", "food", "auto", "home", "sports", "health", "finance"])


def world(rows=40_000, seed=0):
    """Rows with a true click logit, a device and a category."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(scale=1.2, size=rows) - 3.3
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    columns = {"device_type": DEVICES[rng.integers(3, size=rows)],
               "ad_category": CATEGORIES[rng.integers(CATEGORIES.size, size=rows)]}
    return logit, labels, columns


def model(logit, noise, seed, broken=None):
    """A model that knows the truth up to noise, like a trained one; `broken` rows get noise only."""
    rng = np.random.default_rng(seed)
    guess = logit + rng.normal(scale=noise, size=logit.size)
    if broken is not None:
        guess = np.where(broken, rng.normal(scale=1.2, size=logit.size) - 3.3, guess)
    return 1 / (1 + np.exp(-guess))


SETTINGS = GateSettings(label="clicked", slices=(("device_type",), ("ad_category",)))


def scored(candidate, baseline, labels, columns, new=None):
    predictions = {evaluation_results.CANDIDATE: candidate}
    if baseline is not None:
        predictions[evaluation_results.BASELINE] = baseline
    return Scored(labels=labels, predictions=predictions, columns=columns, new=new)


def test_a_candidate_worse_on_one_slice_is_blocked_with_that_slice_named():
    logit, labels, columns = world()
    travel = columns["ad_category"] == "travel"
    # Better than production everywhere else, so only the slice can tell.
    candidate = model(logit, 0.3, seed=1, broken=travel)
    baseline = model(logit, 0.7, seed=2)

    evaluation = gate.judge(scored(candidate, baseline, labels, columns), SETTINGS)

    assert not evaluation.validation_ok
    assert {f.slice for f in evaluation.failures} == {"ad_category=travel"}
    failure = next(f for f in evaluation.failures if f.metric == "auc")
    assert failure.change.high < -SETTINGS.max_auc_drop
    assert str(failure).startswith("auc on ad_category=travel: ")
    assert evaluation.regressions_first()[0].name == "ad_category=travel"


def _blocked_one_by_one(evaluation, settings) -> bool:
    """Whether any comparison's own 95% interval (no simultaneous adjustment) would block."""
    z_used = gate.statistics.simultaneous_z(settings.confidence, evaluation.comparisons)
    z_each = gate.statistics.simultaneous_z(settings.confidence, 1)
    for item in evaluation.slices:
        if item.auc_change is None:
            continue
        auc_se = (item.auc_change.high - item.auc_change.estimate) / z_used
        loss_se = (item.log_loss_change.high - item.log_loss_change.estimate) / z_used
        if item.auc_change.estimate + z_each * auc_se < -settings.max_auc_drop:
            return True
        if item.log_loss_change.estimate - z_each * loss_se > settings.max_log_loss_increase:
            return True
    return False


def test_equally_good_models_are_not_blocked_by_noise():
    # Like two trainings on the same data with different seeds: same quality, different errors.
    pairs, blocked, blocked_one_by_one = 200, 0, 0
    for seed in range(pairs):
        logit, labels, columns = world(rows=8_000, seed=100 + seed)
        evaluation = gate.judge(
            scored(model(logit, 0.6, seed=2 * seed), model(logit, 0.6, seed=2 * seed + 1), labels, columns),
            SETTINGS,
        )
        blocked += not evaluation.validation_ok
        blocked_one_by_one += _blocked_one_by_one(evaluation, SETTINGS)
    # Simultaneous 95% intervals block at most 2.5% of equal pairs in expectation (one-sided).
    assert blocked <= 0.04 * pairs
    # Judged comparison by comparison, noise over 24 comparisons would block far more of them.
    assert blocked_one_by_one >= 4 * max(blocked, 1)


def test_a_clearly_better_model_is_blessed():
    logit, labels, columns = world()

    evaluation = gate.judge(scored(model(logit, 0.3, seed=1), model(logit, 1.2, seed=2), labels, columns), SETTINGS)

    assert evaluation.validation_ok, [str(f) for f in evaluation.failures]
    overall = evaluation.slice(evaluation_results.OVERALL)
    assert overall.auc_change.low > 0
    assert overall.log_loss_change.high < 0


def test_a_clearly_worse_model_fails_overall_on_auc_and_log_loss():
    logit, labels, columns = world()

    evaluation = gate.judge(scored(model(logit, 1.5, seed=1), model(logit, 0.3, seed=2), labels, columns), SETTINGS)

    assert {(f.metric, f.slice) for f in evaluation.failures} >= {
        ("auc", "overall"),
        ("binary_crossentropy", "overall"),
    }


def test_an_eval_split_too_small_to_judge_is_not_blessed():
    logit, labels, columns = world(rows=200, seed=3)
    labels = np.zeros_like(labels)
    labels[:4] = 1

    evaluation = gate.judge(scored(model(logit, 0.3, seed=1), None, labels, columns), SETTINGS)

    assert not evaluation.validation_ok
    [failure] = evaluation.failures
    assert "4 clicks" in failure.threshold and "evaluation.min_clicks" in failure.threshold


def test_small_slices_are_reported_as_too_small_to_judge_not_failed():
    logit, labels, columns = world(rows=6_000, seed=4)
    columns["device_type"] = np.where(np.arange(labels.size) < 40, "smart_tv", columns["device_type"])
    candidate = model(logit, 0.5, seed=1)
    # The production model is perfect on the tiny slice and the candidate useless there.
    baseline = np.where(columns["device_type"] == "smart_tv", labels * 0.98 + 0.01, model(logit, 0.5, seed=2))

    evaluation = gate.judge(scored(candidate, baseline, labels, columns), SETTINGS)

    tiny = evaluation.slice("device_type=smart_tv")
    assert not tiny.judged and tiny.auc_change is None
    assert evaluation.validation_ok
    assert evaluation.regressions_first()[-1].name == "device_type=smart_tv"


def test_first_run_checks_the_floor_only():
    logit, labels, columns = world()
    weak = model(logit, 4.0, seed=1)

    evaluation = gate.judge(scored(weak, None, labels, columns),
                            GateSettings(label="clicked", min_auc=0.8, check_calibration=False))

    assert not evaluation.has_baseline
    [failure] = evaluation.failures
    assert (failure.metric, failure.slice, failure.threshold, failure.baseline) == (
        "auc", "overall", "not significantly below 0.8000", None)
    assert failure.interval.low < failure.value < failure.interval.high < 0.8
    assert evaluation.comparisons == 1


def test_a_slice_floor_applies_to_each_value():
    logit, labels, columns = world()
    travel = columns["ad_category"] == "travel"
    settings = GateSettings(label="clicked", slices=SETTINGS.slices,
                            slice_rules=(SliceRule(("ad_category",), min_auc=0.7),))

    evaluation = gate.judge(scored(model(logit, 0.5, seed=1, broken=travel), None, labels, columns), settings)

    assert [(f.slice, f.threshold) for f in evaluation.failures] == [
        ("ad_category=travel", "not significantly below 0.7000")]


def test_unguarded_slices_are_reported_but_do_not_block():
    logit, labels, columns = world()
    travel = columns["ad_category"] == "travel"
    settings = GateSettings(label="clicked", slices=SETTINGS.slices, guard_slices=False)

    # Better than production elsewhere by enough that overall it is not worse.
    evaluation = gate.judge(
        scored(model(logit, 0.2, seed=1, broken=travel), model(logit, 1.0, seed=2), labels, columns), settings
    )

    travel_result = evaluation.slice("ad_category=travel")
    assert travel_result.auc_change.high < 0 and not travel_result.guarded
    assert evaluation.validation_ok, [str(f) for f in evaluation.failures]


def test_new_values_form_their_own_slice():
    logit, labels, columns = world()
    ads = np.array([f"ad-{i % 500}" for i in range(labels.size)])
    new = gate.new_value_mask(ads, {f"ad-{i}" for i in range(450)})
    settings = GateSettings(label="clicked", new_column="ad_id")

    evaluation = gate.judge(scored(model(logit, 0.5, seed=1), None, labels, {}, new=new), settings)

    item = evaluation.slice(settings.new_slice)
    assert item.examples == int(new.sum()) == labels.size // 10
    assert evaluation.new_slice == "new ad_id (absent from training)"


def test_settings_survive_their_json_form():
    settings = GateSettings(
        label="clicked",
        column_kinds={"device_type": "bytes"},
        slices=(("device_type",), ("device_type", "slot_position")),
        new_column="ad_id",
        slice_rules=(SliceRule(("device_type",), max_auc_drop=0.01),),
    )

    assert GateSettings.from_json(settings.to_json()) == settings


def test_an_evaluation_survives_its_json_form(tmp_path):
    logit, labels, columns = world(rows=5_000)
    evaluation = gate.judge(scored(model(logit, 0.5, seed=1), model(logit, 0.6, seed=2), labels, columns), SETTINGS)

    evaluation_results.write(str(tmp_path), evaluation)

    assert evaluation_results.load(str(tmp_path)) == evaluation


def test_loading_a_folder_without_an_evaluation_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        evaluation_results.load(str(tmp_path))


BAD_VALUES = {"NaN": np.nan, "infinite": np.inf, "below 0": -0.2, "above 1": 1.5}


def _spoiled(predictions, value, every=20):
    """The predictions with every `every`-th row (5% by default) set to `value`."""
    spoiled = predictions.copy()
    spoiled[::every] = value
    return spoiled


def _keys(size):
    return np.array([f"impression_id=imp-{i:05d}" for i in range(size)])


@pytest.mark.parametrize("reason", sorted(BAD_VALUES))
def test_a_candidate_with_unusable_predictions_is_not_blessed_on_a_first_run(reason):
    logit, labels, columns = world(rows=8_000)
    candidate = _spoiled(model(logit, 0.3, seed=1), BAD_VALUES[reason])
    data = Scored(labels, {evaluation_results.CANDIDATE: candidate}, columns, keys=_keys(labels.size))

    evaluation = gate.judge(data, SETTINGS)

    assert not evaluation.validation_ok
    bad = evaluation.bad_rows[evaluation_results.CANDIDATE]
    assert (bad.count, bad.rows, bad.example_key, bad.reasons) == (400, 8_000, "impression_id=imp-00000", {reason: 400})
    [failure] = evaluation.failures
    assert failure.metric == evaluation_results.BAD_PREDICTIONS
    assert "400 of 8,000 rows" in str(failure) and "imp-00000" in str(failure)
    # The rest is still measured, on the rows it scored soundly.
    assert evaluation.slice(evaluation_results.OVERALL).examples == 7_600


def test_a_sound_candidate_is_not_flagged():
    logit, labels, columns = world(rows=8_000)

    evaluation = gate.judge(scored(model(logit, 0.3, seed=1), None, labels, columns), SETTINGS)

    assert evaluation.bad_rows == {} and evaluation.validation_ok


def test_a_candidate_with_unusable_predictions_is_blocked_against_a_sound_production_model():
    logit, labels, columns = world(rows=8_000)
    # Better than production on every row it scores: only its NaNs can block it.
    candidate = _spoiled(model(logit, 0.2, seed=1), np.nan)

    evaluation = gate.judge(scored(candidate, model(logit, 1.0, seed=2), labels, columns), SETTINGS)

    assert evaluation.has_baseline and not evaluation.validation_ok
    assert [f.metric for f in evaluation.failures] == [evaluation_results.BAD_PREDICTIONS]


@pytest.mark.parametrize("reason", [gate.SIGNATURE_FAILED, gate.WRONG_SHAPE])
def test_rows_scoring_could_not_score_block_the_candidate(reason):
    logit, labels, columns = world(rows=8_000)
    failed = np.where(np.arange(labels.size) >= 7_990, reason, "")
    candidate = np.where(failed != "", np.nan, model(logit, 0.3, seed=1))
    data = Scored(labels, {evaluation_results.CANDIDATE: candidate}, columns, failed={"candidate": failed})

    evaluation = gate.judge(data, SETTINGS)

    bad = evaluation.bad_rows[evaluation_results.CANDIDATE]
    assert (bad.count, bad.example_key, bad.reasons) == (10, "row 7990 of the eval split", {reason: 10})
    assert not evaluation.validation_ok


@pytest.mark.parametrize("reason", sorted(BAD_VALUES))
def test_a_production_model_with_unusable_predictions_does_not_block_a_sound_candidate(reason):
    logit, labels, columns = world(rows=8_000)
    baseline = _spoiled(model(logit, 0.3, seed=2), BAD_VALUES[reason])
    data = Scored(labels, {evaluation_results.CANDIDATE: model(logit, 0.3, seed=1),
                           evaluation_results.BASELINE: baseline}, columns, keys=_keys(labels.size))

    evaluation = gate.judge(data, SETTINGS)

    assert evaluation.validation_ok, [str(f) for f in evaluation.failures]
    assert not evaluation.has_baseline
    assert evaluation.bad_rows[evaluation_results.BASELINE].count == 400
    headline = evaluation_results.headline(evaluation)
    assert headline.startswith("blessed against absolute thresholds only (the model in production gave 400 of 8,000")
    assert "imp-00000" in headline


def test_a_broken_candidate_is_still_judged_on_absolute_rules_when_production_is_broken_too():
    logit, labels, columns = world(rows=8_000)
    data = scored(model(logit, 6.0, seed=1), _spoiled(model(logit, 0.3, seed=2), np.nan), labels, columns)

    evaluation = gate.judge(data, GateSettings(label="clicked", min_auc=0.75))

    assert not evaluation.validation_ok
    assert {f.metric for f in evaluation.failures} >= {"auc"}


def test_slices_are_keyed_by_typed_values_whatever_the_text():
    logit, labels, columns = world(rows=8_000)
    odd = "mobile, slot_position=1"
    columns = {"device_type": np.where(columns["device_type"] == "mobile", odd, columns["device_type"]),
               "slot_position": np.arange(labels.size) % 3}
    settings = GateSettings(label="clicked", column_kinds={"device_type": "bytes", "slot_position": "int"},
                            slices=(("device_type", "slot_position"),))

    evaluation = gate.judge(scored(model(logit, 0.3, seed=1), None, labels, columns), settings)

    keys = [s.key for s in evaluation.slices if s.columns]
    assert [["device_type", odd], ["slot_position", 1]] in keys
    assert all(isinstance(value, int) for key in keys for column, value in key if column == "slot_position")
    assert len(keys) == 9


def test_only_checks_that_can_block_share_the_simultaneous_level():
    logit, labels, columns = world()
    candidate, baseline = model(logit, 0.6, seed=1), model(logit, 0.6, seed=2)
    data = scored(candidate, baseline, labels, columns)

    unguarded = gate.judge(data, GateSettings(label="clicked", slices=SETTINGS.slices, guard_slices=False))
    guarded = gate.judge(data, SETTINGS)

    # Overall only: the floor, AUC, log-loss and calibration; 11 more slices of 3 comparisons each.
    assert unguarded.comparisons == 4 and guarded.comparisons == 4 + 11 * 3
    overall = unguarded.slice(evaluation_results.OVERALL)
    spread = overall.auc_change.high - overall.auc_change.estimate
    single = overall.single_intervals["auc_diff"]
    assert spread / (single.high - single.estimate) == pytest.approx(
        gate.statistics.simultaneous_z(0.95, 4) / gate.statistics.simultaneous_z(0.95, 1))
    # The single 95% intervals (TFMA's files) are what the statistics give at 95% directly.
    z_single = gate.statistics.simultaneous_z(0.95, 1)
    for name, direct in (("binary_crossentropy_diff", gate.statistics.log_loss_change(labels, candidate, baseline,
                                                                                       z_single)),
                         ("calibration", gate.statistics.calibration_interval(labels, candidate, z_single))):
        found = overall.single_intervals[name]
        assert (found.estimate, found.low, found.high) == pytest.approx((direct.estimate, direct.low, direct.high))


def test_a_floor_is_judged_on_the_interval_not_the_point():
    logit, labels, columns = world(rows=3_000, seed=7)
    candidate = model(logit, 0.5, seed=1)
    auc = gate.statistics.auc(labels, candidate)
    settings = GateSettings(label="clicked", check_calibration=False)

    just_above_point = gate.judge(scored(candidate, None, labels, columns),
                                  GateSettings(label="clicked", min_auc=auc + 0.01, check_calibration=False))
    far_above = gate.judge(scored(candidate, None, labels, columns),
                           GateSettings(label="clicked", min_auc=auc + 0.1, check_calibration=False))

    assert settings.min_auc < auc and just_above_point.validation_ok
    assert [f.metric for f in far_above.failures] == ["auc"]


def test_an_over_predicting_candidate_is_blocked_on_calibration():
    logit, labels, columns = world()
    baseline = model(logit, 0.3, seed=2)
    over = 1 / (1 + np.exp(-(np.log(baseline / (1 - baseline)) + 0.5)))
    candidate_logit = logit + np.random.default_rng(1).normal(scale=0.3, size=logit.size)
    candidate = 1 / (1 + np.exp(-(candidate_logit + 0.5)))

    evaluation = gate.judge(scored(candidate, baseline, labels, columns), SETTINGS)
    unchecked = gate.judge(scored(candidate, baseline, labels, columns),
                           GateSettings(label="clicked", slices=SETTINGS.slices, check_calibration=False))
    first_run = gate.judge(scored(over, None, labels, columns), SETTINGS)

    assert ("calibration", "overall") in {(f.metric, f.slice) for f in evaluation.failures}
    assert evaluation.slice(evaluation_results.OVERALL).calibration_change.low > SETTINGS.max_calibration_error
    assert unchecked.validation_ok, [str(f) for f in unchecked.failures]
    assert [(f.metric, f.slice) for f in first_run.failures] == [("calibration", "overall")]


def test_a_candidate_that_may_be_calibrated_is_not_blocked_for_predicting_below_production():
    # As the demo's month 2 on travel ads (35 clicks): both models below the observed click rate, so
    # their |log ratio| difference cancels the labels' mean and alone would block a candidate whose
    # own interval still holds 1.
    logit, labels, columns = world(rows=450, seed=3)
    production = model(logit, 0.3, seed=2)
    baseline = production * 0.95 * labels.mean() / production.mean()
    candidate = baseline * 0.72 / 0.95

    evaluation = gate.judge(scored(candidate, baseline, labels, columns), GateSettings(label="clicked"))
    overall = evaluation.slice(evaluation_results.OVERALL)

    assert overall.calibration_change.low > GateSettings(label="clicked").max_calibration_error
    assert overall.calibration_interval.low < 1 < overall.calibration_interval.high
    assert "calibration" not in {f.metric for f in evaluation.failures}
