"""Figures of the study's results: confusion, per class, k sweep, training, intervals, balance.

Each function takes a plain result of :mod:`lussi.analysis` or a trained model
(a dataclass or a tidy DataFrame) and returns a :class:`matplotlib.figure.Figure`;
it computes nothing a reader would want as a number. Styling comes from
:mod:`lussi.plotting`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lussi.plotting import colors_for, figure_and_axes, finish, new_figure, require_columns

__all__ = [
    "plot_accuracy_intervals",
    "plot_class_balance",
    "plot_confusion",
    "plot_k_sweep",
    "plot_per_class",
    "plot_training_history",
]


def plot_confusion(
    confusion,
    *,
    normalize: str | None = None,
    errors_only: bool = False,
    ax=None,
    cmap: str = "Blues",
    title: str | None = None,
):
    """Draw a :class:`lussi.confusion.Confusion` with sklearn's ConfusionMatrixDisplay.

    Parameters
    ----------
    confusion : lussi.confusion.Confusion
    normalize : {None, "true"}, default None
        ``"true"``: each row divided by the true class's support (shown as %).
    errors_only : bool, default False
        Zero the diagonal (shown as "–") so the colour scale shows only mistakes.
    ax : matplotlib Axes, optional
    cmap : str, default "Blues"
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One matrix axes plus its colour bar.
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    if normalize not in (None, "true"):
        raise ValueError(f'normalize must be None or "true", got {normalize!r}')
    if not hasattr(confusion, "counts") or not hasattr(confusion, "class_names"):
        raise TypeError(
            "confusion must be a lussi.confusion.Confusion (use Confusion.from_predictions), "
            f"got {type(confusion).__name__}"
        )
    values = confusion.errors_only() if errors_only else confusion.counts
    values_format = "d"
    if normalize == "true":
        support = confusion.counts.sum(axis=1, keepdims=True).astype(float)
        values = np.divide(values, support, out=np.zeros(values.shape), where=support > 0)
        values_format = ".1%"
    n = len(confusion.class_names)
    fig, ax = figure_and_axes(ax, figsize=(max(4.5, 0.55 * n + 2), max(4.0, 0.55 * n + 1.3)))
    display = ConfusionMatrixDisplay(values, display_labels=list(confusion.class_names))
    display.plot(ax=ax, cmap=cmap, values_format=values_format, colorbar=True)
    if errors_only:
        # Blank zero cells so the few real confusions stand out.
        for (i, j), value in np.ndenumerate(values):
            if i == j:
                display.text_[i, j].set_text("–")
            elif value == 0:
                display.text_[i, j].set_text("")
    if normalize == "true":
        from matplotlib.ticker import PercentFormatter

        display.im_.colorbar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    for text in display.text_.ravel():
        text.set_fontsize(9 if n > 8 else 10)
    if title is None:
        title = "Errors" if errors_only else "Confusion matrix"
        if normalize == "true":
            title += " (share of true class)"
    finish(ax, title=title, xlabel="predicted", ylabel="true")
    return fig


