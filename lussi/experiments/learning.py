"""Learning curves: test accuracy and time of each model as the training set grows.

The curve's points come from :func:`lussi.learning.learning_curve` (fresh models on
nested, stratified subsets), one cached stage per model; each model's full-split
point is the study's own model. :class:`LearningResult` holds the table, finds
where one curve crosses another (:func:`crossover_points`), gives the text's
facts and draws the curves; :data:`EXPERIMENT` declares it to the study.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..learning import curve_row, learning_curve, model_factory
from ..plotting import colors_for, finish, require_columns
from ..stages import frame, records, run_stage, table_stage
from ..visualize import html_block, styled_table
from ..formats import ms, seconds
from .base import Experiment, colors, relabel

__all__ = ["EXPERIMENT", "LearningResult", "crossover_points", "curve_pair", "facts", "figure", "learning_facts",
           "overtaking_size", "plot_learning_curves", "table"]

# Bump to recompute every cached curve (shared with the other extras of the first study).
VERSION = 1


def crossover_points(table: pd.DataFrame, a: str, b: str, *, metric: str = "accuracy") -> list[int]:
    """Training sizes at which the sign of ``b - a`` changes.

    Only sizes measured for both models count. A size where the two are equal
    changes nothing; a crossing is reported at the first size where the new
    sign holds. With ``a`` a KNN and ``b`` a network on accuracy, the first
    point after which ``b`` stays ahead is "the smallest training size at
    which the network beats KNN" (when KNN is ahead at the smallest size).

    Parameters
    ----------
    table : DataFrame
        From :func:`learning_curve` (``model``, ``n_train`` and ``metric``).
    a, b : str
        Model names.
    metric : str, default "accuracy"
        Any numeric column, e.g. ``"train_seconds"``.

    Returns
    -------
    list of int
        Increasing sizes; empty when one model is ahead (or level) everywhere.
    """
    from lussi.plotting import require_columns

    require_columns(table, ["model", "n_train", metric], "table")
    for name in (a, b):
        if name not in set(table["model"]):
            raise ValueError(f"model {name!r} is not in the table; it has {sorted(set(table['model']))}")
    wide = table[table["model"].isin([a, b])].pivot_table(index="n_train", columns="model", values=metric)
    wide = wide.dropna().sort_index()
    if a == b or wide.empty:
        return []
    difference = (wide[b] - wide[a]).to_numpy(dtype=float)
    points, previous = [], 0.0
    for n_train, sign in zip(wide.index, np.sign(difference), strict=True):
        if sign == 0:
            continue
        if previous != 0 and sign != previous:
            points.append(int(n_train))
        previous = sign
    return points


def overtaking_size(table: pd.DataFrame, a: str, b: str, *, metric: str = "accuracy") -> int | None:
    """The smallest training size from which ``b`` stays strictly above ``a`` at every larger size measured.

    Parameters
    ----------
    table : DataFrame
        From :func:`learning_curve`.
    a, b : str
        Model names (e.g. a KNN and a network).
    metric : str, default "accuracy"

    Returns
    -------
    int or None
        None when ``b`` is not ahead at the largest size both were measured at.
    """
    from lussi.plotting import require_columns

    require_columns(table, ["model", "n_train", metric], "table")
    wide = table[table["model"].isin([a, b])].pivot_table(index="n_train", columns="model", values=metric)
    if a not in wide or b not in wide:
        raise ValueError(f"models {a!r} and {b!r} must both be in the table; it has {sorted(set(table['model']))}")
    wide = wide.dropna().sort_index()
    ahead = (wide[b] > wide[a]).to_numpy()
    if not ahead.size or not ahead[-1]:
        return None
    behind = np.flatnonzero(~ahead)
    first = 0 if not behind.size else behind[-1] + 1
    return int(wide.index[first])


def learning_facts(table: pd.DataFrame, knn: str, net: str) -> dict:
    """Numbers the report's learning-curve paragraph quotes, for a KNN and a network.

    Parameters
    ----------
    table : DataFrame
        From :func:`learning_curve`.
    knn, net : str
        Model names in ``table``.

    Returns
    -------
    dict
        ``knn``, ``net`` (names); ``sizes`` (sizes both were measured at);
        ``smallest`` and ``largest``: dicts with ``n_train``, ``knn``/``net``
        accuracy, ``knn_train_s``/``net_train_s``, ``knn_predict_ms``/``net_predict_ms``
        (per test image); ``crossovers`` (:func:`crossover_points` on accuracy);
        ``net_overtakes_at`` (:func:`overtaking_size`, or None);
        ``knn_overtakes_at`` (the same the other way round);
        ``knn_ahead_at`` (sizes where KNN is more accurate); ``net_train_slower``
        (network fits slower at every size) and ``knn_predict_slower_from`` (the
        smallest size from which KNN predicts slower per image, or None).
    """
    wide = table[table["model"].isin([knn, net])].pivot_table(
        index="n_train", columns="model",
        values=["accuracy", "train_seconds", "predict_ms_per_image"],
    ).dropna().sort_index()
    if wide.empty:
        raise ValueError(f"models {knn!r} and {net!r} share no training size in the table")

    def point(n):
        row = wide.loc[n]
        return {
            "n_train": int(n),
            "knn": float(row[("accuracy", knn)]),
            "net": float(row[("accuracy", net)]),
            "knn_train_s": float(row[("train_seconds", knn)]),
            "net_train_s": float(row[("train_seconds", net)]),
            "knn_predict_ms": float(row[("predict_ms_per_image", knn)]),
            "net_predict_ms": float(row[("predict_ms_per_image", net)]),
        }

    sizes = [int(n) for n in wide.index]
    accuracy = wide["accuracy"]
    return {
        "knn": knn,
        "net": net,
        "sizes": sizes,
        "smallest": point(wide.index[0]),
        "largest": point(wide.index[-1]),
        "crossovers": crossover_points(table, knn, net),
        "net_overtakes_at": overtaking_size(table, knn, net),
        "knn_overtakes_at": overtaking_size(table, net, knn),
        "knn_ahead_at": [int(n) for n in accuracy.index[accuracy[knn] > accuracy[net]]],
        "net_train_slower": bool((wide[("train_seconds", net)] > wide[("train_seconds", knn)]).all()),
        "knn_predict_slower_from": overtaking_size(table, net, knn, metric="predict_ms_per_image"),
    }


def plot_learning_curves(table: pd.DataFrame, *, colors: Mapping[str, str] | None = None):
    """Accuracy (log x), training time and prediction time (log-log) against training size.

    Parameters
    ----------
    table : DataFrame
        From :func:`learning_curve`; ``low``/``high`` are drawn as a band.
    colors : dict of str -> colour, optional
        From :func:`lussi.plotting.model_colors`.

    Returns
    -------
    matplotlib.figure.Figure
        Three axes (accuracy, training seconds, prediction ms per image), one
        line per model on each.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    require_columns(
        table, ["model", "n_train", "accuracy", "train_seconds", "predict_ms_per_image"], "table"
    )
    models = [str(m) for m in pd.unique(table["model"])]
    palette = colors_for(models, colors)
    fig = Figure(figsize=(12.0, 3.8), layout="constrained")
    acc_ax, fit_ax, pred_ax = fig.subplots(1, 3)
    for model in models:
        part = table[table["model"].astype(str) == model].sort_values("n_train")
        x = part["n_train"].to_numpy(dtype=float)
        style = {"color": palette[model], "marker": "o", "label": model}
        acc_ax.plot(x, part["accuracy"], **style)
        if {"low", "high"} <= set(part.columns):
            acc_ax.fill_between(x, part["low"], part["high"], color=palette[model], alpha=0.15, linewidth=0)
        fit_ax.plot(x, part["train_seconds"], **style)
        pred_ax.plot(x, part["predict_ms_per_image"], **style)
    acc_ax.set_xscale("log")
    acc_ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    for ax in (fit_ax, pred_ax):
        ax.set_xscale("log")
        ax.set_yscale("log")
    for ax in (acc_ax, fit_ax, pred_ax):
        ax.grid(alpha=0.3, which="both")
    xlabel = "training images"
    finish(acc_ax, title="Test accuracy", xlabel=xlabel, ylabel="accuracy")
    finish(fit_ax, title="Training time", xlabel=xlabel, ylabel="seconds (fit)")
    n_test = table.attrs.get("n_test")
    per = f"ms per test image ({n_test:,} at once)" if n_test else "ms per test image"
    finish(pred_ax, title="Prediction time", xlabel=xlabel, ylabel=per)
    pred_ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


