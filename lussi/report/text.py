"""Report prose from jinja2 templates fed by computed facts.

Templates live in ``lussi/report/templates/*.md.j2``. They receive the dict of
:func:`lussi.report.facts.summary_facts` plus any extra context, and format
numbers only through the filters below, so no figure is ever typed in.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..formats import count, megabytes, ms, pct, pvalue, seconds, times

__all__ = ["FILTERS", "count", "megabytes", "ms", "pct", "pvalue", "render_text", "seconds", "times"]

TEMPLATES = Path(__file__).with_name("templates")


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