def plot_per_class(
    per_class_df: pd.DataFrame,
    *,
    metric: str = "f1",
    colors: Mapping[str, str] | None = None,
    ax=None,
    ylim: tuple[float, float] | None = None,
):
    """Grouped bars of one metric per digit, one colour per model.

    Parameters
    ----------
    per_class_df : DataFrame
        From :func:`lussi.analysis.per_class_report` (columns ``digit``, ``model``
        and ``metric``).
    metric : {"f1", "precision", "recall"}, default "f1"
    colors : dict of str -> colour, optional
        From :func:`model_colors`.
    ax : matplotlib Axes, optional
    ylim : (float, float), optional
        Default starts just below the smallest value, since scores cluster near 1;
        the axis label says so.

    Returns
    -------
    matplotlib.figure.Figure
        One bar container per model, one bar per digit.
    """
    require_columns(per_class_df, ["digit", "model", metric], "per_class_df")
    digits = list(pd.unique(per_class_df["digit"]))
    models = list(pd.unique(per_class_df["model"]))
    palette = colors_for(models, colors)
    table = per_class_df.pivot_table(index="digit", columns="model", values=metric, sort=False)
    table = table.reindex(index=digits, columns=models)
    fig, ax = figure_and_axes(ax, figsize=(max(6.0, 0.3 * len(digits) * len(models) + 2), 3.8))
    width = 0.8 / len(models)
    x = np.arange(len(digits))
    for i, model in enumerate(models):
        ax.bar(
            x + (i - (len(models) - 1) / 2) * width,
            table[model].to_numpy(),
            width,
            label=str(model),
            color=palette[str(model)],
        )
    ax.set_xticks(x, [str(d) for d in digits])
    values = table.to_numpy(dtype=float)
    if ylim is None:
        low = float(np.nanmin(values))
        ylim = (max(0.0, math.floor((low - 0.02) * 50) / 50), 1.0)
    ax.set_ylim(*ylim)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ylabel = metric if ylim[0] == 0 else f"{metric} (axis starts at {ylim[0]:g})"
    finish(ax, title=f"{metric} per digit", xlabel="digit", ylabel=ylabel)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_k_sweep(
    df: pd.DataFrame,
    *,
    colors: Mapping[str, str] | None = None,
    ax=None,
):
    """Validation accuracy against the number of neighbours k.

    Parameters
    ----------
    df : DataFrame
        Columns ``k`` and ``accuracy``; optional ``weights`` (one line per value) and
        ``low``/``high`` (drawn as a band).
    colors : dict of str -> colour, optional
        Keyed by ``weights`` value.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One line per ``weights`` value (one line without that column).
    """
    require_columns(df, ["k", "accuracy"], "df")
    groups = (
        [(str(w), part) for w, part in df.groupby("weights", sort=False)]
        if "weights" in df
        else [("accuracy", df)]
    )
    palette = colors_for([g for g, _ in groups], colors)
    fig, ax = figure_and_axes(ax, figsize=(6.0, 3.8))
    for name, part in groups:
        part = part.sort_values("k")
        ax.plot(part["k"], part["accuracy"], marker="o", label=name, color=palette[name])
        if {"low", "high"} <= set(part.columns):
            ax.fill_between(
                part["k"], part["low"], part["high"], color=palette[name], alpha=0.15, linewidth=0
            )
    ks = np.unique(df["k"])
    if ks.size <= 20:
        ax.set_xticks(ks)
    ax.grid(alpha=0.3)
    finish(ax, title="Accuracy against k", xlabel="k (neighbours)", ylabel="accuracy")
    if "weights" in df:
        ax.legend(title="weights", fontsize=9, title_fontsize=9)
    return fig


def _accuracy_key(history: Mapping) -> str | None:
    if "accuracy" in history:
        return "accuracy"
    for key in history:
        if not key.startswith("val_") and "acc" in key:
            return key
    return None


def plot_training_history(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    colors: Mapping[str, str] | None = None,
):
    """Loss and accuracy per epoch, training (solid) vs validation (dashed).

    Parameters
    ----------
    histories : dict of str -> dict of str -> list of float
        Model name to a Keras ``History.history`` dict (``loss``, ``accuracy``,
        ``val_loss``, ``val_accuracy``); a ``History`` object is accepted too.
    colors : dict of str -> colour, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two axes (loss, accuracy); per model one train and, if present, one
        validation line on each.
    """
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError("histories must be a non-empty dict of model name -> history dict")
    histories = {str(name): getattr(h, "history", h) for name, h in histories.items()}
    for name, history in histories.items():
        if not isinstance(history, Mapping) or "loss" not in history:
            raise ValueError(f"history of {name!r} must be a dict with at least a 'loss' list")
    palette = colors_for(list(histories), colors)
    fig, (loss_ax, acc_ax) = new_figure(figsize=(10.0, 3.8), ncols=2)
    for name, history in histories.items():
        color = palette[name]
        for ax, key in ((loss_ax, "loss"), (acc_ax, _accuracy_key(history))):
            if key is None:
                continue
            values = history[key]
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, color=color, label=f"{name} train")
            if f"val_{key}" in history:
                val = history[f"val_{key}"]
                ax.plot(
                    np.arange(1, len(val) + 1), val, color=color, linestyle="--", label=f"{name} validation"
                )
    for ax, what in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.grid(alpha=0.3)
        finish(ax, title=what.capitalize(), xlabel="epoch", ylabel=what)
        ax.xaxis.get_major_locator().set_params(integer=True)
    acc_ax.legend(fontsize=9)
    return fig


