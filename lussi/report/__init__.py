"""The report: facts and prose from results, views for report.qmd's cells, and the renderer.

``report.qmd`` calls :func:`load_study` once, then one function of
:mod:`lussi.report.views` per cell. :mod:`lussi.report.render` turns the .qmd
into HTML and revealjs slides, with Quarto when it is installed and with the
built-in engine (Jupyter kernel + pandoc) otherwise.
"""

from __future__ import annotations

__all__ = ["load_study"]


def load_study(profile: str = "full", dataset: str = "mnist", **options):
    """Run (or load from the cache) the study for a report, with progress on stderr.

    Parameters
    ----------
    profile : str
        ``"full"`` or ``"quick"``.
    dataset : str
        ``"mnist"``, ``"digits"`` or a directory of idx files.
    **options
        Passed to :func:`lussi.study.run_study`.

    Returns
    -------
    StudyResults
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from ..study import run_study

    return run_study(profile, dataset=dataset, **options)
