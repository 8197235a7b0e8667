"""Prediction speed: the latency of every model by batch size, measured on this machine.

:func:`latency_sweep` times each model's predictions on one shared batch per
batch size: warm-up calls excluded, repeated, reported as median and 90th
percentile together with the batch size, thread count and call path, because
``model.predict`` and ``model(x, training=False)`` differ by orders of magnitude
per call. :class:`LatencyResult` holds the sweep, its facts and its figure;
:data:`EXPERIMENT` declares it to the study (cached per models, hardware and
profile: timing is a slow part of a render).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import progress
from ..formats import ms
from ..plotting import colors_for, finish, new_figure, require_columns
from ..timing import available_cpus, hardware_info, time_callable
from ..visualize import html_block, styled_table
from .base import Experiment, colors, model_keys

__all__ = ["EXPERIMENT", "SWEEP_COLUMNS", "LatencyResult", "facts", "figure", "latency_sweep", "plot_latency",
           "speed_facts", "table"]

SWEEP_COLUMNS = (
    "model",
    "batch_size",
    "median_s",
    "p90_s",
    "per_image_ms",
    "throughput_per_s",
    "repeats",
    "threads",
    "call_path",
    "note",
)


def _split_entry(name, entry) -> tuple[Callable, str]:
    if callable(entry):
        return entry, getattr(entry, "__qualname__", type(entry).__name__)
    if isinstance(entry, tuple) and len(entry) == 2 and callable(entry[0]):
        return entry[0], str(entry[1])
    raise TypeError(
        f"predict_fns[{name!r}] must be a callable or a (callable, call_path) pair, "
        f"got {type(entry).__name__}"
    )


def _for_model(name: str, setting) -> int | None:
    """A per-model setting given overall (an int or None) or per model name (a dict)."""
    if isinstance(setting, Mapping):
        return setting.get(name)
    return setting


def latency_sweep(
    predict_fns: Mapping[str, Callable[[np.ndarray], Any] | tuple[Callable, str]],
    images: np.ndarray,
    *,
    batch_sizes: Sequence[int] = (1, 10, 100, 1000, 10000),
    min_repeats: int = 3,
    max_repeats: int = 30,
    time_budget: float = 2.0,
    warmup: int = 1,
    max_batch: int | Mapping[str, int] | None = None,
    warmup_rows: int | Mapping[str, int] | None = None,
    threads: int | None = None,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Prediction latency per model and batch size, as a tidy table.

    For each batch size one batch is drawn from ``images`` (a seeded permutation,
    tiled when ``images`` holds fewer than the batch size) and shared by all models,
    so every model sees the same inputs. Each (model, batch size) cell makes
    ``warmup`` untimed calls, then at least ``min_repeats`` timed calls, continuing
    while the cell's timed calls total less than ``time_budget`` seconds and fewer
    than ``max_repeats`` were made. A sweep therefore takes roughly
    ``n_cells * max(time_budget, (warmup + min_repeats) * call time)``.

    Parameters
    ----------
    predict_fns : dict of str -> callable or (callable, call_path)
        Model name to a function called as ``fn(batch)``. ``call_path`` is a label
        recorded as given (e.g. ``"model.predict"``, ``"model(x, training=False)"``);
        for a bare callable its qualified name is used.
    images : ndarray of shape (n, h, w)
        Pool of inputs (uint8 by lussi convention; passed through untouched).
    batch_sizes : sequence of int, default (1, 10, 100, 1000, 10000)
    min_repeats, max_repeats : int, default 3 and 30
        Bounds on timed calls per cell.
    time_budget : float, default 2.0
        Seconds of timed calls per cell after which repeating stops (once
        ``min_repeats`` are done).
    warmup : int, default 1
        Untimed calls per cell.
    max_batch : int or dict of str -> int, optional
        Largest batch size to run, overall or per model name (models missing from
        the dict are unlimited). Larger cells are kept as rows with NaN timings, 0
        repeats and a ``note`` saying why.
    warmup_rows : int or dict of str -> int, optional
        Rows of the batch that the warm-up calls predict, overall or per model
        name (missing models, and None, warm up on the whole batch). A model
        whose one-time costs do not depend on the batch's shape (a k-NN search:
        thread pools, page-ins) is warmed up as well by a few rows as by 10,000,
        at a fraction of the time; a network traces a graph per input shape and
        needs the whole batch.
    threads : int, optional
        Thread count to record; defaults to :func:`available_cpus`. Recorded, not
        enforced: limit threads in the callables (e.g. ``threadpoolctl``) if needed.
    random_state : int or None, default 0
        Seed for drawing the batches.

    Returns
    -------
    DataFrame
        One row per (model, batch size) with columns ``model``, ``batch_size``,
        ``median_s``, ``p90_s`` (seconds per call), ``per_image_ms`` (median / batch
        size, in ms), ``throughput_per_s`` (images per second at the median),
        ``repeats``, ``threads``, ``call_path`` and ``note`` (empty unless skipped).
    """
    if not isinstance(predict_fns, Mapping) or not predict_fns:
        raise ValueError("predict_fns must be a non-empty dict of model name -> callable")
    entries = {name: _split_entry(name, entry) for name, entry in predict_fns.items()}
    images = np.asarray(images)
    if images.ndim < 2 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty batch of shape (n, h, w), got shape {images.shape}")
    sizes = [int(b) for b in batch_sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"batch_sizes must be positive integers, got {list(batch_sizes)}")
    if min_repeats < 1 or max_repeats < min_repeats:
        raise ValueError(f"need 1 <= min_repeats <= max_repeats, got {min_repeats} and {max_repeats}")
    if time_budget < 0:
        raise ValueError(f"time_budget must be >= 0 seconds, got {time_budget}")
    threads = available_cpus() if threads is None else int(threads)

    rng = np.random.default_rng(random_state)
    order = rng.permutation(images.shape[0])
    rows = []
    bar = progress.bar(desc="latency", total=len(sizes) * len(entries), unit="cell")
    try:
        for size in sizes:
            # np.resize repeats the permutation when the pool is smaller than the batch.
            batch = images[np.resize(order, size)]
            for name, (fn, call_path) in entries.items():
                bar.set_description(f"{name} batch {size}")
                limit = _for_model(name, max_batch)
                row = {"model": name, "batch_size": size, "threads": threads, "call_path": call_path}
                if limit is not None and size > limit:
                    row.update(
                        median_s=np.nan,
                        p90_s=np.nan,
                        per_image_ms=np.nan,
                        throughput_per_s=np.nan,
                        repeats=0,
                        note=f"skipped: batch size {size} > max_batch {limit}",
                    )
                else:
                    rows_limit = _for_model(name, warmup_rows)
                    warm_batch = batch if rows_limit is None else batch[:max(1, rows_limit)]
                    for _ in range(warmup):
                        fn(warm_batch)
                    times = time_callable(
                        lambda fn=fn, batch=batch: fn(batch),
                        repeats=min_repeats,
                        warmup=0,
                        min_seconds=time_budget,
                        max_repeats=max_repeats,
                    )
                    median = float(np.median(times))
                    row.update(
                        median_s=median,
                        p90_s=float(np.percentile(times, 90)),
                        per_image_ms=1000.0 * median / size,
                        throughput_per_s=size / median if median > 0 else np.inf,
                        repeats=int(times.size),
                        note="",
                    )
                rows.append(row)
                bar.update()
    finally:
        bar.close()
    table = pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))
    return table.astype({"batch_size": np.int64, "repeats": np.int64, "threads": np.int64})


