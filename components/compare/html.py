"""The comparison report: one self-contained HTML page (inline CSS and SVG, no script).

Read top down, it answers what a person deciding about a push asks: the verdict and why,
which slices got worse (regressions first, with counts and intervals), the overall numbers,
then the curves. Calibration is drawn on the range where the predictions are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

from components.compare import svg
from components.evaluation_results import (
    AUC,
    BASELINE,
    CANDIDATE,
    CLICKS,
    EXAMPLE_COUNT,
    LOG_LOSS,
    MEAN_LABEL,
    MEAN_PREDICTION,
    METRICS,
    OVERALL,
    Evaluation,
    Interval,
    SliceResult,
    headline,
)

NO_BASELINE = "No model in production yet (first run): absolute thresholds only."
COUNTS = (EXAMPLE_COUNT, CLICKS)

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1240px; padding: 0 16px; color: #1f2328; }
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
.muted { color: #57606a; } .small { font-size: 12px; } td.interval { white-space: nowrap; }
.slices td:last-child { white-space: nowrap; } summary { cursor: pointer; color: #57606a; }
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
        blessed: EvaluateModel's blessing; None when unknown (e.g. `clickpipe report`).
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
    if metric in COUNTS:
        return f"{value:,.0f}"
    return f"{value:.4f}"


def _change(change: Interval | None, higher: bool | None) -> str:
    """A change with its interval; coloured only when the whole interval is on one side."""
    if change is None:
        return "<td>–</td>"
    css = ""
    if higher is not None and (change.low > 0 or change.high < 0):
        css = "better" if (change.low > 0) == higher else "worse"
    return (f'<td class="interval {css}">{change.estimate:+.4f} '
            f'<span class="small">[{change.low:+.4f}, {change.high:+.4f}]</span></td>')


def _interval(value: Interval | None) -> str:
    if value is None:
        return "<td>–</td>"
    return f'<td class="interval">{value.low:.4f} to {value.high:.4f}</td>'


def _delta(candidate: float | None, baseline: float | None, higher: bool | None) -> str:
    if candidate is None or baseline is None or math.isnan(candidate) or math.isnan(baseline):
        return "<td>–</td>"
    change = candidate - baseline
    css = ""
    if higher is not None and change:
        css = "better" if (change > 0) == higher else "worse"
    return f'<td class="{css}">{change:+.4f}</td>'


def _blessed(evaluation: Evaluation, context: ReportContext) -> bool | None:
    if context.blessed is not None:
        return context.blessed
    return evaluation.validation_ok if evaluation.validated or evaluation.already_pushed else None


def _verdict(evaluation: Evaluation, context: ReportContext) -> str:
    already = evaluation.already_pushed
    if already is not None and already.serving:
        return f'<span class="verdict blessed">ALREADY SERVING</span> <span class="muted">{escape(str(already))}</span>'
    blessed = _blessed(evaluation, context)
    if blessed is None:
        return '<span class="verdict unknown">not validated</span>'
    if blessed:
        return '<span class="verdict blessed">BLESSED</span>'
    return '<span class="verdict rejected">NOT BLESSED</span>'


def _facts(evaluation: Evaluation, context: ReportContext) -> str:
    rows = [("candidate", context.candidate)]
    production = context.baseline or NO_BASELINE
    if evaluation.baseline_ignored:
        production = f"{production} — not compared against: {evaluation.baseline_ignored}"
    rows.append(("production model", production))
    rows.extend(context.data.items())
    overall = evaluation.slice(OVERALL)
    if overall is not None:
        rows.append(("evaluated rows", f"{overall.examples:,}"))
        rows.append(("clicks", f"{overall.clicks:,}"))
    if context.created_at:
        rows.append(("report made", context.created_at))
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows)
    return f"<dl>{items}</dl>"


def _method(evaluation: Evaluation) -> str:
    if not evaluation.validated:
        return ""
    text = (
        f"Intervals are {evaluation.confidence:.0%} simultaneous over the {evaluation.comparisons} checks that "
        f"can block ({evaluation.interval_level:.2%} each); "
        f"{evaluation.method}. A slice needs {evaluation.min_clicks} clicks and {evaluation.min_clicks} "
        "non-clicks to be judged; smaller ones are shown but cannot block."
    )
    if evaluation.new_slice:
        text += f" “{evaluation.new_slice}” holds the eval rows whose value never occurs in the training split."
    return f'<p class="muted small">{escape(text)}</p>'


def _failures(evaluation: Evaluation) -> str:
    if evaluation.already_pushed is not None and not evaluation.already_pushed.serving:
        return f"<h2>Why it was not blessed</h2><p>{escape(headline(evaluation))}: pushing it again would " \
               "undo what replaced it; roll back to it with <code>clickpipe models rollback</code> if intended.</p>"
    if not evaluation.failures:
        return ""
    items = "".join(f"<li>{escape(str(f))}</li>" for f in evaluation.failures)
    return f'<h2>Why it was not blessed</h2><ul class="failures">{items}</ul>'


def _bad_rows(evaluation: Evaluation) -> str:
    """Each model's rows without a usable prediction: how many, why, and one row to look at."""
    if not evaluation.bad_rows:
        return ""
    items = []
    for model, bad in evaluation.bad_rows.items():
        why = ", ".join(f"{n:,} {reason}" for reason, n in bad.reasons.items())
        consequence = ("so it is not blessed" if model == CANDIDATE else
                       "so it was not compared against: the candidate was judged on the absolute rules only")
        who = "The candidate" if model == CANDIDATE else "The model in production"
        items.append(f"<li>{who} gave <b>{bad.count:,}</b> of {bad.rows:,} rows no probability in [0, 1] "
                     f"({escape(why)}), e.g. <code>{escape(bad.example_key)}</code>; {consequence}.</li>")
    return f'<h2>Unusable predictions</h2><ul class="failures">{"".join(items)}</ul>'


