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
    """One line of a chart: a name for the legend, a colour and (x, y) points."""

    name: str
    color: str
    points: list[tuple[float, float]]
    markers: bool = False


def _finite(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    step = (high - low) / count
    return [low + i * step for i in range(count + 1)]


def line_chart(
    kind: str,
    title: str,
    x_label: str,
    y_label: str,
    series: list[Series],
    x_max: float = 1.0,
    y_max: float = 1.0,
    diagonal: bool = False,
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
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + plot_w * min(max(x / x_max, 0.0), 1.0)

    def sy(y: float) -> float:
        return TOP + plot_h * (1 - min(max(y / y_max, 0.0), 1.0))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="{escape(kind)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">',
        f"<title>{escape(title)}</title>",
    ]
    for x in _ticks(0, x_max):
        parts.append(f'<line x1="{sx(x):.1f}" y1="{TOP}" x2="{sx(x):.1f}" y2="{TOP + plot_h}" class="grid"/>')
        parts.append(f'<text x="{sx(x):.1f}" y="{TOP + plot_h + 14}" class="tick" text-anchor="middle">{x:.2g}</text>')
    for y in _ticks(0, y_max):
        parts.append(f'<line x1="{LEFT}" y1="{sy(y):.1f}" x2="{LEFT + plot_w}" y2="{sy(y):.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{sy(y) + 4:.1f}" class="tick" text-anchor="end">{y:.2g}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="frame"/>')
    if diagonal:
        end = min(x_max, y_max)
        parts.append(
            f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(end):.1f}" y2="{sy(end):.1f}" '
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
            parts.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{line.color}"/>' for x, y in points)
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


def bar_chart(
    kind: str,
    title: str,
    value_label: str,
    rows: list[tuple[str, list[tuple[str, str, float | None]]]],
    low: float = 0.5,
    high: float = 1.0,
) -> str:
    """Horizontal grouped bars, one group per row, e.g. AUC per slice for each model.

    Args:
        kind: the element's `data-plot` attribute.
        title: the accessible title.
        value_label: the value axis label.
        rows: (row label, [(series name, colour, value or None)]).
        low: the value axis start.
        high: the value axis end.
    """
    label_w, bar_h, gap = 230, 9, 8
    group_h = max(1, max((len(bars) for _, bars in rows), default=1)) * bar_h + gap
    plot_w = WIDTH + 140 - label_w - RIGHT
    height = TOP + group_h * len(rows) + BOTTOM
    width = label_w + plot_w + RIGHT

    def sx(value: float) -> float:
        return label_w + plot_w * min(max((value - low) / (high - low), 0.0), 1.0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="{escape(kind)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">',
        f"<title>{escape(title)}</title>",
    ]
    bottom = TOP + group_h * len(rows)
    for tick in _ticks(low, high):
        parts.append(f'<line x1="{sx(tick):.1f}" y1="{TOP}" x2="{sx(tick):.1f}" y2="{bottom}" class="grid"/>')
        parts.append(f'<text x="{sx(tick):.1f}" y="{bottom + 14}" class="tick" text-anchor="middle">{tick:.2f}</text>')
    for i, (label, bars) in enumerate(rows):
        top = TOP + i * group_h
        parts.append(
            f'<text x="{label_w - 8}" y="{top + len(bars) * bar_h / 2 + 4:.1f}" class="tick" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        for j, (name, color, value) in enumerate(bars):
            if value is None or not math.isfinite(value):
                continue
            y = top + j * bar_h
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{sx(value) - label_w:.1f}" height="{bar_h - 1}" '
                f'fill="{color}"><title>{escape(label)}: {escape(name)} {value:.4f}</title></rect>'
            )
    parts.append(
        f'<text x="{label_w + plot_w / 2:.1f}" y="{height - 8}" class="axis" text-anchor="middle">'
        f"{escape(value_label)}</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
