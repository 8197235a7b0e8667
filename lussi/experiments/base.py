"""What an experiment of the study is, and how the study runs a declared list of them.

An experiment is one analysis of the study, in one module of :mod:`lussi.experiments`
that owns four things:

- its **computation**;
- its **result**: a frozen dataclass with ``SCHEMA``, ``to_record()`` and
  ``from_record()`` (the JSON form the cache stores), which also draws itself
  (``plot()`` / ``to_html()``, following scikit-learn's ``*Display`` objects: the
  result owns its plot, and the plot never recomputes);
- its **facts** for the text: ``facts(study) -> dict | None``, quoted by the
  template of the same name in ``lussi/report/templates/``;
- its **views**: functions of the study, one per report cell.

It declares itself as ``EXPERIMENT``, an :class:`Experiment`: its name, the inputs
its result depends on (which form the cache key) and how to compute it. Adding an
analysis is one such module, its template and its cells in ``report.qmd``, plus its
name in the declared list of :mod:`lussi.experiments`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from ..stages import Stage, run_stage

__all__ = ["Experiment", "colors", "relabel", "model_keys", "never", "note"]


def never(study) -> None:
    """A :attr:`Experiment.skip` for an experiment that applies to every study."""
    return None


def model_keys(study, names=None) -> dict:
    """Cache keys of the study's models (all, or ``names``): what an experiment of those models depends on."""
    return {name: study.models[name].entry.key for name in (names or study.models)}


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One analysis of the study, as data.

    Attributes
    ----------
    name : str
        Its key in :attr:`lussi.study.StudyResults.results` and the prefix of its cache entry.
    describe : str or callable
        The line logged before it runs (``describe(study) -> str`` when it depends on the study).
    inputs : callable
        ``inputs(study) -> dict``: JSON-ready description of everything the result depends on (the cache key).
    compute : callable
        ``compute(study) -> result``, an instance of ``result``.
    result : type
        The result's class: ``SCHEMA`` (keys its record must hold), ``to_record()`` and ``from_record(record)``.
    skip : callable
        ``skip(study) -> reason or None``: why it cannot apply to this study.
    after : str, optional
        Another experiment's name: when that one is skipped, this one is left out entirely.
    timed : bool
        Store the cold computation's seconds in the record (see :func:`lussi.stages.run_stage`).
    run : callable, optional
        ``run(study, cache, rebuild) -> (result, seconds)``, for an experiment made of several cached
        stages (the learning curves: one per model); default: one stage built from the fields above.
    cost : float
        Typical seconds of a cold run on a 2-core machine (measured with ``benchmarks/first_report.py``):
        only what the overall progress line estimates the time left from (:class:`lussi.progress.Steps`).
    """

    name: str
    describe: str | Callable[[Any], str]
    inputs: Callable[[Any], dict] | None
    compute: Callable[[Any], Any] | None
    result: type
    skip: Callable[[Any], str | None] = never
    after: str | None = None
    timed: bool = True
    run: Callable[[Any, Any, bool], tuple[Any, float]] | None = None
    cost: float = 5.0

    def stage(self) -> Stage:
        """The cached stage of this experiment (see :func:`lussi.stages.run_stage`)."""
        compute = self.compute
        return Stage(self.name, self.inputs, compute,
                     to_record=lambda result: result.to_record(), from_record=self.result.from_record,
                     schema=self.result.SCHEMA, timed=self.timed)

    def execute(self, study, cache, rebuild: bool = False) -> tuple[Any, float]:
        """``(result, seconds)``: read from ``cache``, or computed and stored there."""
        if self.run is not None:
            return self.run(study, cache, rebuild)
        return run_stage(self.stage(), study, cache, rebuild)


# --------------------------------------------------------------------------- what views share


def colors(study) -> dict[str, str]:
    """One colour per model label, stable across every figure of the report."""
    from ..plotting import model_colors

    return model_colors([study.label(name) for name in study.models])


def relabel(table, labels=None):
    """``table`` with its ``model`` column mapped through ``labels`` (model name -> label; unchanged when None)."""
    if not labels:
        return table
    return table.assign(model=[labels.get(name, name) for name in table["model"]])


def note(message: str) -> str:
    """An italic paragraph for a view that has nothing to show (the reason is the message)."""
    import html

    return f'<p class="lussi-note"><em>{html.escape(message)}</em></p>'


NOT_COMPUTED = "Not computed for this rendering (see the text above)."


def figure_of(study, name: str, **plot_options):
    """The view of experiment ``name``'s figure: its result's ``plot(labels=...)``, or a note when it was not run."""
    from ..visualize import HtmlBlock

    result = study.result(name)
    if result is None:
        return HtmlBlock(note(NOT_COMPUTED))
    return result.plot(labels=study.labels, **plot_options)


def table_of(study, name: str):
    """The view of experiment ``name``'s table: its result's ``to_html(labels)``, or a note when it was not run."""
    from ..visualize import HtmlBlock

    result = study.result(name)
    return HtmlBlock(note(NOT_COMPUTED) if result is None else result.to_html(study.labels))
