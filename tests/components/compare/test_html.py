"""The report's HTML and Markdown from hand-made evaluation values (no TFMA run)."""

import re

import pytest

from components.compare import html
from components.evaluate import results
from components.evaluate.results import Check, Curves, Evaluation, Failure

CURVES = Curves(
    roc=[(0.0, 0.0), (0.2, 0.6), (1.0, 1.0)],
    precision_recall=[(0.1, 0.9), (0.6, 0.5), (1.0, 0.3)],
    calibration=[(0.05, 0.04, 100.0), (0.3, 0.35, 50.0)],
)
ODD_SLICE = "ad_category=<b>&games"


def evaluation(has_baseline=True, ok=False):
    models = {"candidate": {"auc": 0.71, "binary_crossentropy": 0.42, "example_count": 1200.0}}
    if has_baseline:
        models["baseline"] = {"auc": 0.74, "binary_crossentropy": 0.40, "example_count": 1200.0}
    slice_models = {k: {"auc": v["auc"] - 0.05, "example_count": 300.0} for k, v in models.items()}
    failures = [] if ok else [Failure("auc", "overall", 0.71, "at most 0.0020 below production", 0.74)]
    return Evaluation(
        has_baseline=has_baseline,
        validated=True,
        validation_ok=ok,
        metrics={"overall": models, ODD_SLICE: slice_models},
        checks=[
            Check("auc", "overall", ">= 0.6000", 0.71, None, True),
            Check("auc", "overall", "at most 0.0020 below production", 0.71, 0.74, ok),
        ],
        failures=failures,
        curves={"candidate": CURVES, **({"baseline": CURVES} if has_baseline else {})},
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
    assert re.findall(r'data-plot="([^"]+)"', page) == ["roc", "precision-recall", "calibration", "slice-auc"]


def test_not_blessed_report_says_why_with_values_and_deltas():
    page = html.render(evaluation(), CONTEXT)

    assert "NOT BLESSED" in page
    assert "Why it was not blessed" in page
    assert "auc on overall: 0.7100 vs production 0.7400 (-0.0300); required at most 0.0020 below production" in page
    assert '<td class="fail">FAIL</td>' in page and '<td class="pass">pass</td>' in page
    assert '<td class="worse">-0.0300</td>' in page  # AUC fell
    assert '<td class="better">-0.0200</td>' not in page  # log-loss rose: worse, not better
    assert '<td class="worse">+0.0200</td>' in page
    assert "version 1700000000 (span 2026-09)" in page


def test_slice_names_are_escaped():
    page = html.render(evaluation(), CONTEXT)

    assert ODD_SLICE not in page
    assert "ad_category=&lt;b&gt;&amp;games" in page


def test_first_run_report_says_absolute_thresholds_only():
    page = html.render(evaluation(has_baseline=False, ok=True), html.ReportContext(candidate="/m", blessed=True))

    assert "BLESSED" in page and "NOT BLESSED" not in page
    assert page.count(html.NO_BASELINE) == 2  # in the facts and above the thresholds
    assert "production (red)" not in page
    assert "Why it was not blessed" not in page


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
    ev.metrics["overall"]["candidate"]["auc_pr"] = float("nan")

    page = html.render(ev, CONTEXT)

    assert "<tr><td>AUC-PR</td><td>–</td><td>–</td><td>–</td></tr>" in page


def test_markdown_summary():
    text = html.render_markdown(evaluation(), CONTEXT)

    assert "Verdict: **NOT BLESSED**" in text
    assert "- auc on overall: 0.7100 vs production 0.7400" in text
    assert "| AUC | 0.7100 | 0.7400 |" in text


def test_threshold_text():
    import tensorflow_model_analysis as tfma

    value = tfma.GenericValueThreshold()
    value.lower_bound.value = 0.6
    drop = tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER)
    drop.absolute.value = -0.002
    rise = tfma.GenericChangeThreshold(direction=tfma.MetricDirection.LOWER_IS_BETTER)
    rise.absolute.value = 0.01
    relative = tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER)
    relative.relative.value = -0.05

    assert results.threshold_text(value) == ">= 0.6000"
    assert results.threshold_text(drop) == "at most 0.0020 below production"
    assert results.threshold_text(rise) == "at most 0.0100 above production"
    assert results.threshold_text(relative) == "relative change >= -5.00%"
