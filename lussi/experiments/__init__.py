"""The study's analyses, one module each, and the declared lists the study runs.

Each module owns an analysis's computation, its result (with the record form the
cache stores and the figures it draws), its facts for the text and its views for
``report.qmd`` (see :mod:`lussi.experiments.base` for the contract). The study runs
:data:`CORE` after training its models and, when asked for extras, :data:`EXTRAS`,
in order, through :func:`run_experiments`.

Adding an analysis: write its module here, add it to :data:`EXTRAS`, write its
template in ``lussi/report/templates/`` and its cells in ``report.qmd``.
"""

from __future__ import annotations

import dataclasses

from .. import interrupts, progress
from . import (calibration, denoise, drawn, latency, learning, pad, postal, real, robustness, seed_split,
               selective, serving, validation_scores)
from .base import Experiment

__all__ = ["ALL", "CORE", "EXTRAS", "Experiment", "run_experiments"]

# Run by every study: the seed's own split, and the latency sweep unless timing is switched off.
CORE = (latency, seed_split)
# Run when the study is asked for extras (the report does), in this order.
EXTRAS = (pad, robustness, denoise, learning, drawn, real, validation_scores, selective, calibration, postal,
          serving)
ALL = CORE + EXTRAS


def run_experiments(study, modules, *, cache, rebuild: bool = False, steps=None):
    """``study`` with the results of the experiments of ``modules`` (cached) and how each went.

    Parameters
    ----------
    study : StudyResults
    modules : sequence of modules
        Each with an ``EXPERIMENT`` (:class:`Experiment`), run in order.
    cache : Cache
    rebuild : bool
        Recompute even when cached.
    steps : lussi.progress.Steps, optional
        The run's overall progress line, told when each experiment starts.

    Returns
    -------
    StudyResults
        A copy of ``study``: ``results`` holds each computed experiment's result by name, and ``experiments``
        says per experiment whether it was computed, its cold seconds and, when skipped, why.
    """
    results, status = dict(study.results), dict(study.experiments)
    for module in modules:
        experiment: Experiment = module.EXPERIMENT
        if experiment.after is not None and status.get(experiment.after, {}).get("computed") is False:
            if steps is not None:
                steps.start(f"{experiment.name}: left out (it needs {experiment.after})")
            continue
        reason = experiment.skip(study)
        if reason is not None:
            status[experiment.name] = {"computed": False, "seconds": 0.0, "reason": reason}
            if steps is not None:
                steps.start(f"{experiment.name}: skipped ({reason})")
            continue
        interrupts.check()
        describe = experiment.describe(study) if callable(experiment.describe) else experiment.describe
        if steps is not None:
            steps.start(describe)
        else:
            progress.log.info("%s", describe)
        result, seconds = experiment.execute(dataclasses.replace(study, results=results), cache, rebuild)
        results[experiment.name] = result
        status[experiment.name] = {"computed": True, "seconds": seconds}
        study = dataclasses.replace(study, results=results, experiments=status)
    return dataclasses.replace(study, results=results, experiments=status)
