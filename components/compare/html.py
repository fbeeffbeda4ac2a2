"""The comparison report: one self-contained HTML page (inline CSS and SVG, no script)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

from components.compare import svg
from components.evaluate.results import (
    AUC,
    BASELINE,
    CANDIDATE,
    EXAMPLE_COUNT,
    LOG_LOSS,
    MEAN_LABEL,
    MEAN_PREDICTION,
    METRICS,
    OVERALL,
    Evaluation,
)

NO_BASELINE = "No model in production yet (first run): absolute thresholds only."

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1100px; padding: 0 16px; color: #1f2328; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.verdict { display: inline-block; padding: 3px 10px; border-radius: 4px; font-weight: 600; }
.blessed { background: #dafbe1; color: #116329; } .rejected { background: #ffebe9; color: #a40e26; }
.unknown { background: #eaeef2; color: #424a53; }
table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 3px 10px; text-align: right; }
th { background: #f6f8fa; } td:first-child, th:first-child { text-align: left; }
tr + tr td { border-top: 1px solid #eaeef2; }
.checks td:nth-child(-n+3), .checks th:nth-child(-n+3) { text-align: left; }
.pass { color: #116329; font-weight: 600; } .fail { color: #a40e26; font-weight: 600; }
.better { color: #116329; } .worse { color: #a40e26; }
.note { background: #fff8c5; padding: 6px 10px; border-radius: 4px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; } figure { margin: 0; }
figcaption { font-size: 12px; color: #57606a; text-align: center; }
svg .grid { stroke: #eaeef2; } svg .frame { fill: none; stroke: #8c959f; }
svg .tick { font-size: 10px; fill: #57606a; } svg .axis, svg .legend { font-size: 11px; fill: #1f2328; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; } dt { color: #57606a; }
dd { margin: 0; word-break: break-all; }
"""


@dataclass(frozen=True)
class ReportContext:
    """What the metrics alone do not say: which models, which data, the verdict.

    Attributes:
        candidate: the candidate model, in words (e.g. its artifact URI).
        baseline: the production model in words; empty when there was none.
        data: labelled facts about the evaluation data (span, examples URI, split...).
        blessed: the Evaluator's blessing; None when unknown (e.g. `clickpipe report`).
        created_at: when the report was made.
        title: the page title.
    """

    candidate: str
    baseline: str = ""
    data: dict[str, str] = field(default_factory=dict)
    blessed: bool | None = None
    created_at: str = ""
    title: str = "clickpipe: candidate vs production model"


def _number(value: float | None, metric: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if metric == EXAMPLE_COUNT:
        return f"{value:,.0f}"
    return f"{value:.4f}"


def _delta(candidate: float | None, baseline: float | None, higher: bool | None) -> str:
    if candidate is None or baseline is None or math.isnan(candidate) or math.isnan(baseline):
        return "<td>–</td>"
    change = candidate - baseline
    css = ""
    if higher is not None and change:
        css = "better" if (change > 0) == higher else "worse"
    return f'<td class="{css}">{change:+.4f}</td>'


def _verdict(evaluation: Evaluation, context: ReportContext) -> str:
    blessed = context.blessed
    if blessed is None and evaluation.validated:
        blessed = evaluation.validation_ok
    if blessed is None:
        return '<span class="verdict unknown">not validated</span>'
    if blessed:
        return '<span class="verdict blessed">BLESSED</span>'
    return '<span class="verdict rejected">NOT BLESSED</span>'


def _facts(evaluation: Evaluation, context: ReportContext) -> str:
    rows = [("candidate", context.candidate)]
    rows.append(("production model", context.baseline or NO_BASELINE))
    rows.extend(context.data.items())
    rows.append(
        (
            "evaluated rows",
            _number(evaluation.value(OVERALL, CANDIDATE, EXAMPLE_COUNT), EXAMPLE_COUNT),
        )
    )
    if context.created_at:
        rows.append(("report made", context.created_at))
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows)
    return f"<dl>{items}</dl>"


