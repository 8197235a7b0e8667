"""Report prose from jinja2 templates fed by computed facts.

Templates live in ``lussi/report/templates/*.md.j2``. They receive the dict of
:func:`lussi.report.facts.summary_facts` plus any extra context, and format
numbers only through the filters below, so no figure is ever typed in.
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["render_text", "FILTERS"]

TEMPLATES = Path(__file__).with_name("templates")


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


FILTERS = {
    "pct": pct,
    "seconds": seconds,
    "ms": ms,
    "megabytes": megabytes,
    "times": times,
    "pvalue": pvalue,
    "count": count,
}


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,  # a missing fact is an error, never a blank in the report
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def render_text(name: str, facts: dict, **context) -> str:
    """Render ``templates/<name>.md.j2`` with ``facts`` (and extra context) to Markdown.

    Parameters
    ----------
    name : str
        Template name without ``.md.j2``.
    facts : dict
        Usually :func:`lussi.report.facts.summary_facts`.
    **context
        Extra variables.

    Returns
    -------
    str
        Markdown.
    """
    return _environment().get_template(f"{name}.md.j2").render(**facts, **context)