def plot_latency(sweep_df: pd.DataFrame, *, colors: Mapping[str, str] | None = None):
    """Latency sweep on log-log axes: ms per image and images per second vs batch size.

    Parameters
    ----------
    sweep_df : DataFrame
        From :func:`latency_sweep`; skipped (NaN) cells are left out.
        The band spans median to 90th percentile.
    colors : dict of str -> colour, optional
        Keyed by model name; a model timed through several call paths gets one
        line style per path.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes, one line per (model, call_path) on each.
    """
    require_columns(sweep_df, ["model", "batch_size", "median_s", "p90_s"], "sweep_df")
    data = sweep_df.dropna(subset=["median_s"])
    if data.empty:
        raise ValueError("sweep_df has no measured cells (every median_s is NaN)")
    if "call_path" not in data:
        data = data.assign(call_path="")
    palette = colors_for(list(pd.unique(data["model"])), colors)
    styles = ("-", "--", ":", "-.")
    fig, (per_ax, thr_ax) = new_figure(figsize=(10.0, 3.8), ncols=2)
    for model, by_model in data.groupby("model", sort=False):
        paths = list(pd.unique(by_model["call_path"]))
        for j, path in enumerate(paths):
            part = by_model[by_model["call_path"] == path].sort_values("batch_size")
            batch = part["batch_size"].to_numpy(dtype=float)
            median = part["median_s"].to_numpy(dtype=float)
            p90 = part["p90_s"].to_numpy(dtype=float)
            label = model if len(paths) == 1 else f"{model} · {path}"
            style = dict(
                color=palette[str(model)], linestyle=styles[j % len(styles)], marker="o", label=label
            )
            per_ax.plot(batch, 1000 * median / batch, **style)
            per_ax.fill_between(
                batch,
                1000 * median / batch,
                1000 * p90 / batch,
                color=palette[str(model)],
                alpha=0.15,
                linewidth=0,
            )
            thr_ax.plot(batch, batch / median, **style)
            thr_ax.fill_between(
                batch, batch / p90, batch / median, color=palette[str(model)], alpha=0.15, linewidth=0
            )
    for ax in (per_ax, thr_ax):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    finish(per_ax, title="Latency per image", xlabel="batch size (images)", ylabel="ms per image (median)")
    finish(thr_ax, title="Throughput", xlabel="batch size (images)", ylabel="images per second")
    thr_ax.legend(fontsize=9)
    return fig


