"""The report's HTML and Markdown from hand-made evaluation values (no model run)."""

import re

import pytest

from components.compare import html, svg
from components.evaluation_results import (
    AlreadyPushed,
    BadRows,
    Check,
    Curves,
    Evaluation,
    Failure,
    Interval,
    SliceResult,
)

CURVES = Curves(
    roc=[(0.0, 0.0), (0.2, 0.6), (1.0, 1.0)],
    precision_recall=[(0.1, 0.9), (0.6, 0.5), (1.0, 0.3)],
    # Click probabilities: all well below 0.3.
    calibration=[(0.004, 0.003, 1000.0), (0.02, 0.025, 1000.0), (0.12, 0.10, 1000.0)],
)
ODD_SLICE = "ad_category=<b>&games"
LONG_SLICE = "device_type=mobile, slot_position=top_banner"
TRAVEL_DROP = Interval(-0.044, -0.09, -0.005)


def _metrics(auc, baseline_auc=None):
    found = {"candidate": {"auc": auc, "binary_crossentropy": 0.12, "mean_prediction": 0.03, "mean_label": 0.03}}
    if baseline_auc is not None:
        found["baseline"] = {"auc": baseline_auc, "binary_crossentropy": 0.11}
    return found


def evaluation(has_baseline=True, ok=False):
    base = (lambda v: v) if has_baseline else (lambda v: None)
    overall = SliceResult("overall", [], 20_000, 600, _metrics(0.79, base(0.80)), judged=True, guarded=True,
                          auc_interval=Interval(0.79, 0.77, 0.81))
    travel = SliceResult("ad_category=travel", ["ad_category"], 1_700, 55, _metrics(0.71, base(0.754)),
                         judged=True, guarded=True, failed=not ok)
    odd = SliceResult(ODD_SLICE, ["ad_category"], 1_500, 50, _metrics(0.80, base(0.79)), judged=True, guarded=True)
    long = SliceResult(LONG_SLICE, ["device_type", "slot_position"], 1_600, 48, _metrics(0.77, base(0.80)),
                       judged=True, guarded=True)
    tiny = SliceResult("device_type=smart_tv", ["device_type"], 40, 1, _metrics(float("nan"), base(0.5)))
    if has_baseline:
        overall.auc_change, overall.log_loss_change = Interval(-0.01, -0.02, 0.0), Interval(0.01, 0.0, 0.02)
        travel.auc_change, travel.log_loss_change = TRAVEL_DROP, Interval(0.0, -0.01, 0.01)
        odd.auc_change, odd.log_loss_change = Interval(0.01, -0.03, 0.05), Interval(0.0, -0.01, 0.01)
        long.auc_change, long.log_loss_change = Interval(-0.03, -0.1, 0.04), Interval(0.0, -0.01, 0.01)
    else:
        for item in (travel, odd, long):
            item.auc_interval = Interval(item.metrics["candidate"]["auc"], 0.6, 0.9)
    checks = [Check("auc", "overall", ">= 0.6000", 0.79, None, True, limit=0.6)]
    failures = []
    if has_baseline:
        checks.append(Check("auc", "ad_category=travel", "not significantly more than 0.0020 below production",
                            0.71, 0.754, ok, TRAVEL_DROP, -0.002))
        if not ok:
            failures = [Failure("auc", "ad_category=travel", 0.71, checks[-1].threshold, 0.754, TRAVEL_DROP)]
    return Evaluation(
        has_baseline=has_baseline,
        validated=True,
        validation_ok=ok,
        slices=[overall, odd, tiny, travel, long],
        checks=checks,
        failures=failures,
        curves={"candidate": CURVES, **({"baseline": CURVES} if has_baseline else {})},
        method="exact AUC; DeLong",
        comparisons=8,
        min_clicks=10,
    )


CONTEXT = html.ReportContext(
    candidate="/models/candidate",
    baseline="version 1700000000 (span 2026-09)",
    data={"span": "2026-10", "examples": "/x/Split-eval"},
    blessed=False,
)


def test_report_is_self_contained_and_has_every_plot():
    page = html.render(evaluation(), CONTEXT)

    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert not re.search(r"\b(src|href)=", page)
    assert sorted(re.findall(r'data-plot="([^"]+)"', page)) == ["calibration", "precision-recall", "roc", "slice-auc"]


def test_not_blessed_report_says_why_with_the_change_and_its_interval():
    page = html.render(evaluation(), CONTEXT)

    assert "NOT BLESSED" in page
    assert "Why it was not blessed" in page
    assert ("auc on ad_category=travel: 0.7100 vs production 0.7540 (-0.0440, interval -0.0900 to -0.0050); "
            "required not significantly more than 0.0020 below production") in page
    assert '<td class="fail">FAIL</td>' in page
    assert "version 1700000000 (span 2026-09)" in page


def test_regressions_come_first_with_counts_and_intervals():
    page = html.render(evaluation(), CONTEXT)
    table = page[page.index('<table class="slices">'):]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([\d,]+)</td><td>([\d,]+)</td>", table)

    assert [name for name, _, _ in rows] == [
        "ad_category=travel", LONG_SLICE.replace("=", "="), "ad_category=&lt;b&gt;&amp;games", "device_type=smart_tv"
    ]
    assert rows[0][1:] == ("1,700", "55")
    assert '-0.0440 <span class="small">[-0.0900, -0.0050]</span>' in table
    assert "too small to judge" in table.split("device_type=smart_tv")[1]
    assert "worse, within noise" in table  # the long slice: worse, but its interval reaches above 0