def _failures(evaluation: Evaluation) -> str:
    if not evaluation.failures:
        return ""
    items = "".join(f"<li>{escape(str(f))}</li>" for f in evaluation.failures)
    return f'<h2>Why it was not blessed</h2><ul class="failures">{items}</ul>'


def _checks(evaluation: Evaluation) -> str:
    if not evaluation.checks:
        return "<h2>Thresholds</h2><p>No thresholds were checked.</p>"
    head = "<tr><th>metric</th><th>slice</th><th>required</th><th>candidate</th><th>production</th><th>result</th></tr>"
    rows = []
    for check in sorted(evaluation.checks, key=lambda c: (c.passed, c.slice != OVERALL, c.slice, c.metric)):
        result = '<td class="pass">pass</td>' if check.passed else '<td class="fail">FAIL</td>'
        rows.append(
            f"<tr><td>{escape(check.metric)}</td><td>{escape(check.slice)}</td><td>{escape(check.threshold)}</td>"
            f"<td>{_number(check.value)}</td><td>{_number(check.baseline)}</td>{result}</tr>"
        )
    note = "" if evaluation.has_baseline else f'<p class="note">{NO_BASELINE}</p>'
    return f'<h2>Thresholds</h2>{note}<table class="checks">{head}{"".join(rows)}</table>'


def _overall(evaluation: Evaluation) -> str:
    head = "<tr><th>metric</th><th>candidate</th><th>production</th><th>change</th></tr>"
    rows = []
    for name, label, higher in METRICS:
        candidate = evaluation.value(OVERALL, CANDIDATE, name)
        baseline = evaluation.value(OVERALL, BASELINE, name)
        if candidate is None:
            continue
        rows.append(
            f"<tr><td>{escape(label)}</td><td>{_number(candidate, name)}</td>"
            f"<td>{_number(baseline, name)}</td>{_delta(candidate, baseline, higher)}</tr>"
        )
    return f'<h2>Overall</h2><table class="overall">{head}{"".join(rows)}</table>'


def _slice_order(evaluation: Evaluation) -> list[str]:
    return sorted((s for s in evaluation.metrics if s != OVERALL), key=lambda s: (s.count(","), s))


