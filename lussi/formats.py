"""Numbers as the report writes them: percentages, durations, sizes, ratios, p-values, counts.

The one place these formats live: the report's templates use them as Jinja
filters (:mod:`lussi.report.text`) and the views and experiments use them in
tables, so a number reads the same in the text and in a table.
"""

from __future__ import annotations

__all__ = ["count", "megabytes", "ms", "pct", "pvalue", "seconds", "times"]


def pct(value: float, digits: int = 2) -> str:
    """0.98765 -> '98.77%'."""
    return f"{100 * value:.{digits}f}%"


def seconds(value: float) -> str:
    """Seconds with sensible precision: '0.42 s', '12.3 s', '3 min 05 s'."""
    if value < 1:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s"


def ms(value: float) -> str:
    """Milliseconds: '0.031 ms', '1.25 ms', '142 ms'."""
    if value < 0.1:
        return f"{value:.3f} ms"
    if value < 10:
        return f"{value:.2f} ms"
    return f"{value:,.0f} ms"


def megabytes(value: float) -> str:
    """Bytes -> '1.2 MB' (decimal megabytes)."""
    mb = value / 1e6
    return f"{mb:.2f} MB" if mb < 10 else f"{mb:,.0f} MB"


def times(value: float) -> str:
    """A ratio: '3.2×', '41×'."""
    return f"{value:.1f}×" if value < 10 else f"{value:,.0f}×"


def pvalue(value: float) -> str:
    """'p = 0.032', 'p < 0.001'."""
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def count(value: int) -> str:
    """12345 -> '12,345'."""
    return f"{int(value):,}"
