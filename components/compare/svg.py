"""Small inline SVG charts: the report opens offline, with no script and no plotting library."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 380, 320
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 30, 44
CANDIDATE_COLOR = "#1f6feb"
BASELINE_COLOR = "#d1242f"
REFERENCE_COLOR = "#8c959f"


@dataclass(frozen=True)
class Series:
    """One line of a chart: a name for the legend, a colour and (x, y) points.

    Attributes:
        name: the legend entry.
        color: the line's colour.
        points: (x, y) points.
        markers: draw a dot at each point.
        notes: a tooltip per point (e.g. a bucket's row count), when markers are drawn.
    """

    name: str
    color: str
    points: list[tuple[float, float]]
    markers: bool = False
    notes: tuple[str, ...] = ()


def _finite(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    step = (high - low) / count
    return [low + i * step for i in range(count + 1)]


def _tick(value: float, span: float) -> str:
    # Enough decimals to tell ticks apart on a narrow axis (e.g. 0 to 0.06).
    decimals = max(0, 1 - math.floor(math.log10(span / 5))) if span > 0 else 2
    return f"{value:.{decimals}f}"


def text_width(text: str, size: float = 11.0) -> float:
    """A generous estimate of a label's width in pixels at `size` px, so it is never clipped."""
    return 0.62 * size * len(text)


def nice_limit(value: float) -> float:
    """An axis end just above `value`: 1, 2, 2.5 or 5 times a power of ten (at most 1)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * 1.05:
            return min(1.0, step * power)
    return 1.0


def log_ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 times powers of ten between `low` and `high`."""
    ticks = []
    for power in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        ticks.extend(step * 10.0**power for step in (1, 2, 5))
    return [t for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]


def line_chart(
    kind: str,
    title: str,
    x_label: str,
    y_label: str,
    series: list[Series],
    x_max: float = 1.0,
    y_max: float = 1.0,
    diagonal: bool = False,
    log_from: float = 0.0,
) -> str:
    """An x/y line chart from 0 to `x_max`/`y_max`, as an `<svg>` element.

    Args:
        kind: a short id, set as the element's `data-plot` attribute (e.g. ``roc``).
        title: the accessible title.
        x_label: the x axis label.
        y_label: the y axis label.
        series: the lines, drawn in order.
        x_max: the x axis end.
        y_max: the y axis end.
        diagonal: draw the y = x reference (chance for ROC, perfect calibration).
        log_from: when positive, both axes are logarithmic from this value (e.g. click
            probabilities spread over 0.003-0.3).
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def position(value: float, end: float) -> float:
        if log_from > 0:
            value = max(value, log_from)
            return math.log(value / log_from) / math.log(end / log_from)
        return value / end

    def sx(x: float) -> float:
        return LEFT + plot_w * min(max(position(x, x_max), 0.0), 1.0)

    def sy(y: float) -> float:
        return TOP + plot_h * (1 - min(max(position(y, y_max), 0.0), 1.0))

    x_ticks = log_ticks(log_from, x_max) if log_from > 0 else _ticks(0, x_max)
    y_ticks = log_ticks(log_from, y_max) if log_from > 0 else _ticks(0, y_max)

    def label(value: float, end: float) -> str:
        return f"{value:g}" if log_from > 0 else _tick(value, end)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="{escape(kind)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">',
        f"<title>{escape(title)}</title>",
    ]
    for x in x_ticks:
        parts.append(f'<line x1="{sx(x):.1f}" y1="{TOP}" x2="{sx(x):.1f}" y2="{TOP + plot_h}" class="grid"/>')
        parts.append(
            f'<text x="{sx(x):.1f}" y="{TOP + plot_h + 14}" class="tick" text-anchor="middle">{label(x, x_max)}</text>'
        )
    for y in y_ticks:
        parts.append(f'<line x1="{LEFT}" y1="{sy(y):.1f}" x2="{LEFT + plot_w}" y2="{sy(y):.1f}" class="grid"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{sy(y) + 4:.1f}" class="tick" text-anchor="end">{label(y, y_max)}</text>'
        )
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="frame"/>')
    if diagonal:
        start, end = log_from, min(x_max, y_max)
        parts.append(
            f'<line x1="{sx(start):.1f}" y1="{sy(start):.1f}" x2="{sx(end):.1f}" y2="{sy(end):.1f}" '
            f'stroke="{REFERENCE_COLOR}" stroke-dasharray="4 4"/>'
        )
    for line in series:
        points = _finite(line.points)
        if not points:
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{line.color}" stroke-width="2" '
            f'data-series="{escape(line.name)}"/>'
        )
        if line.markers:
            notes = line.notes if len(line.notes) == len(points) else ("",) * len(points)
            for (x, y), note in zip(points, notes, strict=True):
                title = f"<title>{escape(note)}</title>" if note else ""
                parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{line.color}">{title}</circle>')
    # The legend sits above the frame, where no curve can hide it.
    for i, line in enumerate(series):
        x = LEFT + i * 110
        parts.append(f'<rect x="{x}" y="{TOP - 16}" width="12" height="4" fill="{line.color}"/>')
        parts.append(f'<text x="{x + 16}" y="{TOP - 11}" class="legend">{escape(line.name)}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 8}" class="axis" text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text transform="translate(14 {TOP + plot_h / 2:.1f}) rotate(-90)" class="axis" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering [low, high]."""
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(s * power for s in (1, 2, 5, 10) if s * power >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(int(math.ceil((high - first) / step)) + 1)]


@dataclass(frozen=True)
class IntervalRow:
    """One row of an interval chart: a label, an estimate with its interval, and a flag."""

    label: str
    estimate: float
    low: float
    high: float
    failed: bool = False


def interval_chart(kind: str, title: str, value_label: str, rows: list[IntervalRow], reference: float = 0.0,
                   limit: float | None = None, signed: bool = True) -> str:
    """Horizontal intervals, one row each (a forest plot), e.g. the AUC change per slice.

    Args:
        kind: the element's `data-plot` attribute.
        title: the accessible title.
        value_label: the value axis label.
        rows: the intervals, drawn top to bottom; failed ones in red.
        reference: a value drawn as a solid line (e.g. no change).
        limit: a value drawn as a dashed line (e.g. the tolerated drop).
        signed: tick labels with their sign (for changes).
    """
    label_w = max([text_width(row.label) for row in rows] + [60]) + 16
    row_h, plot_w = 16, 420
    finite = [v for row in rows for v in (row.low, row.high) if math.isfinite(v)]
    low = min(finite + [reference] + ([limit] if limit is not None else []))
    high = max(finite + [reference] + ([limit] if limit is not None else []))
    ticks = nice_ticks(low, high)
    low, high = ticks[0], ticks[-1]
    height = 10 + row_h * len(rows) + BOTTOM
    width = label_w + plot_w + 3 * RIGHT

    def sx(value: float) -> float:
        return label_w + plot_w * (min(max(value, low), high) - low) / (high - low)

    top = 10
    bottom = top + row_h * len(rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="{escape(kind)}" '
        f'viewBox="0 0 {width:.0f} {height}" width="{width:.0f}" height="{height}" role="img">',
        f"<title>{escape(title)}</title>",
    ]
    tick_format = "{:+.2f}" if signed else "{:.2f}"
    for tick in ticks:
        parts.append(f'<line x1="{sx(tick):.1f}" y1="{top}" x2="{sx(tick):.1f}" y2="{bottom}" class="grid"/>')
        parts.append(
            f'<text x="{sx(tick):.1f}" y="{bottom + 14}" class="tick" text-anchor="middle">'
            f"{tick_format.format(tick)}</text>"
        )
    parts.append(f'<line x1="{sx(reference):.1f}" y1="{top}" x2="{sx(reference):.1f}" y2="{bottom}" '
                 f'stroke="{REFERENCE_COLOR}"/>')
    if limit is not None:
        parts.append(f'<line x1="{sx(limit):.1f}" y1="{top}" x2="{sx(limit):.1f}" y2="{bottom}" '
                     f'stroke="{BASELINE_COLOR}" stroke-dasharray="4 3"/>')
    for i, row in enumerate(rows):
        y = top + i * row_h + row_h / 2
        color = BASELINE_COLOR if row.failed else CANDIDATE_COLOR
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 4:.1f}" class="tick" text-anchor="end">{escape(row.label)}</text>'
        )
        tip = f"{row.label}: {row.estimate:+.4f} ({row.low:+.4f} to {row.high:+.4f})"
        parts.append(
            f'<rect x="{sx(row.low):.1f}" y="{y - 1.5:.1f}" width="{max(1.0, sx(row.high) - sx(row.low)):.1f}" '
            f'height="3" fill="{color}"><title>{escape(tip)}</title></rect>'
        )
        parts.append(f'<circle cx="{sx(row.estimate):.1f}" cy="{y:.1f}" r="3.5" fill="{color}"/>')
    parts.append(
        f'<text x="{label_w + plot_w / 2:.1f}" y="{height - 8}" class="axis" text-anchor="middle">'
        f"{escape(value_label)}</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
