"""Bar charts drawn as inline SVG text, with nothing but the standard library.

Every colour and stroke is a presentation attribute on the element itself, so a
chart reads the same with the page's stylesheet stripped (a mail client, a
plain viewer). Every bar is a ``<rect class="bar ...">`` with a ``<title>``
(the exact figure as a tooltip); every string is escaped, since labels come
from case ids. Charts carry ``data-bars`` so a reader (or a test) can tell how
many bars were meant without counting shapes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

from .document import AccuracyFigure
from .formatting import accuracy_number, threshold_text

LABEL_W, PLOT_W, VALUE_W = 250, 400, 230  # horizontal charts: label column, bars, value text
ROW_H, TITLE_H, LEGEND_H, AXIS_H = 22, 24, 18, 20
MAX_LABEL_CHARS = 38

BAR_FILL, FLAGGED_FILL, MISSES_FILL = "#3b6ea8", "#b8860b", "#b22222"
THRESHOLD_STROKE, REFERENCE_STROKE, AXIS_STROKE = "#b22222", "#555555", "#999999"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    shown: str  # the value as printed next to the bar
    flag: str = ""  # a warning printed after the value (e.g. "INVALID"); flagged bars get another colour


@dataclass(frozen=True)
class ThresholdRow:
    label: str
    figure: AccuracyFigure


def _a(text: object) -> str:
    return escape(str(text), quote=True)


def _short(label: str) -> str:
    # SVG text does not wrap: a long label would run off the left edge. The full text stays in <title>.
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _svg_open(kind: str, title: str, width: int, height: int, bars: int, heading: bool = True) -> str:
    opening = (f'<svg class="chart chart-{_a(kind)}" data-bars="{bars}" width="{width}" height="{height}" '
               f'viewBox="0 0 {width} {height}" role="img" aria-label="{_a(title)}">'
               f"<title>{_a(title)}</title>")
    if heading:
        opening += f'<text x="0" y="16" font-size="14" font-weight="bold">{_a(title)}</text>'
    return opening


def _row_label(y: float, label: str) -> str:
    return (f'<text x="{LABEL_W - 6}" y="{y + ROW_H / 2 + 4:.1f}" font-size="12" text-anchor="end">'
            f"<title>{_a(label)}</title>{_a(_short(label))}</text>")


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def bar_chart(kind: str, title: str, bars: Sequence[Bar]) -> str:
    """Horizontal bars from zero, one row per bar, the largest spanning the plot."""
    top = TITLE_H
    height = top + len(bars) * ROW_H + 6
    width = LABEL_W + PLOT_W + VALUE_W
    largest = max((b.value for b in bars if _finite(b.value) and b.value > 0), default=1.0)
    parts = [_svg_open(kind, title, width, height, len(bars))]
    for index, bar in enumerate(bars):
        y = top + index * ROW_H
        length = PLOT_W * bar.value / largest if _finite(bar.value) and bar.value > 0 else 0.0
        fill = FLAGGED_FILL if bar.flag else BAR_FILL
        shown = f"{bar.shown} {bar.flag}".strip()
        parts.append(_row_label(y, bar.label))
        parts.append(f'<rect class="bar{" flagged" if bar.flag else ""}" x="{LABEL_W}" y="{y + 4}" '
                     f'width="{length:.1f}" height="{ROW_H - 8}" fill="{fill}">'
                     f"<title>{_a(bar.label)}: {_a(shown)}</title></rect>")
        parts.append(f'<text x="{LABEL_W + length + 6:.1f}" y="{y + ROW_H / 2 + 4:.1f}" font-size="12">'
                     f"{_a(shown)}</text>")
    parts.append(f'<line x1="{LABEL_W}" y1="{top}" x2="{LABEL_W}" y2="{height - 6}" stroke="{AXIS_STROKE}"/>')
    parts.append("</svg>")
    return "".join(parts)


def threshold_axis(figures: Sequence[AccuracyFigure]) -> tuple[float, float]:
    """The axis range for accuracy bars: around the figures, not from zero.

    Accuracy passes at 99% (or 99.9%) of the reference, so from zero every bar
    would look the same length as its threshold; the range is zoomed to the
    figures with a margin, and the chart prints where it starts.
    """
    points = [p for f in figures for p in (f.value, f.threshold, f.reference, f.upper_threshold)
              if p is not None and _finite(p)]
    if not points:
        return 0.0, 1.0
    low, high = min(points), max(points)
    span = high - low or max(abs(high) * 0.01, 1e-9)
    low, high = low - span * 0.25, high + span * 0.25
    if min(points) >= 0 > low:
        low = 0.0  # a non-negative metric never needs a negative axis
    return low, high


def threshold_chart(title: str, rows: Sequence[ThresholdRow]) -> str:
    """One bar per case: its value, with its threshold (red, dashed) and reference (grey) marked on the row."""
    low, high = threshold_axis([row.figure for row in rows])
    top = TITLE_H + LEGEND_H
    height = top + len(rows) * ROW_H + AXIS_H
    width = LABEL_W + PLOT_W + VALUE_W

    def x(value: float) -> float:
        if not _finite(value):
            return LABEL_W
        return LABEL_W + PLOT_W * min(max((value - low) / (high - low), 0.0), 1.0)

    parts = [_svg_open("accuracy", title, width, height, len(rows)),
             f'<text x="0" y="{TITLE_H + 10}" font-size="11">bar: value · red dashed line: threshold · '
             f"grey line: reference · axis from {_a(accuracy_number(low))} to {_a(accuracy_number(high))}"
             f'{" (not from zero)" if low > 0 else ""}</text>']
    for index, row in enumerate(rows):
        figure, y = row.figure, top + index * ROW_H
        meets = figure.meets_threshold
        verdict = "meets" if meets else "misses"
        shown = f"{accuracy_number(figure.value)} ({threshold_text(figure)}: {verdict} threshold)"
        parts.append(_row_label(y, row.label))
        parts.append(f'<rect class="bar {verdict}" x="{LABEL_W}" y="{y + 4}" width="{x(figure.value) - LABEL_W:.1f}" '
                     f'height="{ROW_H - 8}" fill="{BAR_FILL if meets else MISSES_FILL}">'
                     f"<title>{_a(row.label)}: {_a(shown)}</title></rect>")
        for bound in (figure.threshold, figure.upper_threshold):
            if bound is not None:
                parts.append(f'<line class="threshold" x1="{x(bound):.1f}" y1="{y + 1}" x2="{x(bound):.1f}" '
                             f'y2="{y + ROW_H - 1}" stroke="{THRESHOLD_STROKE}" stroke-width="2" '
                             f'stroke-dasharray="4 2"><title>threshold {_a(accuracy_number(bound))}</title></line>')
        if figure.reference is not None:
            parts.append(f'<line class="reference" x1="{x(figure.reference):.1f}" y1="{y + 3}" '
                         f'x2="{x(figure.reference):.1f}" y2="{y + ROW_H - 3}" stroke="{REFERENCE_STROKE}" '
                         f'stroke-width="1"><title>reference {_a(accuracy_number(figure.reference))}</title></line>')
        parts.append(f'<text x="{LABEL_W + PLOT_W + 6}" y="{y + ROW_H / 2 + 4:.1f}" font-size="12">'
                     f"{_a(accuracy_number(figure.value))}{'' if meets else ' below threshold'}</text>")
    axis_y = top + len(rows) * ROW_H + 2
    parts.append(f'<line x1="{LABEL_W}" y1="{axis_y}" x2="{LABEL_W + PLOT_W}" y2="{axis_y}" stroke="{AXIS_STROKE}"/>')
    parts.append(f'<text x="{LABEL_W}" y="{axis_y + 14}" font-size="11">{_a(accuracy_number(low))}</text>')
    parts.append(f'<text x="{LABEL_W + PLOT_W}" y="{axis_y + 14}" font-size="11" text-anchor="end">'
                 f"{_a(accuracy_number(high))}</text>")
    parts.append("</svg>")
    return "".join(parts)


def column_chart(kind: str, title: str, bars: Sequence[Bar], width: int = 200, height: int = 64) -> str:
    """Small vertical bars from zero (latency percentiles) to sit in a table row.

    The title is only the tooltip and accessible name (the row says whose
    chart it is); labels are underneath, the exact figures in tooltips.
    """
    slot = width / max(len(bars), 1)
    plot_top, plot_bottom = 4, height - 15
    largest = max((b.value for b in bars if _finite(b.value) and b.value > 0), default=1.0)
    parts = [_svg_open(kind, title, width, height, len(bars), heading=False)]
    for index, bar in enumerate(bars):
        tall = (plot_bottom - plot_top) * bar.value / largest if _finite(bar.value) and bar.value > 0 else 0.0
        left = index * slot + slot * 0.2
        parts.append(f'<rect class="bar" x="{left:.1f}" y="{plot_bottom - tall:.1f}" width="{slot * 0.6:.1f}" '
                     f'height="{tall:.1f}" fill="{BAR_FILL}"><title>{_a(bar.label)}: {_a(bar.shown)}</title></rect>')
        parts.append(f'<text x="{index * slot + slot / 2:.1f}" y="{height - 3}" font-size="11" '
                     f'text-anchor="middle">{_a(bar.label)}</text>')
    parts.append(f'<line x1="0" y1="{plot_bottom}" x2="{width}" y2="{plot_bottom}" stroke="{AXIS_STROKE}"/>')
    parts.append("</svg>")
    return "".join(parts)