@dataclasses.dataclass(frozen=True, eq=False)
class LatencyResult:
    """The latency sweep (``model`` holding model labels) and when it was measured (``time.time()``)."""

    table: pd.DataFrame
    measured_at: float

    SCHEMA = {"latency": list, "measured_at": float}

    def to_record(self) -> dict:
        return {"latency": self.table.to_dict(orient="records"), "measured_at": self.measured_at}

    @classmethod
    def from_record(cls, record: Mapping) -> LatencyResult:
        return cls(pd.DataFrame(record["latency"]), record["measured_at"])

    def plot(self, *, colors: Mapping[str, str] | None = None):
        """:func:`plot_latency` of the sweep."""
        return plot_latency(self.table, colors=colors)

    def shown(self) -> pd.DataFrame:
        """The sweep for the report's table: median, p90 and per image as text, throughput, call path."""
        table = self.table.copy()
        table["median"] = [ms(1000 * v) for v in table["median_s"]]
        table["p90"] = [ms(1000 * v) for v in table["p90_s"]]
        table["per image"] = [ms(v) for v in table["per_image_ms"]]
        table["images/s"] = [f"{v:,.0f}" for v in table["throughput_per_s"]]
        columns = ["model", "batch_size", "median", "p90", "per image", "images/s", "repeats", "call_path"]
        return table[[c for c in columns if c in table.columns]].rename(
            columns={"batch_size": "batch", "call_path": "call path"})

    def compare(self, label_a: str, label_b: str) -> list[dict]:
        """Per batch size: median seconds of the models labelled ``label_a`` and ``label_b`` (both measured)."""
        rows = []
        for batch_size in sorted(self.table["batch_size"].unique()):
            at = self.table[self.table["batch_size"] == batch_size]
            ra, rb = at[at["model"] == label_a], at[at["model"] == label_b]
            if ra.empty or rb.empty:
                continue
            ma, mb = float(ra["median_s"].iloc[0]), float(rb["median_s"].iloc[0])
            if math.isfinite(ma) and math.isfinite(mb):
                rows.append({"batch_size": int(batch_size), "a": ma, "b": mb,
                             "a_path": str(ra["call_path"].iloc[0]) if "call_path" in ra else "",
                             "b_path": str(rb["call_path"].iloc[0]) if "call_path" in rb else ""})
        return rows


# --------------------------------------------------------------------------- the experiment


def _inputs(study) -> dict:
    hardware, profile = hardware_info(), study.profile
    return {
        "models": model_keys(study),
        "batch_sizes": list(profile.latency_batch_sizes),
        "budget": profile.latency_budget_s,
        "knn_warmup_rows": KNN_WARMUP_ROWS,
        "cpu": hardware.get("cpu_model"),
        "cores": hardware.get("logical_cores"),
        "data": study.dataset.fingerprint,
    }


# Rows a k-NN model warms up on (see latency_sweep's warmup_rows).
KNN_WARMUP_ROWS = 100


def _compute(study) -> LatencyResult:
    fns = {study.label(name): (t.model.predict, t.model.call_path(1)) for name, t in study.models.items()}
    warmup_rows = {study.label(name): KNN_WARMUP_ROWS for name, t in study.models.items() if t.model.family == "knn"}
    profile = study.profile
    sweep = latency_sweep(fns, study.dataset.test_images, batch_sizes=profile.latency_batch_sizes,
                          time_budget=profile.latency_budget_s, warmup_rows=warmup_rows, random_state=profile.seed)
    return LatencyResult(sweep, time.time())


EXPERIMENT = Experiment("latency", "timing predictions (latency sweep)", _inputs, _compute, LatencyResult,
                        timed=False, cost=55)


def speed_facts(study, a: str, b: str) -> list[dict]:
    """Per batch size: median per-call and per-image time of models ``a`` and ``b``, and which is faster."""
    result = study.result("latency")
    if result is None:
        return []
    rows = []
    for row in result.compare(study.label(a), study.label(b)):
        ma, mb, batch_size = row["a"], row["b"], row["batch_size"]
        winner = a if ma <= mb else b
        rows.append({
            "batch_size": batch_size,
            "a_ms": 1000 * ma,
            "b_ms": 1000 * mb,
            "a_per_image_ms": 1000 * ma / batch_size,
            "b_per_image_ms": 1000 * mb / batch_size,
            "winner": winner,
            "winner_label": study.label(winner),
            "ratio": max(ma, mb) / min(ma, mb) if min(ma, mb) > 0 else float("inf"),
            "a_path": row["a_path"],
            "b_path": row["b_path"],
        })
    return rows


def facts(study) -> dict:
    """The speed paragraph's numbers for the headline pair: ``speed`` (per batch size), ``single`` (batch
    size 1) and ``largest_batch`` (None where not measured)."""
    speed = speed_facts(study, *study.headline)
    return {"speed": speed, "single": next((row for row in speed if row["batch_size"] == 1), None),
            "largest_batch": speed[-1] if speed else None}


def figure(study):
    """Per-image time and throughput against batch size, log-log."""
    return study.result("latency").plot(colors=colors(study))


@html_block
def table(study) -> str:
    """Median and 90th-percentile latency per model and batch size, with throughput."""
    return styled_table(study.result("latency").shown())
