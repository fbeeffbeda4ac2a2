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

    evaluation = gate.judge(scored(weak, None, labels, columns), GateSettings(label="clicked", min_auc=0.8))

    assert not evaluation.has_baseline
    [failure] = evaluation.failures
    assert (failure.metric, failure.slice, failure.threshold, failure.baseline) == ("auc", "overall", ">= 0.8000", None)
    assert evaluation.slice(evaluation_results.OVERALL).auc_interval.low < failure.value


def test_a_slice_floor_applies_to_each_value():
    logit, labels, columns = world()
    travel = columns["ad_category"] == "travel"
    settings = GateSettings(label="clicked", slices=SETTINGS.slices,
                            slice_rules=(SliceRule(("ad_category",), min_auc=0.7),))

    evaluation = gate.judge(scored(model(logit, 0.5, seed=1, broken=travel), None, labels, columns), settings)

    assert [(f.slice, f.threshold) for f in evaluation.failures] == [("ad_category=travel", ">= 0.7000")]


def test_unguarded_slices_are_reported_but_do_not_block():
    logit, labels, columns = world()
    travel = columns["ad_category"] == "travel"
    settings = GateSettings(label="clicked", slices=SETTINGS.slices, guard_slices=False)

    evaluation = gate.judge(
        scored(model(logit, 0.3, seed=1, broken=travel), model(logit, 0.7, seed=2), labels, columns), settings
    )

    travel_result = evaluation.slice("ad_category=travel")
    assert travel_result.auc_change.high < 0 and not travel_result.guarded
    assert evaluation.validation_ok


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