def test_slice_labels_are_never_clipped():
    page = html.render(evaluation(), CONTEXT)
    chart = page[page.index('data-plot="slice-auc"'):].split("</svg>")[0]
    plot_start = min(float(x) for x in re.findall(r'<rect x="([\d.]+)"', chart))

    assert f"{LONG_SLICE} (48 clicks)" in chart
    assert svg.text_width(f"{LONG_SLICE} (48 clicks)") < plot_start


def test_calibration_is_drawn_on_the_range_of_the_predictions_with_bucket_counts():
    page = html.render(evaluation(), CONTEXT)
    chart = page[page.index('data-plot="calibration"'):].split("</svg>")[0]
    ticks = [float(t) for t in re.findall(r'class="tick" text-anchor="middle">([\d.]+)<', chart)]

    assert max(ticks) <= 0.2 and min(ticks) <= 0.004
    assert "1,000 rows each" in page and "log axes" in page
    assert "bucket 2: 1,000 rows" in chart


def test_slice_names_are_escaped():
    page = html.render(evaluation(), CONTEXT)

    assert ODD_SLICE not in page
    assert "ad_category=&lt;b&gt;&amp;games" in page


def test_first_run_report_says_absolute_thresholds_only():
    page = html.render(evaluation(has_baseline=False, ok=True), html.ReportContext(candidate="/m", blessed=True))

    assert "BLESSED" in page and "NOT BLESSED" not in page
    assert page.count(html.NO_BASELINE) == 2  # in the facts and above the rules
    assert "<th>production</th>" not in page and 'data-series="production"' not in page
    assert "Why it was not blessed" not in page
    assert "Slices, weakest first" in page


def test_an_already_serving_candidate_says_so_without_metrics():
    already = Evaluation(has_baseline=True, validated=False, validation_ok=True,
                         already_pushed=AlreadyPushed(1700, 1700))

    page = html.render(already, html.ReportContext(candidate="/m", blessed=True))

    assert "ALREADY SERVING" in page and "already serving version 1700" in page
    assert "data-plot" not in page


def test_an_earlier_pushed_candidate_is_not_blessed_and_the_report_says_why():
    already = Evaluation(has_baseline=True, validated=False, validation_ok=False,
                         already_pushed=AlreadyPushed(1500, 1700))

    page = html.render(already, html.ReportContext(candidate="/m", blessed=False))

    assert "NOT BLESSED" in page
    assert "already pushed as version 1500; production serves version 1700" in page
    assert "clickpipe models rollback" in page


@pytest.mark.parametrize(
    ("blessed", "validated", "ok", "verdict"),
    [(True, True, False, "BLESSED"), (None, True, False, "NOT BLESSED"), (None, False, False, "not validated")],
)
def test_verdict_prefers_the_blessing_artifact(blessed, validated, ok, verdict):
    ev = evaluation(ok=ok)
    ev.validated = validated
    page = html.render(ev, html.ReportContext(candidate="/m", blessed=blessed))

    assert re.search(r'class="verdict [a-z]+">([^<]+)<', page).group(1) == verdict


def test_missing_values_show_a_dash():
    ev = evaluation()
    ev.slices[0].metrics["candidate"]["auc_pr"] = float("nan")

    page = html.render(ev, CONTEXT)

    assert "<tr><td>AUC-PR (average precision)</td><td>–</td><td>–</td><td>–</td></tr>" in page


def test_markdown_summary():
    text = html.render_markdown(evaluation(), CONTEXT)

    assert "Verdict: **NOT BLESSED**" in text
    assert "- auc on ad_category=travel: 0.7100 vs production 0.7540" in text
    assert "| ad_category=travel | 1,700 | 55 | -0.0440 [-0.0900, -0.0050] |" in text
    assert "| AUC | 0.7900 | 0.8000 |" in text


def _with_bad_rows(model):
    found = evaluation(has_baseline=model == "candidate")
    bad = BadRows(model, 412, 20_000, "impression_id=imp-00317", {"NaN": 400, "above 1": 12})
    found.bad_rows = {model: bad}
    if model == "candidate":
        found.failures.insert(0, Failure("bad_predictions", "overall", 412.0,
                                         f"one probability in [0, 1] on every row; {bad}"))
    return found


def test_a_candidate_with_unusable_predictions_is_named_with_its_count_and_an_example_row():
    page = html.render(_with_bad_rows("candidate"), CONTEXT)
    markdown = html.render_markdown(_with_bad_rows("candidate"), CONTEXT)

    assert "<h2>Unusable predictions</h2>" in page
    assert "The candidate gave <b>412</b> of 20,000 rows no probability in [0, 1] (400 NaN, 12 above 1)" in page
    assert "<code>impression_id=imp-00317</code>; so it is not blessed" in page
    assert "- candidate: 412 of 20,000 rows without a probability in [0, 1] (400 NaN, 12 above 1), " \
           "e.g. impression_id=imp-00317" in markdown


def test_a_production_model_with_unusable_predictions_is_reported_and_why_it_was_not_compared():
    page = html.render(_with_bad_rows("baseline"), CONTEXT)

    assert "The model in production gave <b>412</b> of 20,000 rows" in page
    assert "the candidate was judged on the absolute rules only" in page
    assert ("not compared against: the model in production gave 412 of 20,000 rows without a probability "
            "in [0, 1]") in page


def test_a_sound_evaluation_has_no_unusable_predictions_section():
    assert "Unusable predictions" not in html.render(evaluation(), CONTEXT)