def _slice_state(item: SliceResult, has_baseline: bool) -> str:
    if not item.judged:
        return '<td class="muted">too small to judge</td>'
    if item.failed:
        return '<td class="fail">FAIL</td>'
    if not has_baseline or item.auc_change is None:
        return '<td class="pass">pass</td>'
    if item.auc_change.high < 0:
        return '<td class="worse">worse</td>' if item.guarded else '<td class="worse">worse (not guarded)</td>'
    if item.auc_change.estimate < 0:
        return '<td class="muted">worse, within noise</td>'
    return '<td class="pass">pass</td>'


def _slice_row(item: SliceResult, has_baseline: bool) -> str:
    candidate, baseline = item.metrics.get(CANDIDATE, {}), item.metrics.get(BASELINE, {})
    cells = [f"<td>{escape(item.name)}</td><td>{item.examples:,}</td><td>{item.clicks:,}</td>"]
    if has_baseline:
        cells.append(f"<td>{_number(candidate.get(AUC))}</td><td>{_number(baseline.get(AUC))}</td>")
        cells.append(_change(item.auc_change, True))
        cells.append(_change(item.log_loss_change, False))
    else:
        cells.append(f"<td>{_number(candidate.get(AUC))}</td>")
        cells.append(_interval(item.auc_interval))
        cells.append(f"<td>{_number(candidate.get(LOG_LOSS))}</td>")
    cells.append(f'<td class="interval">{_number(candidate.get(MEAN_PREDICTION))} / '
                 f"{_number(candidate.get(MEAN_LABEL))}</td>")
    cells.append(_slice_state(item, has_baseline))
    return f"<tr>{''.join(cells)}</tr>"


def _slices(evaluation: Evaluation) -> str:
    ordered = evaluation.regressions_first()
    if not ordered:
        return ""
    if evaluation.has_baseline:
        head = ("<tr><th>slice</th><th>examples</th><th>clicks</th><th>AUC</th><th>production</th>"
                "<th>AUC change [interval]</th><th>log-loss change [interval]</th>"
                "<th>mean prediction / label</th><th>result</th></tr>")
        title = "Slices, regressions first"
    else:
        head = ("<tr><th>slice</th><th>examples</th><th>clicks</th><th>AUC</th><th>AUC interval</th>"
                "<th>log-loss</th><th>mean prediction / label</th><th>result</th></tr>")
        title = "Slices, weakest first"
    rows = "".join(_slice_row(item, evaluation.has_baseline) for item in ordered)
    return f'<h2>{title}</h2><table class="slices">{head}{rows}</table>'


