"""Static, self-contained HTML pages: the statistics view and the validation report.

TFDV's `get_statistics_html` loads Facets from the internet, so these pages are our own:
inline CSS, inline SVG histograms, no scripts, openable offline from a bucket or a laptop.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from components.validate.checks import MEASURE_NAMES, Verdict

STATISTICS_PAGE = "statistics.html"
ANOMALIES_PAGE = "anomalies.html"
# Current data is drawn filled, the data it is compared with as an outline.
COLOURS = ("#3b6fb6", "#e07b22")
_TOP_VALUES = 6

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b;font-weight:600}.muted{color:#777}
.key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.bar{height:10px;display:inline-block;vertical-align:middle}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{_e(title)}</h1>{body}</body></html>\n"
    )


def _legend(labels: Sequence[str]) -> str:
    keys = "".join(
        f'<span style="background:{COLOURS[i]}"></span>{_e(label)}' for i, label in enumerate(labels[:2])
    )
    return f'<p class="key">{keys}</p>'


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e9:
        return f"{int(value):,}"
    return f"{value:,.4g}"


def _feature_map(dataset) -> dict[str, object]:
    return {".".join(f.path.step) or f.name: f for f in dataset.features}


def _common(feature):
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind else None


def _summary_cell(feature, total: int) -> str:
    if feature is None:
        return '<td class="bad">missing</td>'
    common = _common(feature)
    present = common.num_non_missing if common else 0
    missing = 100.0 * (total - present) / total if total else 0.0
    lines = [f"count {_fmt(present)}", f"missing {missing:.1f}%"]
    kind = feature.WhichOneof("stats")
    if kind == "num_stats":
        stats = feature.num_stats
        lines += [
            f"mean {_fmt(stats.mean)}, std {_fmt(stats.std_dev)}",
            f"min {_fmt(stats.min)}, median {_fmt(stats.median)}, max {_fmt(stats.max)}",
            f"zeros {100.0 * stats.num_zeros / present if present else 0:.1f}%",
        ]
    elif kind == "string_stats":
        lines += [f"unique {_fmt(feature.string_stats.unique)}", f"avg length {feature.string_stats.avg_length:.1f}"]
    elif kind == "bytes_stats":
        stats = feature.bytes_stats
        lines += [
            f"unique {_fmt(stats.unique)}",
            f"bytes avg {_fmt(stats.avg_num_bytes)}, min {_fmt(stats.min_num_bytes)}, max {_fmt(stats.max_num_bytes)}",
        ]
    return "<td>" + "<br>".join(_e(line) for line in lines) + "</td>"


def _standard_histogram(feature):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    if feature is None or feature.WhichOneof("stats") != "num_stats":
        return None
    for histogram in feature.num_stats.histograms:
        if histogram.type == statistics_pb2.Histogram.STANDARD and histogram.buckets:
            return histogram
    return None


def _histogram_svg(features: Sequence[object]) -> str:
    """Overlaid density histograms, one per dataset, on a common x axis."""
    histograms = [_standard_histogram(f) for f in features]
    drawn = [(i, h) for i, h in enumerate(histograms) if h is not None]
    if not drawn:
        return ""
    low = min(h.buckets[0].low_value for _, h in drawn)
    high = max(h.buckets[-1].high_value for _, h in drawn)
    span = (high - low) or 1.0
    width, height = 240, 70

    def densities(histogram):
        total = sum(b.sample_count for b in histogram.buckets) or 1.0
        return [
            (b, b.sample_count / total / max((b.high_value - b.low_value) / span, 1e-9))
            for b in histogram.buckets
        ]

    peak = max((d for _, h in drawn for _, d in densities(h)), default=1.0) or 1.0
    shapes = []
    for index, histogram in drawn:
        for bucket, density in densities(histogram):
            x = (bucket.low_value - low) / span * width
            w = max((bucket.high_value - bucket.low_value) / span * width, 1.0)
            h = density / peak * (height - 4)
            style = (
                f'fill="{COLOURS[0]}" fill-opacity="0.6"'
                if index == 0
                else f'fill="none" stroke="{COLOURS[1]}" stroke-width="1.5"'
            )
            shapes.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{w:.1f}" height="{h:.1f}" {style}/>')
    axis = (
        f'<text x="0" y="{height + 12}" font-size="10">{_e(_fmt(low))}</text>'
        f'<text x="{width}" y="{height + 12}" font-size="10" text-anchor="end">{_e(_fmt(high))}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 14}" '
        f'role="img" aria-label="histogram">{"".join(shapes)}{axis}</svg>'
    )


def _value_frequencies(feature) -> dict[str, float]:
    if feature is None or feature.WhichOneof("stats") != "string_stats":
        return {}
    stats = feature.string_stats
    total = stats.common_stats.num_non_missing or 1
    buckets = stats.rank_histogram.buckets or stats.top_values
    return {b.label if hasattr(b, "label") else b.value: b.sample_count / total for b in buckets}


def _top_values(features: Sequence[object]) -> str:
    """The most frequent values of the first dataset and the most changed one, with shares as bars."""
    shares = [_value_frequencies(f) for f in features]
    if not any(shares):
        return ""
    first = shares[0] or next(s for s in shares if s)
    top = sorted(first, key=first.get, reverse=True)[:_TOP_VALUES]
    if len(shares) > 1:
        # The most changed value (what L-infinity measures) is shown even when it is rare.
        values = set(shares[0]) | set(shares[1])
        changed = max(values, key=lambda v: abs(shares[0].get(v, 0.0) - shares[1].get(v, 0.0)))
        top += [changed] if changed not in top else []
    rows = []
    for value in top:
        bars = "".join(
            f'<span class="bar" style="width:{shares_i.get(value, 0.0) * 120:.1f}px;'
            f'background:{COLOURS[i]}"></span> {100 * shares_i.get(value, 0.0):.1f}%<br>'
            for i, shares_i in enumerate(shares[:2])
        )
        rows.append(f"<tr><td>{_e(value[:40])}</td><td>{bars}</td></tr>")
    return f"<table>{''.join(rows)}</table>"


def statistics_section(title: str, datasets: Sequence[tuple[str, object]]) -> str:
    """One table comparing up to two DatasetFeatureStatistics (labels first, e.g. this month)."""
    datasets = [(label, d) for label, d in datasets if d is not None]
    maps = [_feature_map(d) for _, d in datasets]
    names = sorted({name for m in maps for name in m})
    header = "".join(f"<th>{_e(label)} ({_fmt(d.num_examples)} examples)</th>" for label, d in datasets)
    rows = []
    for name in names:
        features = [m.get(name) for m in maps]
        kind = next((f.WhichOneof("stats") for f in features if f is not None), "")
        cells = "".join(_summary_cell(f, d.num_examples) for f, (_, d) in zip(features, datasets, strict=True))
        chart = _histogram_svg(features) if kind == "num_stats" else _top_values(features)
        type_name = kind.replace("_stats", "") if kind else ""
        label = f"<b>{_e(name)}</b><br><span class='muted'>{_e(type_name)}</span>"
        rows.append(f"<tr><td>{label}</td>{cells}<td>{chart}</td></tr>")
    return (
        f"<h2>{_e(title)}</h2>{_legend([label for label, _ in datasets])}"
        f"<table><tr><th>feature</th>{header}<th>distribution</th></tr>{''.join(rows)}</table>"
    )


def statistics_page(title: str, sections: Sequence[tuple[str, Sequence[tuple[str, object]]]]) -> str:
    """The statistics view: one section per split, each dataset side by side.

    Args:
        title: the page title.
        sections: (section title, [(dataset label, DatasetFeatureStatistics or None), ...]).
    """
    return _page(title, "".join(statistics_section(name, datasets) for name, datasets in sections))


def verdict_page(title: str, verdict: Verdict, statistics_link: str = STATISTICS_PAGE) -> str:
    """The validation report: outcome, each problem, every comparator measurement."""
    status = (
        '<p class="ok">PASSED: nothing stops this run.</p>'
        if verdict.passed
        else f'<p class="bad">FAILED: {len(verdict.problems)} problem(s); the run stops before Transform.</p>'
    )
    parts = [status]
    if verdict.against:
        parts.append(f"<p>Compared with: <b>{_e(verdict.against)}</b>.</p>")
    parts += [f'<p class="muted">{_e(note)}</p>' for note in verdict.notes]
    parts.append(f'<p><a href="{_e(statistics_link)}">Statistics of this data</a></p>')
    if verdict.problems:
        rows = "".join(
            f"<tr><td><b>{_e(p.feature)}</b></td><td>{_e(p.check)}</td><td>{_e(', '.join(p.splits))}</td>"
            f"<td>{_e(p.what)}</td><td>{_e(p.detail)}</td><td class='bad'>{_e(p.measure)}</td></tr>"
            for p in verdict.problems
        )
        parts.append(
            "<h2>Problems</h2><table><tr><th>feature</th><th>check</th><th>splits</th><th>what is wrong</th>"
            f"<th>detail</th><th>how bad</th></tr>{rows}</table>"
        )
    if verdict.measurements:
        rows = "".join(
            f"<tr><td>{_e(m.feature)}</td><td>{_e(m.split)}</td><td>{_e(MEASURE_NAMES.get(m.measure, m.measure))}</td>"
            f"<td class='num'>{m.value:.4f}</td><td class='num'>{m.threshold:.4f}</td>"
            f"<td class='{'bad' if m.breached else 'ok'}'>{'over' if m.breached else 'ok'}</td></tr>"
            for m in sorted(verdict.measurements, key=lambda m: (m.split, m.feature))
        )
        parts.append(
            "<h2>Comparator measurements</h2><table><tr><th>feature</th><th>split</th><th>measure</th>"
            f"<th>value</th><th>threshold</th><th></th></tr>{rows}</table>"
        )
    return _page(title, "".join(parts))


def write_text(path: str, text: str) -> None:
    """Writes a page (local or gs://), creating its folder."""
    import tensorflow as tf

    tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(text)