def _slices(evaluation: Evaluation) -> str:
    names = _slice_order(evaluation)
    if not names:
        return ""
    head = (
        "<tr><th>slice</th><th>examples</th><th>AUC</th><th>production</th><th>change</th>"
        "<th>log-loss</th><th>production</th><th>change</th><th>mean prediction</th><th>mean label</th></tr>"
    )
    rows = []
    for name in names:
        value = evaluation.value
        cells = [f"<td>{escape(name)}</td><td>{_number(value(name, CANDIDATE, EXAMPLE_COUNT), EXAMPLE_COUNT)}</td>"]
        for metric, higher in ((AUC, True), (LOG_LOSS, False)):
            candidate, baseline = value(name, CANDIDATE, metric), value(name, BASELINE, metric)
            cells.append(
                f"<td>{_number(candidate)}</td><td>{_number(baseline)}</td>{_delta(candidate, baseline, higher)}"
            )
        cells.append(f"<td>{_number(value(name, CANDIDATE, MEAN_PREDICTION))}</td>")
        cells.append(f"<td>{_number(value(name, CANDIDATE, MEAN_LABEL))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<h2>Per slice</h2><table class="slices">{head}{"".join(rows)}</table>'


def _series(evaluation: Evaluation, attribute: str, markers: bool = False) -> list[svg.Series]:
    lines = []
    for model, label, color in (
        (CANDIDATE, "candidate", svg.CANDIDATE_COLOR),
        (BASELINE, "production", svg.BASELINE_COLOR),
    ):
        curves = evaluation.curves.get(model)
        if curves is None:
            continue
        points = getattr(curves, attribute)
        if attribute == "calibration":
            points = [(p, m) for p, m, _ in points]
        lines.append(svg.Series(label, color, points, markers))
    return lines


def _plots(evaluation: Evaluation) -> str:
    if not evaluation.curves:
        return "<h2>Plots</h2><p>No plot data in this evaluation.</p>"
    calibration = [p for c in evaluation.curves.values() for p in c.calibration]
    top = max([max(p, m) for p, m, _ in calibration] or [1.0])
    top = min(1.0, math.ceil(top * 10 + 1e-9) / 10)
    figures = [
        (
            "ROC curve (overall)",
            svg.line_chart(
                "roc",
                "ROC curve",
                "false positive rate",
                "true positive rate",
                _series(evaluation, "roc"),
                diagonal=True,
            ),
        ),
        (
            "Precision–recall curve (overall)",
            svg.line_chart(
                "precision-recall",
                "Precision-recall curve",
                "recall",
                "precision",
                _series(evaluation, "precision_recall"),
            ),
        ),
        (
            "Calibration (overall): mean label per prediction bucket",
            svg.line_chart(
                "calibration",
                "Calibration",
                "mean prediction",
                "mean label",
                _series(evaluation, "calibration", markers=True),
                x_max=top,
                y_max=top,
                diagonal=True,
            ),
        ),
    ]
    body = "".join(f"<figure>{chart}<figcaption>{escape(caption)}</figcaption></figure>" for caption, chart in figures)
    return f'<h2>Plots</h2><div class="plots">{body}</div>'


def _slice_auc_chart(evaluation: Evaluation) -> str:
    names = [OVERALL, *_slice_order(evaluation)]
    rows = []
    values = []
    for name in names:
        bars = [("candidate", svg.CANDIDATE_COLOR, evaluation.value(name, CANDIDATE, AUC))]
        if evaluation.has_baseline:
            bars.append(("production", svg.BASELINE_COLOR, evaluation.value(name, BASELINE, AUC)))
        values += [v for _, _, v in bars if v is not None and math.isfinite(v)]
        rows.append((name, bars))
    if not values:
        return ""
    low = max(0.0, min(0.5, math.floor(min(values) * 10) / 10))
    chart = svg.bar_chart("slice-auc", "AUC per slice", "AUC", rows, low=low, high=1.0)
    legend = "candidate (blue)" + (", production (red)" if evaluation.has_baseline else "")
    return f"<h2>AUC per slice</h2><figure>{chart}<figcaption>{legend}</figcaption></figure>"


def render(evaluation: Evaluation, context: ReportContext) -> str:
    """The whole report as one HTML document.

    Args:
        evaluation: TFMA's results, from `components.evaluate.results.load`.
        context: models, data and verdict.

    Returns:
        The HTML text; it references no file or network resource.
    """
    sections = [
        f"<h1>{escape(context.title)}</h1>",
        f"<p>{_verdict(evaluation, context)}</p>",
        "<h2>What was compared</h2>",
        _facts(evaluation, context),
        _failures(evaluation),
        _checks(evaluation),
        _overall(evaluation),
        _plots(evaluation),
        _slice_auc_chart(evaluation),
        _slices(evaluation),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(context.title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(sections)}</body></html>\n"
    )


def render_markdown(evaluation: Evaluation, context: ReportContext) -> str:
    """A short Markdown summary: verdict, failures and overall metrics (for the Kubeflow UI)."""
    blessed = (
        context.blessed if context.blessed is not None else (evaluation.validation_ok if evaluation.validated else None)
    )
    verdict = {True: "**BLESSED**", False: "**NOT BLESSED**", None: "not validated"}[blessed]
    lines = [f"# {context.title}", "", f"Verdict: {verdict}", ""]
    lines.append(f"- candidate: `{context.candidate}`")
    lines.append(f"- production model: {context.baseline or NO_BASELINE}")
    lines.extend(f"- {key}: {value}" for key, value in context.data.items())
    if evaluation.failures:
        lines += ["", "## Failed thresholds", ""] + [f"- {failure}" for failure in evaluation.failures]
    lines += ["", "## Overall", "", "| metric | candidate | production |", "|---|---|---|"]
    for name, label, _ in METRICS:
        candidate = evaluation.value(OVERALL, CANDIDATE, name)
        if candidate is not None:
            baseline = evaluation.value(OVERALL, BASELINE, name)
            lines.append(f"| {label} | {_number(candidate, name)} | {_number(baseline, name)} |")
    return "\n".join(lines) + "\n"
