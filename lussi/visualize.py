"""Draw analysis results: matplotlib figures and self-contained HTML snippets.

Functions here take the plain results of :mod:`lussi.analysis` and
:mod:`lussi.timing` (dataclasses, tidy DataFrames) or raw uint8 images and return
either a :class:`matplotlib.figure.Figure` or an HTML string; they compute nothing
that a reader would want as a number.

* Figures are built with :class:`matplotlib.figure.Figure` rather than pyplot, so
  nothing global changes, nothing leaks into pyplot's figure list, and a notebook
  shows a returned figure once (pyplot's inline backend would show it twice).
  matplotlib is imported inside the functions to keep ``import lussi`` cheap.
* HTML works inside ``embed-resources`` pages and revealjs slides: inline styles
  only, images as PNG data URIs, every text through :func:`html.escape`, and a
  bounded number of DOM nodes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lussi.data import check_images
from lussi.safe_io import png_data_uri
from lussi.validation import check_image_batch, check_labels

__all__ = [
    "digit_grid_html",
    "digit_matrix_html",
    "gallery_html",
    "model_colors",
    "plot_accuracy_intervals",
    "plot_class_balance",
    "plot_confusion",
    "plot_k_sweep",
    "plot_latency",
    "plot_per_class",
    "plot_training_history",
    "styled_table",
]

# matplotlib's "tab10", spelled out so colours need no matplotlib import.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#d62728",
)
# Red is last in PALETTE so it stays free for marking errors unless >9 models.
ERROR_COLOR = "#d62728"
MAX_GRID_IMAGES = 200
MAX_MATRIX_CELLS = 32 * 32
TICK_SIZE = 10
LABEL_SIZE = 11
TITLE_SIZE = 12


# --------------------------------------------------------------------------- helpers


def model_colors(names: Sequence[str]) -> dict[str, str]:
    """One hex colour per model name, by position in ``names``.

    Compute it once from every model in the report and pass it as ``colors=`` to
    each plot so a model keeps its colour across figures.

    Parameters
    ----------
    names : sequence of str
        Model names; duplicates keep their first colour.

    Returns
    -------
    dict of str -> str
        ``{name: "#rrggbb"}``, cycling through 10 colours.
    """
    unique = list(dict.fromkeys(str(n) for n in names))
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(unique)}


def _colors_for(names, colors) -> dict[str, str]:
    default = model_colors(names)
    if colors is None:
        return default
    return {name: colors.get(name, default[name]) for name in default}


def _figure_and_axes(ax, *, figsize):
    """Return (figure, axes): the caller's axes, or a new pyplot-free figure."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _new_figure(*, figsize, ncols):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(1, ncols)


def _finish(ax, *, title=None, xlabel=None, ylabel=None):
    # Tick labels are created lazily at draw time, so their size is set explicitly here.
    ax.tick_params(labelsize=TICK_SIZE)
    if title is not None:
        ax.set_title(title, fontsize=TITLE_SIZE)
    if xlabel is not None:
        ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    if ylabel is not None:
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)


def _require_columns(df, columns, name):
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {list(df.columns)}")
    if df.empty:
        raise ValueError(f"{name} is empty; nothing to plot")


def _png_data_uri(image: np.ndarray, *, scale: int, invert: bool) -> str:
    """Encode one uint8 (h, w) image as a nearest-neighbour upscaled PNG data URI."""
    from PIL import Image

    pixels = 255 - image if invert else image
    picture = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    if scale > 1:
        h, w = image.shape
        picture = picture.resize((w * scale, h * scale), Image.Resampling.NEAREST)
    return png_data_uri(picture)


def _img_tag(image, *, scale, invert, alt, title=None, border="transparent") -> str:
    h, w = image.shape
    title_attr = f' title="{html.escape(title)}"' if title else ""
    return (
        f'<img src="{_png_data_uri(image, scale=scale, invert=invert)}" '
        f'width="{w * scale}" height="{h * scale}" alt="{html.escape(alt)}"{title_attr} '
        f'style="display:block;margin:0;padding:0;border:2px solid {border};'
        'image-rendering:pixelated;box-shadow:none;max-width:none">'
    )


