"""Robustness: accuracy of the chosen models on perturbed copies of the test split.

:func:`robustness_table` makes each perturbed test set once (the perturbations
of :mod:`lussi.perturbations`) and lets every model predict it, so the models
are compared on the very same images. :class:`RobustnessResult` holds the table,
its facts and its figure; :data:`EXPERIMENT` declares it to the study.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import progress
from ..analysis import accuracy_interval
from ..perturbations import Perturbation, default_perturbations
from ..plotting import LABEL_SIZE, TICK_SIZE, TITLE_SIZE, colors_for, require_columns
from ..stages import TABLE_SCHEMA, frame, records
from ..validation import check_image_batch
from ..visualize import html_block, styled_table
from .base import Experiment, colors, model_keys, relabel

__all__ = ["EXPERIMENT", "RobustnessResult", "facts", "figure", "plot_robustness", "robustness_facts",
           "robustness_table", "table"]

# Bump to recompute every cached robustness table (shared with the other extras of the first study).
VERSION = 1

# Axis label per perturbation kind of default_perturbations (plot_robustness falls back to "level").
UNITS = {
    "gaussian noise": "noise σ (pixel units, 0–255)",
    "shift": "shift (pixels, random direction)",
    "rotation": "rotation (degrees, random sign)",
    "seed noise": "uniform noise, upper bound (pixel units)",
}


def robustness_table(
    predict_fns: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    images,
    labels,
    *,
    perturbations: Sequence[Perturbation] | None = None,
    random_state: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Accuracy of each model on each perturbed version of a test set.

    Each perturbed set is made once and predicted by every model; a set equal
    to one already predicted (every kind's level 0 is the clean set) reuses
    those predictions.

    Parameters
    ----------
    predict_fns : dict of str -> callable
        Model name to ``predict(images) -> labels`` (e.g. ``model.predict``).
    images : ndarray of shape (n, h, w), uint8
        Test images.
    labels : ndarray of shape (n,), int
    perturbations : sequence of Perturbation, optional
        Default :func:`default_perturbations` for the images' shape.
    random_state : int, default 0
        Seeds every perturbation (see :meth:`Perturbation.apply`).
    confidence : float, default 0.95
        Level of the Wilson intervals.

    Returns
    -------
    DataFrame
        One row per (perturbation, model), in perturbation order: columns
        ``perturbation`` (kind), ``level``, ``label``, ``model``, ``accuracy``,
        ``low``, ``high`` (Wilson interval), ``n``.
    """
    images = check_image_batch(images, dtype=np.uint8)
    labels = np.asarray(labels)
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers of shape ({len(images)},), got {labels.dtype} {labels.shape}")
    if not isinstance(predict_fns, Mapping) or not predict_fns:
        raise ValueError("predict_fns must be a non-empty dict of model name -> predict(images) callable")
    for name, fn in predict_fns.items():
        if not callable(fn):
            raise TypeError(f"predict_fns[{name!r}] must be callable, got {type(fn).__name__}")
    if perturbations is None:
        perturbations = default_perturbations(images.shape[1:])
    if not perturbations:
        raise ValueError("perturbations is empty; pass at least one Perturbation")

    seen: dict[str, dict[str, np.ndarray]] = {}
    rows = []
    for perturbation in progress.bar(perturbations, desc="robustness", unit="set"):
        perturbed = perturbation.apply(images, random_state=random_state)
        digest = hashlib.sha256(perturbed.tobytes()).hexdigest()
        if digest not in seen:
            seen[digest] = {name: np.asarray(fn(perturbed)) for name, fn in predict_fns.items()}
        for name, predicted in seen[digest].items():
            ci = accuracy_interval(labels, predicted, confidence=confidence)
            rows.append({
                "perturbation": perturbation.name,
                "level": float(perturbation.level),
                "label": perturbation.label,
                "model": str(name),
                "accuracy": ci.accuracy,
                "low": ci.low,
                "high": ci.high,
                "n": ci.n,
            })
    table = pd.DataFrame(rows, columns=["perturbation", "level", "label", "model", "accuracy", "low", "high", "n"])
    table.attrs["confidence"] = confidence
    return table


