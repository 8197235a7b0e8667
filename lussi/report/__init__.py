"""The report: facts and prose from results, and views for report.qmd's cells.

``report.qmd`` calls :func:`load_study` once, then one function of
:mod:`lussi.report.views` per cell. Turning the .qmd into HTML and revealjs
slides is the renderer's work (:mod:`lussi.render`, which ``lussi render``
calls); nothing here imports it.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["load_study"]


def _under_quarto() -> bool:
    # Quarto's Jupyter runner sets these for the kernel it starts (src/resources/jupyter/notebook.py).
    return "QUARTO_FIG_FORMAT" in os.environ and "QUARTO_FIG_WIDTH" in os.environ


@contextlib.contextmanager
def _progress_to_terminal():
    """Under Quarto, send the study's progress to the terminal Quarto runs in.

    Quarto keeps a cell's stderr stream for the document (where ``warning: false``
    drops it) and shows none of it while the cell runs; what the kernel writes to
    file descriptor 2 reaches Quarto's terminal. The built-in engine relays the
    stderr stream itself, so nothing changes there.
    """
    if not _under_quarto():
        yield
        return
    with os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace") as terminal:
        with contextlib.redirect_stderr(terminal):
            yield


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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from ..study import run_study

    with _progress_to_terminal():
        return run_study(profile, dataset=dataset, **options)