def plot_accuracy_intervals(
    compare_df: pd.DataFrame,
    *,
    colors: Mapping[str, str] | None = None,
    ax=None,
):
    """Each model's accuracy as a point with its confidence interval.

    Parameters
    ----------
    compare_df : DataFrame
        From :func:`lussi.analysis.compare_models` (``model``, ``accuracy``,
        ``low``, ``high``).
    colors : dict of str -> colour, optional
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One error bar per model, first model on top.
    """
    from matplotlib.ticker import PercentFormatter

    require_columns(compare_df, ["model", "accuracy", "low", "high"], "compare_df")
    models = [str(m) for m in compare_df["model"]]
    palette = colors_for(models, colors)
    fig, ax = figure_and_axes(ax, figsize=(6.0, max(2.0, 0.5 * len(models) + 1.2)))
    for y, row in zip(range(len(models) - 1, -1, -1), compare_df.itertuples(index=False), strict=True):
        color = palette[str(row.model)]
        ax.errorbar(
            row.accuracy,
            y,
            xerr=[[row.accuracy - row.low], [row.high - row.accuracy]],
            fmt="o",
            color=color,
            capsize=4,
            markersize=6,
        )
        ax.annotate(
            f"{row.accuracy:.2%}",
            (row.high, y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    ax.set_yticks(range(len(models) - 1, -1, -1), models)
    ax.set_ylim(-0.6, len(models) - 0.4)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1))
    ax.margins(x=0.15)
    ax.grid(axis="x", alpha=0.3)
    confidence = compare_df.attrs.get("confidence", 0.95)
    finish(ax, title="Test accuracy", xlabel=f"accuracy ({confidence:.0%} Wilson interval)")
    return fig


def plot_class_balance(
    labels,
    class_names: Sequence[str] | None = None,
    *,
    colors: Mapping[str, str] | None = None,
    ax=None,
):
    """Images per class, or each split's share per class when given several splits.

    Parameters
    ----------
    labels : ndarray of int, shape (n,), or dict of str -> ndarray
        One label array (bars show counts) or split name -> labels (grouped bars
        show each split's share, so train and test compare despite their sizes).
    class_names : sequence of str, optional
        Names of labels ``0..len(class_names)-1``; default the labels seen.
    colors : dict of str -> colour, optional
        Keyed by split name.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One bar container per split plus a dashed line at the uniform level.
    """
    splits = dict(labels) if isinstance(labels, Mapping) else {"labels": labels}
    if not splits:
        raise ValueError("labels is an empty dict; pass at least one label array")
    arrays = {}
    for name, values in splits.items():
        array = np.asarray(values)
        if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu":
            raise ValueError(
                f"labels {name!r} must be a non-empty 1-D integer array, got shape {array.shape} "
                f"and dtype {array.dtype}"
            )
        arrays[str(name)] = array
    if class_names is not None:
        classes = np.arange(len(class_names))
        names = [str(n) for n in class_names]
    else:
        classes = np.unique(np.concatenate(list(arrays.values())))
        names = [str(c) for c in classes]
    share = len(arrays) > 1
    palette = colors_for(list(arrays), colors)
    fig, ax = figure_and_axes(ax, figsize=(6.0, 3.5))
    width = 0.8 / len(arrays)
    x = np.arange(len(classes))
    for i, (name, array) in enumerate(arrays.items()):
        counts = (array[:, None] == classes[None, :]).sum(axis=0)
        heights = counts / array.size if share else counts
        ax.bar(x + (i - (len(arrays) - 1) / 2) * width, heights, width, label=name, color=palette[name])
    uniform = 1 / len(classes) if share else next(iter(arrays.values())).size / len(classes)
    ax.axhline(uniform, color="#444", linestyle="--", linewidth=1, label="uniform")
    ax.set_xticks(x, names)
    if share:
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    finish(ax, title="Class balance", xlabel="digit", ylabel="share of split" if share else "images")
    if share:
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
