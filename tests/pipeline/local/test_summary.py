"""The run summary's wording: the gate, an already served model, validation failures, time."""

from pipeline.local.summary import RunSummary, render


def summary(**fields):
    return RunSummary(**{"span": "2026-10", "months": ["2026-10"], "succeeded": True, "log_path": "x.log", **fields})


def test_a_rerun_of_the_served_model_says_already_serving_and_exits_as_done():
    text = summary(already_pushed="already serving version 1796112973", already_serving=True, blessed=True,
                   seconds=31.4, node_states={"TrainModel": "cached", "EvaluateModel": "done"})

    rendered = render(text)

    assert text.exit_state == "already-serving"
    assert "completed, already serving version 1796112973 (nothing pushed)" in rendered
    assert "blessing   not evaluated again: already serving version 1796112973" in rendered
    assert "pushed     nothing: already serving version 1796112973" in rendered
    assert "time       31 s (1 done, 1 cached)" in rendered


def test_an_earlier_version_is_not_pushed_again():
    text = summary(already_pushed="already pushed as version 17; production serves version 19", blessed=False)

    assert text.exit_state == "not-blessed"
    assert "not evaluated again: already pushed as version 17; production serves version 19" in render(text)


def test_a_validation_failure_is_printed_whole_with_the_pages():
    problems = "\n".join(f"  feature_{i}  drift vs 2026-09 [eval]: L-inf distance 0.3: 0.3" for i in range(35))
    text = summary(
        succeeded=False,
        failed_node="ValidateImpressions",
        error=f"ValidationFailed: span 2026-10 failed validation: 35 problems (report: /r/anomalies.html)\n{problems}",
        rows={"read": 100, "written": 100, "quarantined": 0},
        validation_pages=["/v/reports/2026-10/statistics.html", "/v/reports/2026-10/anomalies.html"],
    )

    rendered = render(text)

    assert "anomalies  none" not in rendered
    assert "the span failed validation" in rendered
    assert rendered.count("drift vs 2026-09") == 35
    assert "  pages      /v/reports/2026-10/statistics.html" in rendered
    assert "             /v/reports/2026-10/anomalies.html" in rendered


def test_quarantined_rows_show_their_reasons_and_folder():
    rendered = render(summary(rows={"read": 10, "written": 8, "quarantined": 2},
                              quarantined_by_reason={"bad_value_type": 2}, quarantine_path="/q/7"))

    assert "quarantined 2 (bad_value_type 2)" in rendered
    assert "  quarantine /q/7" in rendered


def test_the_worst_slice_and_new_ads_beside_their_best_achievable():
    rendered = render(summary(
        metrics={"auc": 0.79}, blessed=True,
        worst_slice="ad_category=travel (1,361 rows, 25 clicks): AUC -0.0399 [-0.1975, +0.1178], within noise",
        new_slice="new ad_id (absent from training)", new_counts=(2_000, 60), new_auc=0.76,
        limits={"new_auc": 0.79},
    ))

    assert "worst      ad_category=travel (1,361 rows, 25 clicks): AUC -0.0399" in rendered
    assert ("new        new ad_id (absent from training): 2,000 rows, 60 clicks, AUC 0.7600 "
            "(0.962 x best achievable 0.7900)") in rendered


def test_a_new_ads_slice_too_small_says_so():
    rendered = render(summary(new_slice="new ad_id (absent from training)", new_counts=(3, 0)))

    assert "3 rows, 0 clicks, too small to judge" in rendered


def test_unusable_predictions_are_counted_with_an_example_row():
    import numpy as np

    from components.evaluate import gate
    from components.evaluate.gate import GateSettings, Scored
    from pipeline.local.summary import _evaluation_lines

    rng = np.random.default_rng(0)
    logit = rng.normal(size=4000) - 2
    labels = (rng.random(4000) < 1 / (1 + np.exp(-logit))).astype(int)
    sound = 1 / (1 + np.exp(-logit))
    broken = np.where(np.arange(4000) % 100 == 7, np.nan, sound)
    keys = np.array([f"impression_id=imp-{i}" for i in range(4000)])
    for candidate, baseline, line in (
        (broken, sound, "  bad rows   the candidate gave 40 of 4,000 rows without a probability in [0, 1] "
                        "(40 NaN), e.g. impression_id=imp-7"),
        (sound, broken, "  production not compared against, absolute thresholds only: the model in production "
                        "gave 40 of 4,000 rows"),
    ):
        text = summary(blessed=False)
        evaluation = gate.judge(Scored(labels, {"candidate": candidate, "baseline": baseline}, keys=keys),
                                GateSettings(label="clicked"))
        _evaluation_lines(text, evaluation)

        assert line in render(text)