# --------------------------------------------------------------------------- HTML


def digit_matrix_html(
    image,
    *,
    label=None,
    caption: str | None = None,
    cell_size: int | None = None,
    invert: bool = False,
) -> str:
    """One digit as an HTML table: each pixel's value printed on its grey level.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        uint8 pixels (or float in [0, 1], converted like
        :func:`lussi.data.check_images`); 28x28 and 8x8 both fit a slide.
    label : int or str, optional
        True class, shown in the caption.
    caption : str, optional
        Extra caption text.
    cell_size : int, optional
        Cell side in CSS pixels; default fits the table in about 450 px
        (16 px for 28x28, 40 px for 8x8).
    invert : bool, default False
        False: 0 is white and 255 black (ink on paper); True: the reverse.

    Returns
    -------
    str
        A ``<table>`` with ``h * w`` cells, inline styles only, marked
        ``data-quarto-disable-processing`` so Quarto keeps its styles.
    """
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(
            f"image must be one 2-D digit of shape (h, w), got shape {array.shape}; "
            "index a batch first, e.g. images[0]"
        )
    if array.size > MAX_MATRIX_CELLS:
        raise ValueError(
            f"image has {array.size} pixels; digit_matrix_html prints at most {MAX_MATRIX_CELLS} "
            "(one table cell each), so crop or downsample it first"
        )
    pixels = check_images(array, array.shape)[0]
    h, w = pixels.shape
    if cell_size is None:
        cell_size = max(14, min(40, 448 // w))
    if cell_size < 4:
        raise ValueError(f"cell_size must be at least 4 pixels, got {cell_size}")
    font = max(5, round(cell_size * 0.5))

    rows = []
    for row in pixels:
        cells = []
        for value in row.tolist():
            grey = value if invert else 255 - value
            # Zeros in light grey keep the background readable; others contrast with it.
            if value == 0:
                ink = "#bbb" if grey > 127 else "#555"
            else:
                ink = "#000" if grey > 127 else "#fff"
            cells.append(
                # Per-cell font size and alignment: revealjs and Bootstrap style td directly.
                f'<td style="padding:0;border:0;text-align:center;vertical-align:middle;'
                f'font-size:{font}px;line-height:1;background:#{grey:02x}{grey:02x}{grey:02x};color:{ink}">{value}</td>'
            )
        rows.append(f'<tr style="height:{cell_size}px">{"".join(cells)}</tr>')

    parts = []
    if label is not None:
        parts.append(f"label {label}")
    if caption:
        parts.append(str(caption))
    caption_html = ""
    if parts:
        caption_html = (
            '<caption style="caption-side:bottom;font:12px/1.3 sans-serif;padding-top:4px">'
            f"{html.escape(' · '.join(parts))}</caption>"
        )
    return (
        f'<table data-quarto-disable-processing="true" style="border-collapse:collapse;'
        f"table-layout:fixed;width:{w * cell_size}px;font:{font}px/1 monospace;"
        f'margin:0 auto;border:1px solid #888">{caption_html}{"".join(rows)}</table>'
    )


def digit_grid_html(
    images,
    labels,
    *,
    per_class: int = 10,
    class_names: Sequence[str] | None = None,
    random_state: int | None = 0,
    predictions=None,
    scale: int = 3,
    invert: bool = True,
) -> str:
    """A sample of digits, one row per class, as inline PNG images.

    Parameters
    ----------
    images : ndarray of shape (n, h, w)
        uint8 digits.
    labels : ndarray of int, shape (n,)
        True class per image.
    per_class : int, default 10
        Digits per row; lowered so the grid holds at most 200 images.
    class_names : sequence of str, optional
        Row headers for labels ``0..len(class_names)-1``; default the labels seen.
    random_state : int or None, default 0
        Seed for choosing which digits to show.
    predictions : ndarray of int, shape (n,), optional
        When given, wrong predictions get a red border and a title attribute
        ``"true 3, predicted 5"``.
    scale : int, default 3
        Nearest-neighbour upscaling factor (28 px -> 84 px).
    invert : bool, default True
        Draw ink dark on white paper (MNIST stores ink as 255).

    Returns
    -------
    str
        A ``<div>`` of rows, each a header plus ``<img>`` tags with data URIs.
    """
    images = check_image_batch(images)
    images = check_images(images, images.shape[1:])  # uint8 0-255 or float 0-1, as a model is given
    labels = _check_labels_like(labels, len(images), "labels")
    if predictions is not None:
        predictions = _check_labels_like(predictions, len(images), "predictions")
    if per_class < 1:
        raise ValueError(f"per_class must be a positive integer, got {per_class}")
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    classes = np.arange(len(class_names)) if class_names is not None else np.unique(labels)
    names = [str(n) for n in class_names] if class_names is not None else [str(c) for c in classes]
    per_class = max(1, min(per_class, MAX_GRID_IMAGES // len(classes)))

    def name_of(label):
        return names[label] if class_names is not None and 0 <= label < len(names) else str(label)

    rng = np.random.default_rng(random_state)
    rows = []
    for cls, name in zip(classes, names, strict=True):
        members = np.flatnonzero(labels == cls)
        chosen = np.sort(rng.choice(members, size=min(per_class, members.size), replace=False))
        tags = []
        for i in chosen:
            title, border = f"true {name}", "transparent"
            if predictions is not None:
                title = f"true {name}, predicted {name_of(int(predictions[i]))}"
                if predictions[i] != labels[i]:
                    border = ERROR_COLOR
            tags.append(_img_tag(images[i], scale=scale, invert=invert, alt=name, title=title, border=border))
        header = (
            '<div style="min-width:2.5em;font:bold 14px sans-serif;text-align:right;'
            f'padding-right:6px">{html.escape(name)}</div>'
        )
        rows.append(
            '<div style="display:flex;align-items:center;gap:2px;margin:0 0 2px 0">'
            f"{header}{''.join(tags)}</div>"
        )
    return f'<div class="lussi-digit-grid" style="display:inline-block;line-height:0">{"".join(rows)}</div>'


def _check_labels_like(values, n, name) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or len(array) != n:
        raise ValueError(f"{name} must have shape ({n},) to match images, got {array.shape}")
    return check_labels(array, name)


def gallery_html(
    images,
    captions: Sequence[str],
    *,
    columns: int = 10,
    max_items: int = 60,
    scale: int = 2,
    invert: bool = True,
    highlight=None,
) -> str:
    """A captioned grid of digits, e.g. misclassified ones or disagreements.

    Parameters
    ----------
    images : ndarray of shape (n, h, w)
        uint8 digits, in display order.
    captions : sequence of str, length n
        Text under each digit (also its hover title), escaped.
    columns : int, default 10
        Digits per row.
    max_items : int, default 60
        Show only the first ``max_items``; a note tells how many were left out.
    scale : int, default 2
        Nearest-neighbour upscaling factor.
    invert : bool, default True
        Ink dark on white.
    highlight : array-like of bool, shape (n,), optional
        Items to frame in red.

    Returns
    -------
    str
        A CSS-grid ``<div>`` of ``min(n, max_items)`` items.
    """
    images = check_image_batch(images)
    images = check_images(images, images.shape[1:])  # uint8 0-255 or float 0-1, as a model is given
    captions = [str(c) for c in captions]
    if len(captions) != len(images):
        raise ValueError(f"got {len(images)} images but {len(captions)} captions; pass one caption per image")
    if columns < 1 or max_items < 1:
        raise ValueError(f"columns and max_items must be positive, got {columns} and {max_items}")
    if highlight is not None:
        highlight = np.asarray(highlight, dtype=bool)
        if highlight.shape != (len(images),):
            raise ValueError(f"highlight must have shape ({len(images)},), got {highlight.shape}")
    shown = min(len(images), max_items)
    width = images.shape[2] * scale + 4
    items = []
    for i in range(shown):
        border = ERROR_COLOR if highlight is not None and highlight[i] else "transparent"
        tag = _img_tag(
            images[i], scale=scale, invert=invert, alt=captions[i], title=captions[i], border=border
        )
        items.append(
            f'<div style="display:flex;flex-direction:column;align-items:center;width:{width}px">{tag}'
            f'<div style="font:10px/1.2 sans-serif;text-align:center;margin-top:2px;'
            f'overflow-wrap:anywhere">{html.escape(captions[i])}</div></div>'
        )
    note = ""
    if shown < len(images):
        note = (
            '<div style="font:11px sans-serif;margin-top:4px;color:#555">'
            f"showing {shown} of {len(images)}</div>"
        )
    return (
        '<div class="lussi-gallery">'
        f'<div style="display:grid;grid-template-columns:repeat({columns},max-content);gap:6px 4px">'
        f"{''.join(items)}</div>{note}</div>"
    )


def styled_table(
    df: pd.DataFrame,
    *,
    caption: str | None = None,
    precision: int = 3,
    percent_columns: Sequence[str] = (),
    highlight_max: Sequence[str] = (),
) -> str:
    """A DataFrame as an HTML table for the report, via :class:`pandas.io.formats.style.Styler`.

    The maximum of each ``highlight_max`` column is wrapped in ``<strong>`` (inline
    markup survives Quarto's table processing, unlike Styler's CSS ids); the index is
    hidden and all text is HTML-escaped.

    Parameters
    ----------
    df : DataFrame
    caption : str, optional
        Table caption (for Quarto cross-references prefer ``#| tbl-cap``).
    precision : int, default 3
        Decimals for floats; percentages get ``precision - 2``.
    percent_columns : sequence of str
        Columns holding fractions in [0, 1], shown as ``97.1%``.
    highlight_max : sequence of str
        Numeric columns whose largest value is shown bold.

    Returns
    -------
    str
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    for name, cols in (("percent_columns", percent_columns), ("highlight_max", highlight_max)):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"{name} names columns {missing} not in the table {list(df.columns)}")
    if precision < 0:
        raise ValueError(f"precision must be >= 0, got {precision}")

    percent_digits = max(precision - 2, 0)

    def number_format(column):
        if column in percent_columns:
            return lambda v: f"{v:.{percent_digits}%}"
        if pd.api.types.is_float_dtype(df[column]):
            return lambda v: f"{v:.{precision}f}"
        return lambda v: str(v)

    formatters = {}
    for column in df.columns:
        plain = number_format(column)
        if column in highlight_max:
            best = df[column].max()
            formatters[column] = lambda v, plain=plain, best=best: (
                f"<strong>{html.escape(plain(v))}</strong>" if v == best else html.escape(plain(v))
            )
        else:
            formatters[column] = lambda v, plain=plain: html.escape(plain(v))
    styler = df.style.format(formatters, na_rep="–").hide(axis="index")
    styler = styler.format_index(escape="html", axis="columns")
    if caption is not None:
        styler = styler.set_caption(html.escape(caption))
    return styler.to_html()


# --------------------------------------------------------------------------- figures


def plot_confusion(
    confusion,
    *,
    normalize: str | None = None,
    errors_only: bool = False,
    ax=None,
    cmap: str = "Blues",
    title: str | None = None,
):
    """Draw a :class:`lussi.analysis.Confusion` with sklearn's ConfusionMatrixDisplay.

    Parameters
    ----------
    confusion : lussi.analysis.Confusion
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
            "confusion must be a lussi.analysis.Confusion (use Confusion.from_predictions), "
            f"got {type(confusion).__name__}"
        )
    values = confusion.errors_only() if errors_only else confusion.counts
    values_format = "d"
    if normalize == "true":
        support = confusion.counts.sum(axis=1, keepdims=True).astype(float)
        values = np.divide(values, support, out=np.zeros(values.shape), where=support > 0)
        values_format = ".1%"
    n = len(confusion.class_names)
    fig, ax = _figure_and_axes(ax, figsize=(max(4.5, 0.55 * n + 2), max(4.0, 0.55 * n + 1.3)))
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
    _finish(ax, title=title, xlabel="predicted", ylabel="true")
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
    _require_columns(per_class_df, ["digit", "model", metric], "per_class_df")
    digits = list(pd.unique(per_class_df["digit"]))
    models = list(pd.unique(per_class_df["model"]))
    palette = _colors_for(models, colors)
    table = per_class_df.pivot_table(index="digit", columns="model", values=metric, sort=False)
    table = table.reindex(index=digits, columns=models)
    fig, ax = _figure_and_axes(ax, figsize=(max(6.0, 0.3 * len(digits) * len(models) + 2), 3.8))
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
    _finish(ax, title=f"{metric} per digit", xlabel="digit", ylabel=ylabel)
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
    _require_columns(df, ["k", "accuracy"], "df")
    groups = (
        [(str(w), part) for w, part in df.groupby("weights", sort=False)]
        if "weights" in df
        else [("accuracy", df)]
    )
    palette = _colors_for([g for g, _ in groups], colors)
    fig, ax = _figure_and_axes(ax, figsize=(6.0, 3.8))
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
    _finish(ax, title="Accuracy against k", xlabel="k (neighbours)", ylabel="accuracy")
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
    palette = _colors_for(list(histories), colors)
    fig, (loss_ax, acc_ax) = _new_figure(figsize=(10.0, 3.8), ncols=2)
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
        _finish(ax, title=what.capitalize(), xlabel="epoch", ylabel=what)
        ax.xaxis.get_major_locator().set_params(integer=True)
    acc_ax.legend(fontsize=9)
    return fig


def plot_latency(sweep_df: pd.DataFrame, *, colors: Mapping[str, str] | None = None):
    """Latency sweep on log-log axes: ms per image and images per second vs batch size.

    Parameters
    ----------
    sweep_df : DataFrame
        From :func:`lussi.timing.latency_sweep`; skipped (NaN) cells are left out.
        The band spans median to 90th percentile.
    colors : dict of str -> colour, optional
        Keyed by model name; a model timed through several call paths gets one
        line style per path.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes, one line per (model, call_path) on each.
    """
    _require_columns(sweep_df, ["model", "batch_size", "median_s", "p90_s"], "sweep_df")
    data = sweep_df.dropna(subset=["median_s"])
    if data.empty:
        raise ValueError("sweep_df has no measured cells (every median_s is NaN)")
    if "call_path" not in data:
        data = data.assign(call_path="")
    palette = _colors_for(list(pd.unique(data["model"])), colors)
    styles = ("-", "--", ":", "-.")
    fig, (per_ax, thr_ax) = _new_figure(figsize=(10.0, 3.8), ncols=2)
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
    _finish(per_ax, title="Latency per image", xlabel="batch size (images)", ylabel="ms per image (median)")
    _finish(thr_ax, title="Throughput", xlabel="batch size (images)", ylabel="images per second")
    thr_ax.legend(fontsize=9)
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

    _require_columns(compare_df, ["model", "accuracy", "low", "high"], "compare_df")
    models = [str(m) for m in compare_df["model"]]
    palette = _colors_for(models, colors)
    fig, ax = _figure_and_axes(ax, figsize=(6.0, max(2.0, 0.5 * len(models) + 1.2)))
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
    _finish(ax, title="Test accuracy", xlabel=f"accuracy ({confidence:.0%} Wilson interval)")
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
    palette = _colors_for(list(arrays), colors)
    fig, ax = _figure_and_axes(ax, figsize=(6.0, 3.5))
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
    _finish(ax, title="Class balance", xlabel="digit", ylabel="share of split" if share else "images")
    if share:
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