def _slice_chart(evaluation: Evaluation) -> str:
    rows = []
    overall = evaluation.slice(OVERALL)
    for item in [overall, *evaluation.regressions_first()] if overall else []:
        interval = item.auc_change if evaluation.has_baseline else item.auc_interval
        if item.judged and interval is not None:
            rows.append(svg.IntervalRow(f"{item.name} ({item.clicks:,} clicks)", interval.estimate, interval.low,
                                        interval.high, item.failed))
    if not rows:
        return ""
    if evaluation.has_baseline:
        limit = next((c.limit for c in evaluation.checks
                      if c.metric == AUC and c.slice == OVERALL and c.baseline is not None), None)
        chart = svg.interval_chart("slice-auc", "AUC change per slice", "AUC change, candidate − production",
                                   rows, reference=0.0, limit=limit)
        caption = ("candidate minus production per judged slice, with its simultaneous interval; "
                   "red: the slice failed; dashed: the tolerated drop")
        return f"<h2>AUC change per slice</h2><figure>{chart}<figcaption>{escape(caption)}</figcaption></figure>"
    chart = svg.interval_chart("slice-auc", "AUC per slice", "AUC", rows, reference=0.5, signed=False)
    return f"<h2>AUC per slice</h2><figure>{chart}<figcaption>AUC with its interval; line: chance (0.5)" \
           "</figcaption></figure>"


def _checks(evaluation: Evaluation) -> str:
    if not evaluation.checks:
        return ""
    versus = evaluation.has_baseline
    head = ("<tr><th>metric</th><th>slice</th><th>required</th><th>candidate</th>"
            + ("<th>production</th>" if versus else "") + "<th>result</th></tr>")
    rows = []
    for check in sorted(evaluation.checks, key=lambda c: (c.passed, c.slice != OVERALL, c.slice, c.metric)):
        result = '<td class="pass">pass</td>' if check.passed else '<td class="fail">FAIL</td>'
        production = f"<td>{_number(check.baseline)}</td>" if versus else ""
        rows.append(
            f"<tr><td>{escape(check.metric)}</td><td>{escape(check.slice)}</td><td>{escape(check.threshold)}</td>"
            f"<td>{_number(check.value)}</td>{production}{result}</tr>"
        )
    note = "" if versus else f'<p class="note">{NO_BASELINE}</p>'
    failed = sum(not c.passed for c in evaluation.checks)
    summary = f"{len(evaluation.checks)} rules checked, {failed} failed"
    return (f'<h2>Rules checked</h2>{note}<details><summary>{summary}</summary>'
            f'<table class="checks">{head}{"".join(rows)}</table></details>')


def _overall(evaluation: Evaluation) -> str:
    overall = evaluation.slice(OVERALL)
    if overall is None or not overall.metrics:
        return ""
    versus = evaluation.has_baseline
    changes = {AUC: overall.auc_change, LOG_LOSS: overall.log_loss_change}
    head = "<tr><th>metric</th><th>candidate</th>" + ("<th>production</th><th>change</th>" if versus else "") + "</tr>"
    rows = []
    for name, label, higher in METRICS:
        candidate = evaluation.value(OVERALL, CANDIDATE, name)
        baseline = evaluation.value(OVERALL, BASELINE, name)
        if candidate is None:
            continue
        if not versus:
            change = ""
        elif name in COUNTS:
            change = "<td>–</td>"
        elif changes.get(name):
            change = _change(changes[name], higher)
        else:
            change = _delta(candidate, baseline, higher)
        production = f"<td>{_number(baseline, name)}</td>" if versus else ""
        rows.append(f"<tr><td>{escape(label)}</td><td>{_number(candidate, name)}</td>{production}{change}</tr>")
    return f'<h2>Overall</h2><table class="overall">{head}{"".join(rows)}</table>'


def _series(evaluation: Evaluation, attribute: str) -> list[svg.Series]:
    lines = []
    for model, label, color in ((CANDIDATE, "candidate", svg.CANDIDATE_COLOR),
                                (BASELINE, "production", svg.BASELINE_COLOR)):
        curves = evaluation.curves.get(model)
        if curves is None:
            continue
        points = getattr(curves, attribute)
        if attribute == "calibration":
            notes = tuple(f"{label} bucket {i + 1}: {rows:,.0f} rows, mean prediction {p:.4f}, mean label {m:.4f}"
                          for i, (p, m, rows) in enumerate(points))
            lines.append(svg.Series(label, color, [(p, m) for p, m, _ in points], True, notes))
        else:
            lines.append(svg.Series(label, color, points))
    return lines