@dataclasses.dataclass(frozen=True, eq=False)
class LearningResult:
    """The learning curves of the study: one row per (model, size), ``model`` holding model names."""

    table: pd.DataFrame

    SCHEMA = {"table": {"columns": list, "records": list}}

    def to_record(self) -> dict:
        return {"table": records(self.table)}

    @classmethod
    def from_record(cls, record: Mapping) -> LearningResult:
        return cls(frame(record["table"]))

    def sizes(self) -> dict[str, int]:
        """How many training sizes each model was measured at."""
        return self.table.groupby("model")["n_train"].nunique().to_dict()

    def plot(self, *, labels: Mapping[str, str] | None = None, colors: Mapping[str, str] | None = None):
        """:func:`plot_learning_curves` of the table, models named by ``labels``."""
        return plot_learning_curves(relabel(self.table, labels), colors=colors)

    def points(self, *, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
        """Every point for the report's table: size, accuracy with its interval, epochs and times (as text)."""
        table = relabel(self.table, labels)
        table = table[["model", "n_train", "accuracy", "low", "high", "epochs", "train_seconds",
                       "predict_ms_per_image"]]
        return table.assign(
            epochs=["—" if pd.isna(v) else f"{v:.0f}" for v in table["epochs"]],
            train_seconds=[seconds(v) for v in table["train_seconds"]],
            predict_ms_per_image=[ms(v) for v in table["predict_ms_per_image"]],
        ).rename(columns={"n_train": "training images", "low": "95% low", "high": "95% high",
                          "train_seconds": "training", "predict_ms_per_image": "predict / image"})


# --------------------------------------------------------------------------- the experiment


def _curve_models(study) -> dict[str, tuple[int, ...]]:
    """Models of the learning curve and the sizes each is trained at (the study adds the full split)."""
    profile = study.profile
    n_train = len(study.dataset.train_labels)
    plan = {"knn": profile.curve_sizes, "mlp": profile.curve_sizes, "cnn": profile.curve_cnn_sizes}
    return {
        name: tuple(sorted({int(n) for n in sizes if n < n_train}))
        for name, sizes in plan.items() if name in study.models and sizes
    }


def curve_stage(study, name: str, sizes: tuple[int, ...]):
    """The cached stage of model ``name``'s curve: fresh models trained on nested subsets of ``sizes``."""
    from ..models.train import library_versions
    from ..timing import hardware_info

    profile, trained = study.profile, study.models[name]
    factory_material = {"config": trained.config.to_dict()}
    if trained.model.training_epochs is not None:  # trained in epochs: how many depends on the size
        factory_material.update(min_steps=profile.curve_min_steps, max_epochs=profile.curve_max_epochs,
                                sizes=list(sizes))
    factory = model_factory(trained.model, min_steps=profile.curve_min_steps, max_epochs=profile.curve_max_epochs,
                            sizes=sizes, validation_fraction=profile.validation_fraction)

    def inputs(study) -> dict:
        hardware = hardware_info()
        return {
            "data": study.dataset.fingerprint, "sizes": list(sizes), "factory": factory_material,
            "validation_fraction": profile.validation_fraction, "seed": profile.seed,
            "versions": library_versions(trained.family), "cpu": hardware.get("cpu_model"),
            "cores": hardware.get("logical_cores"), "version": VERSION,
        }

    def compute(study):
        return learning_curve(study.dataset, sizes, {name: factory}, validation_fraction=profile.validation_fraction,
                              random_state=profile.seed)

    return table_stage(f"curve-{name}", inputs, compute)


def _full_split_points(study) -> pd.DataFrame:
    """Each model's full-split point: the study's model itself (same split, seed and epochs as a retrain)."""
    rows = []
    for name in _curve_models(study):
        trained, predictions = study.models[name], study.predictions[name]
        rows.append(curve_row(
            name, len(study.dataset.train_labels), study.dataset.test_labels, predictions.labels,
            train_seconds=trained.training_seconds, predict_seconds=predictions.seconds, n_fit=trained.n_fitted,
            epochs=trained.model.training_epochs, validation_accuracy=trained.validation_accuracy,
        ))
    return pd.DataFrame(rows)


def _run(study, cache, rebuild: bool) -> tuple[LearningResult, float]:
    """One cached stage per model, plus the study's own models as the full-split points."""
    frames, took = [], 0.0
    for name, sizes in _curve_models(study).items():
        if sizes:
            curve, stage_seconds = run_stage(curve_stage(study, name, sizes), study, cache, rebuild)
            frames.append(curve)
            took += stage_seconds
    frames.append(_full_split_points(study))
    frames = [part for part in frames if not part.empty]
    table = pd.concat(frames, ignore_index=True).sort_values(["model", "n_train"], ignore_index=True)
    return LearningResult(table), took


EXPERIMENT = Experiment("learning", "learning curves", None, None, LearningResult, run=_run, cost=165)


def curve_pair(study) -> tuple[str, str] | None:
    """(KNN, network) compared by the learning-curve text: the headline models when both have a curve.

    Falls back to the raw-pixel KNN and the seed MLP (the models every profile
    trains at several sizes); None when the study has no learning curve.
    """
    result = study.result("learning")
    if result is None or result.table.empty:
        return None
    sizes = result.sizes()
    knn, net = study.headline
    knn = knn if sizes.get(knn, 0) > 1 else "knn"
    net = net if sizes.get(net, 0) > 1 else "mlp"
    return (knn, net) if knn in sizes and net in sizes else None


def facts(study) -> dict | None:
    """:func:`learning_facts` of the :func:`curve_pair` (None without a curve)."""
    pair = curve_pair(study)
    return learning_facts(study.result("learning").table, *pair) if pair else None


def figure(study):
    """Accuracy, training time and prediction time against training-set size."""
    return study.result("learning").plot(labels=study.labels, colors=colors(study))


@html_block
def table(study) -> str:
    """Every point of the learning curves: size, accuracy with its interval, epochs and times."""
    points = study.result("learning").points(labels=study.labels)
    return styled_table(points, percent_columns=["accuracy", "95% low", "95% high"], precision=4)