def robustness_facts(table: pd.DataFrame, a: str, b: str) -> dict:
    """Numbers the report's robustness paragraph quotes, for two models of a :func:`robustness_table`.

    Parameters
    ----------
    table : DataFrame
        From :func:`robustness_table`.
    a, b : str
        Model names (e.g. the best KNN and the best network).

    Returns
    -------
    dict
        ``a``, ``b``, ``n`` (test images) and ``kinds``: one dict per
        perturbation kind, in table order, with ``name``, ``label`` (of its
        strongest level), ``a_clean``/``b_clean`` (accuracy at the lowest
        level), ``a_worst``/``b_worst`` (at the strongest level),
        ``a_drop``/``b_drop`` (clean minus worst), ``more_robust`` (the model
        with the smaller drop, or None when the strongest level's 95 %
        intervals overlap) and ``levels``: per level ``label``, ``a``, ``b``.
    """
    require_columns(table, ["perturbation", "level", "label", "model", "accuracy", "low", "high", "n"], "table")
    for name in (a, b):
        if name not in set(table["model"]):
            raise ValueError(f"model {name!r} is not in the table; it has {sorted(set(table['model']))}")
    kinds = []
    for kind in pd.unique(table["perturbation"]):
        part = table[table["perturbation"] == kind].sort_values("level", kind="stable")
        rows = {name: part[part["model"] == name].set_index("level") for name in (a, b)}
        lowest, highest = part["level"].min(), part["level"].max()
        worst = {name: rows[name].loc[highest] for name in (a, b)}
        drop = {name: float(rows[name].loc[lowest, "accuracy"] - worst[name]["accuracy"]) for name in (a, b)}
        overlap = worst[a]["low"] <= worst[b]["high"] and worst[b]["low"] <= worst[a]["high"]
        kinds.append({
            "name": str(kind),
            "label": str(worst[a]["label"]),
            "a_clean": float(rows[a].loc[lowest, "accuracy"]),
            "b_clean": float(rows[b].loc[lowest, "accuracy"]),
            "a_worst": float(worst[a]["accuracy"]),
            "b_worst": float(worst[b]["accuracy"]),
            "a_drop": drop[a],
            "b_drop": drop[b],
            "more_robust": None if overlap else (a if drop[a] < drop[b] else b),
            "levels": [
                {"label": str(rows[a].loc[level, "label"]), "a": float(rows[a].loc[level, "accuracy"]),
                 "b": float(rows[b].loc[level, "accuracy"])}
                for level in rows[a].index
            ],
        })
    return {"a": a, "b": b, "n": int(table["n"].iloc[0]), "kinds": kinds}