def _calibration(evaluation: Evaluation) -> tuple[str, str]:
    """The calibration chart on the range of the predictions (log axes when they span a decade
    or more, as click probabilities do), and its caption with the buckets' row counts."""
    buckets = [b for c in evaluation.curves.values() for b in c.calibration]
    values = [v for p, m, _ in buckets for v in (p, m) if v > 0]
    top = svg.nice_limit(max(values or [1.0]))
    bottom = 10 ** math.floor(math.log10(min(values))) if values else 0.0
    log_from = bottom if bottom and top / bottom >= 10 else 0.0
    chart = svg.line_chart("calibration", "Calibration", "mean prediction", "mean label",
                           _series(evaluation, "calibration"), x_max=top, y_max=top, diagonal=True,
                           log_from=log_from)
    rows = [r for _, _, r in buckets]
    counts = f"{min(rows):,.0f}–{max(rows):,.0f}" if rows and min(rows) != max(rows) else f"{rows[0]:,.0f}"
    scale = "log axes" if log_from else "linear axes"
    caption = (f"Calibration (overall): mean label against mean prediction in {len(rows) // len(evaluation.curves)} "
               f"buckets of equal counts ({counts} rows each), {scale} over the range of the predictions")
    return chart, caption


def _plots(evaluation: Evaluation) -> str:
    if not evaluation.curves:
        return ""
    calibration_chart, calibration_caption = _calibration(evaluation)
    figures = [
        ("ROC curve (overall)", svg.line_chart("roc", "ROC curve", "false positive rate", "true positive rate",
                                               _series(evaluation, "roc"), diagonal=True)),
        ("Precision–recall curve (overall)", svg.line_chart("precision-recall", "Precision-recall curve", "recall",
                                                           "precision", _series(evaluation, "precision_recall"))),
        (calibration_caption, calibration_chart),
    ]
    body = "".join(
        f'<figure style="max-width:{svg.WIDTH}px">{chart}<figcaption>{escape(caption)}</figcaption></figure>'
        for caption, chart in figures
    )
    return f'<h2>Plots</h2><div class="plots">{body}</div>'


def render(evaluation: Evaluation, context: ReportContext) -> str:
    """The whole report as one HTML document.

    Args:
        evaluation: the gate's evaluation, from `components.evaluation_results.load`.
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
        _bad_rows(evaluation),
        _slice_chart(evaluation),
        _slices(evaluation),
        _method(evaluation),
        _overall(evaluation),
        _checks(evaluation),
        _plots(evaluation),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(context.title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(sections)}</body></html>\n"
    )


def render_markdown(evaluation: Evaluation, context: ReportContext) -> str:
    """A short Markdown summary: verdict, failures, the worst slices and overall metrics (Kubeflow UI)."""
    blessed = _blessed(evaluation, context)
    verdict = {True: "**BLESSED**", False: "**NOT BLESSED**", None: "not validated"}[blessed]
    if evaluation.already_pushed is not None:
        verdict += f" ({headline(evaluation)})"
    lines = [f"# {context.title}", "", f"Verdict: {verdict}", ""]
    lines.append(f"- candidate: `{context.candidate}`")
    lines.append(f"- production model: {context.baseline or NO_BASELINE}")
    lines.extend(f"- {key}: {value}" for key, value in context.data.items())
    if evaluation.failures:
        lines += ["", "## Failed rules", ""] + [f"- {failure}" for failure in evaluation.failures]
    if evaluation.bad_rows:
        lines += ["", "## Unusable predictions", ""] + [f"- {bad.model}: {bad}" for bad in evaluation.bad_rows.values()]
    if evaluation.baseline_ignored:
        lines += ["", f"Production was not compared against ({evaluation.baseline_ignored}): the candidate was "
                  "judged on the absolute rules only."]
    worst = [s for s in evaluation.regressions_first() if s.judged and s.auc_change is not None][:5]
    if worst:
        lines += ["", "## Slices, regressions first", "", "| slice | examples | clicks | AUC change [interval] |",
                  "|---|---|---|---|"]
        lines += [f"| {s.name} | {s.examples:,} | {s.clicks:,} | {s.auc_change.estimate:+.4f} "
                  f"[{s.auc_change.low:+.4f}, {s.auc_change.high:+.4f}] |" for s in worst]
    if evaluation.slice(OVERALL) is not None:
        lines += ["", "## Overall", "", "| metric | candidate | production |", "|---|---|---|"]
        for name, label, _ in METRICS:
            candidate = evaluation.value(OVERALL, CANDIDATE, name)
            if candidate is not None:
                baseline = evaluation.value(OVERALL, BASELINE, name)
                lines.append(f"| {label} | {_number(candidate, name)} | {_number(baseline, name)} |")
    return "\n".join(lines) + "\n"
