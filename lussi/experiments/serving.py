"""Serving cost: CPU time per million digits and the memory a model needs to answer.

Read from the study's latency sweep (:func:`lussi.timing.latency_sweep`), which
times ``model.predict`` per batch size after a warm-up and records the median wall
time of a call and ``threads``, the CPUs the process could use then
(:func:`lussi.timing.available_cpus`; recorded, not enforced). Each model is
priced at its **best batch size**, the one of the lowest median time per image.

The sweep measures wall time, not CPU time, so CPU-seconds are bracketed:

- at least the wall time (one core busy throughout the call);
- at most wall time x ``threads`` (every core the process may use busy throughout:
  NumPy's BLAS, faiss and TensorFlow each start a pool of that many threads).

The upper figure is the one quoted ("assuming every core busy"): the cost of a
machine that serves nothing else. Memory is the fitted model's own bytes
(``nbytes``: a KNN's stored training features and index, a network's weights), not
the process around it.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pandas as pd

from .base import Experiment, colors, figure_of, model_keys, table_of
from .validation_scores import result_of

__all__ = ["EXPERIMENT", "ServingResult", "facts", "figure", "latency_of", "serving_costs", "table"]

VERSION = 1
MILLION = 1_000_000
COLUMNS = ["model", "batch_size", "call_path", "threads", "per_image_ms", "wall_seconds_per_million",
           "cpu_seconds_low", "cpu_seconds_high", "single_cpu_seconds_high", "memory_bytes"]


def serving_costs(latency: pd.DataFrame, memory_bytes: dict) -> pd.DataFrame:
    """Per model: its best batch size and the CPU-seconds per million digits there, and its memory.

    Parameters
    ----------
    latency : DataFrame
        A latency sweep: ``model``, ``batch_size``, ``median_s``, ``threads``,
        ``call_path`` (skipped cells have NaN ``median_s`` and are ignored).
    memory_bytes : dict of str to int
        Per value of ``latency["model"]``, the fitted model's bytes.

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS`, in the order of ``memory_bytes``: ``cpu_seconds_low`` /
        ``_high`` bracket the CPU time per million digits at the best batch size
        (one core, every recorded thread), ``single_cpu_seconds_high`` is the same
        upper figure one digit per call.
    """
    from .. import plotting

    plotting.require_columns(latency, ["model", "batch_size", "median_s", "threads", "call_path"], "latency")
    timed = latency[np.isfinite(latency["median_s"])].assign(
        per_image_s=lambda t: t["median_s"] / t["batch_size"])
    rows = []
    for model, bytes_ in memory_bytes.items():
        own = timed[timed["model"] == model]
        if own.empty:
            raise ValueError(f"the latency sweep has no timed row for {model!r}")
        # Ties go to the smaller batch (same cost, less waiting to fill it).
        best = own.sort_values(["per_image_s", "batch_size"], kind="stable").iloc[0]
        single = own[own["batch_size"] == 1]
        wall = float(best["per_image_s"]) * MILLION
        rows.append({"model": model, "batch_size": int(best["batch_size"]), "call_path": str(best["call_path"]),
                     "threads": int(best["threads"]), "per_image_ms": 1000 * float(best["per_image_s"]),
                     "wall_seconds_per_million": wall, "cpu_seconds_low": wall,
                     "cpu_seconds_high": wall * int(best["threads"]),
                     "single_cpu_seconds_high": float(single["per_image_s"].iloc[0] * single["threads"].iloc[0])
                     * MILLION if len(single) else float("nan"),
                     "memory_bytes": int(bytes_)})
    return pd.DataFrame(rows, columns=COLUMNS)


@dataclasses.dataclass(frozen=True)
class ServingResult:
    """Serving cost per model (see :func:`serving_costs`).

    Attributes
    ----------
    table : DataFrame
        Columns :data:`COLUMNS`; ``model`` holds model names.
    """

    table: pd.DataFrame

    SCHEMA: ClassVar[dict] = {"table": {"columns": list, "records": list}}

    def to_record(self) -> dict:
        from ..stages import records

        return {"table": records(self.table)}

    @classmethod
    def from_record(cls, record: dict) -> ServingResult:
        from ..stages import frame

        return cls(frame(record["table"]))

    def row(self, name: str) -> dict:
        """Model ``name``'s row as a dict."""
        from .selective import model_row

        return model_row(self.table, name)

    def to_frame(self, labels=None) -> pd.DataFrame:
        """A display table: best batch, CPU-seconds per million digits (range), memory."""
        from ..formats import megabytes

        labels, t = labels or {}, self.table
        return pd.DataFrame({
            "model": [labels.get(m, m) for m in t["model"]],
            "best batch": [f"{b:,}" for b in t["batch_size"]],
            "per digit": [f"{v:.3f} ms" for v in t["per_image_ms"]],
            "CPU-s per million digits (1 core – all cores)": [
                f"{lo:,.1f} – {hi:,.1f}" for lo, hi in t[["cpu_seconds_low", "cpu_seconds_high"]].to_numpy()],
            "same, one digit per call (all cores)": [f"{v:,.0f}" for v in t["single_cpu_seconds_high"]],
            "memory to serve": [megabytes(v) for v in t["memory_bytes"]],
            "call path": list(t["call_path"]),
        })

    def to_html(self, labels=None) -> str:
        from ..visualize import styled_table

        return styled_table(self.to_frame(labels))

    def plot(self, *, labels=None, colors=None):
        """Two bar panels: CPU-seconds per million digits (log, 1 core to all cores) and memory (log)."""
        from .. import plotting

        t = self.table
        names = [(labels or {}).get(m, m) for m in t["model"]]
        colours = plotting.colors_for(names, colors)
        fig, (cpu, memory) = plotting.new_figure(figsize=(9.0, 0.5 * len(t) + 2.2), ncols=2)
        y = np.arange(len(t))
        cpu.barh(y, t["cpu_seconds_high"], color=[colours[n] for n in names], alpha=0.35)
        cpu.barh(y, t["cpu_seconds_low"], color=[colours[n] for n in names])
        memory.barh(y, t["memory_bytes"] / 1e6, color=[colours[n] for n in names])
        for ax, title, xlabel in ((cpu, "CPU time at the best batch size", "CPU-seconds per million digits"),
                                  (memory, "Memory to serve", "MB (model arrays / weights)")):
            ax.set_xscale("log")
            ax.set_yticks(y, names)
            ax.invert_yaxis()
            ax.grid(alpha=0.3, axis="x")
            plotting.finish(ax, title=title, xlabel=xlabel)
        memory.set_yticklabels([])
        from matplotlib.patches import Patch

        cpu.legend(handles=[Patch(color="#777", alpha=0.35, label="all cores busy"),
                            Patch(color="#777", label="one core busy")], fontsize=8, loc="lower right")
        return fig


# --------------------------------------------------------------------------- the study


def latency_of(study) -> pd.DataFrame | None:
    """The study's latency sweep: ``study.result("latency")`` where the study has it, else ``study.latency``.

    A latency result held as ``(table, measured_at)`` (the stage's form) or with a
    ``table`` attribute gives its table.
    """
    found = study.result("latency")
    return None if found is None else found.table


def _skip(study) -> str | None:
    return "no latency sweep" if latency_of(study) is None else None


def inputs(study) -> dict:
    """The cache key: the models and the latency sweep's contents."""
    from ..cache import cache_key
    from ..stages import records

    return {"models": model_keys(study), "latency": cache_key(records(latency_of(study))), "version": VERSION}


def compute(study) -> ServingResult:
    labels = study.labels
    costs = serving_costs(latency_of(study), {labels[name]: study.costs(name)["memory_bytes"] for name in study.models})
    names = {label: name for name, label in labels.items()}
    return ServingResult(costs.assign(model=costs["model"].map(names)))


def facts(study) -> dict | None:
    """Numbers of ``serving.md.j2``: per model its cost, the headline pair, their ratios."""
    if _skip(study):
        return None
    result = result_of(study, EXPERIMENT)
    if result is None:
        return None
    knn, net = study.headline
    models = {name: {**result.row(name), "label": study.label(name)} for name in study.models}
    a, b = models[knn], models[net]
    return {"million": MILLION, "threads": int(result.table["threads"].max()), "knn": a, "net": b, "models": models,
            "cpu_ratio": a["cpu_seconds_high"] / b["cpu_seconds_high"],
            "memory_ratio": a["memory_bytes"] / b["memory_bytes"]}


def figure(study):
    """View: CPU time per million digits and memory, per model."""
    return figure_of(study, EXPERIMENT.name, colors=colors(study))


def table(study):
    """View: serving cost per model (an HTML block)."""
    return table_of(study, EXPERIMENT.name)


EXPERIMENT = Experiment(
    name="serving",
    describe="serving cost: CPU-seconds per million digits and memory",
    inputs=inputs,
    compute=compute,
    result=ServingResult,
    skip=_skip,
    after="latency",
    cost=1,
)
