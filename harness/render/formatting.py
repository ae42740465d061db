"""How figures are printed in the report and the summary (one place, so both agree)."""
from __future__ import annotations

import math

from .document import AccuracyFigure, PerformanceFigure

MISSING = "-"


def accuracy_number(value: float) -> str:
    # Three decimals, as the terminal summary table prints accuracy.
    return f"{value:.3f}" if math.isfinite(value) else str(value)


def threshold_text(figure: AccuracyFigure) -> str:
    text = f"≥ {accuracy_number(figure.threshold)}"
    if figure.upper_threshold is not None:
        text += f" and ≤ {accuracy_number(figure.upper_threshold)}"
    return text


def rate(value: float | None, unit: str) -> str:
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return f"{value} {unit}"
    return f"{value:,.2f} {unit}"


def latency_ns(value: float | None) -> str:
    """A LoadGen latency (nanoseconds) in the unit that keeps about three significant figures."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return str(value)
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if abs(value) >= scale:
            return f"{value / scale:,.3f} {unit}"
    return f"{value:,.0f} ns"


def performance_value(figure: PerformanceFigure) -> str:
    if figure.unit == "ns":
        return latency_ns(figure.value)
    text = rate(figure.value, figure.unit)
    if figure.tokens_per_second is not None:
        text += f" ({rate(figure.tokens_per_second, 'tokens/s')})"
    return text


def seconds(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.1f} s"
