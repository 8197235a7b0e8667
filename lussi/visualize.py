"""Self-contained HTML views of digits and tables: a digit's pixel matrix, grids, galleries, styled tables.

Functions here take raw uint8 images or tidy DataFrames and return an HTML
string; they compute nothing that a reader would want as a number. (Figures
are in :mod:`lussi.figures`, their styling in :mod:`lussi.plotting`.)

* HTML works inside ``embed-resources`` pages and revealjs slides: inline styles
  only, images as PNG data URIs, every text through :func:`html.escape`, and a
  bounded number of DOM nodes.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lussi.data import check_images
from lussi.plotting import ERROR_COLOR
from lussi.safe_io import png_data_uri
from lussi.validation import check_image_batch, check_labels

__all__ = [
    "HtmlBlock",
    "digit_grid_html",
    "digit_matrix_html",
    "gallery_html",
    "html_block",
    "styled_table",
]

MAX_GRID_IMAGES = 200
MAX_MATRIX_CELLS = 32 * 32

class HtmlBlock(str):
    """HTML that a report cell hands to the document as a raw block, never as a ``text/html`` output.

    Jupyter shows it through ``_repr_markdown_``: a ```` ```{=html} ```` fence. A
    ``text/html`` display_data would make real Quarto add require.js and jQuery
    from a CDN to the page (``extractJupyterWidgetDependencies`` in its
    ``src/core/jupyter/widgets.ts``), so the report would not be self-contained.
    It is a ``str``, so callers and tests read the HTML directly.
    """

    __slots__ = ()

    def _repr_markdown_(self) -> str:
        longest = max((len(run) for run in re.findall(r"`+", self)), default=0)
        fence = "`" * max(3, longest + 1)
        return f"{fence}{{=html}}\n{self}\n{fence}\n"


def html_block(view):
    """Wrap an HTML-returning view's result in :class:`HtmlBlock` (a decorator of report views)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs) -> HtmlBlock:
        return HtmlBlock(view(*args, **kwargs))

    return wrapped


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