def plot_robustness(table: pd.DataFrame, *, colors: Mapping[str, str] | None = None, units: Mapping[str, str] | None = None):
    """Accuracy against perturbation strength: one axes per kind, one line per model.

    Parameters
    ----------
    table : DataFrame
        From :func:`robustness_table` (``perturbation``, ``level``, ``label``,
        ``model``, ``accuracy``; ``low``/``high`` drawn as a band if present).
    colors : dict of str -> colour, optional
        From :func:`lussi.plotting.model_colors`.
    units : dict of str -> str, optional
        x-axis label per perturbation kind; defaults cover
        :func:`default_perturbations`, others read "level".

    Returns
    -------
    matplotlib.figure.Figure
        ``n_kinds`` axes sharing the accuracy scale, one line per model each.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    require_columns(table, ["perturbation", "level", "label", "model", "accuracy"], "table")
    kinds = list(pd.unique(table["perturbation"]))
    models = [str(m) for m in pd.unique(table["model"])]
    palette = colors_for(models, colors)
    labels = {**UNITS, **(dict(units) if units else {})}
    fig = Figure(figsize=(3.2 * len(kinds) + 1.5, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(kinds), sharey=True))
    for ax, kind in zip(axes, kinds, strict=True):
        part = table[table["perturbation"] == kind]
        for model in models:
            line = part[part["model"].astype(str) == model].sort_values("level")
            x = line["level"].to_numpy(dtype=float)
            ax.plot(x, line["accuracy"], marker="o", color=palette[model], label=model)
            if {"low", "high"} <= set(line.columns):
                ax.fill_between(x, line["low"], line["high"], color=palette[model], alpha=0.15, linewidth=0)
        ticks = part.drop_duplicates("level").sort_values("level")
        ax.set_xticks(ticks["level"].to_numpy(dtype=float), [str(t) for t in ticks["label"]])
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=TICK_SIZE)
        ax.set_title(str(kind).capitalize(), fontsize=TITLE_SIZE)
        ax.set_xlabel(labels.get(kind, "level"), fontsize=LABEL_SIZE - 1)
    axes[0].set_ylabel("test accuracy", fontsize=LABEL_SIZE)
    axes[-1].legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


@dataclasses.dataclass(frozen=True, eq=False)
class RobustnessResult:
    """The robustness experiment's result: one :func:`robustness_table` (``model`` holds model names)."""

    table: pd.DataFrame

    SCHEMA = TABLE_SCHEMA

    def to_record(self) -> dict:
        return {"table": records(self.table)}

    @classmethod
    def from_record(cls, record: Mapping) -> RobustnessResult:
        return cls(frame(record["table"]))

    def facts(self, a: str, b: str) -> dict:
        """:func:`robustness_facts` of models ``a`` and ``b``."""
        return robustness_facts(self.table, a, b)

    def plot(self, *, labels: Mapping[str, str] | None = None, colors: Mapping[str, str] | None = None):
        """:func:`plot_robustness` of the table, models named by ``labels``."""
        return plot_robustness(relabel(self.table, labels), colors=colors)

    def wide(self, *, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
        """One row per perturbation level, one accuracy column per model."""
        table = relabel(self.table, labels)
        wide = table.pivot_table(index=["perturbation", "level", "label"], columns="model", values="accuracy",
                                 sort=False)
        return wide.reset_index().drop(columns=["level"]).rename(columns={"label": "strength"})


# --------------------------------------------------------------------------- the experiment


def _plan(study):
    """(model names, test subset, perturbations) of the robustness table."""
    profile, dataset = study.profile, study.dataset
    names = list(study.models) if profile.robustness_models == "all" else list(dict.fromkeys(study.headline))
    subset = dataset.subset(n_test=min(profile.robustness_n_test, len(dataset.test_labels)), random_state=profile.seed)
    return names, subset, default_perturbations(dataset.image_shape)


def _inputs(study) -> dict:
    names, subset, perturbations = _plan(study)
    return {
        "models": model_keys(study, names),
        "data": study.dataset.fingerprint,
        "perturbations": [[p.name, p.level] for p in perturbations],
        "n_test": len(subset.test_labels),
        "seed": study.profile.seed,
        "version": VERSION,
    }


def _compute(study) -> RobustnessResult:
    names, subset, perturbations = _plan(study)
    return RobustnessResult(robustness_table(
        {name: study.models[name].model.predict for name in names}, subset.test_images, subset.test_labels,
        perturbations=perturbations, random_state=study.profile.seed))


EXPERIMENT = Experiment("robustness", "robustness to noise, shifts and rotations", _inputs, _compute,
                        RobustnessResult, cost=12)


def facts(study) -> dict | None:
    """The robustness paragraph's numbers for the headline pair (None when not computed)."""
    result = study.result("robustness")
    knn, net = study.headline
    if result is None or not {knn, net} <= set(result.table["model"]):
        return None
    return result.facts(knn, net)


def figure(study):
    """Accuracy against the strength of each perturbation, with 95% bands."""
    return study.result("robustness").plot(labels=study.labels, colors=colors(study))


@html_block
def table(study) -> str:
    """Accuracy of each model at each perturbation level."""
    wide = study.result("robustness").wide(labels=study.labels)
    models = [c for c in wide.columns if c not in ("perturbation", "strength")]
    return styled_table(wide, percent_columns=models, precision=4)
