"""Explanation pages: why a KNN read a digit the way it did, as self-contained HTML.

:func:`explain_html` shows the digit as the models see it, each model's top
classes and the KNN's nearest training digits; :func:`write_explanations`
writes one page per picture for ``lussi predict --explain``.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..safe_io import atomic_write_text, unique_file_names
from .files import picture_data_uri
from .predictions import Prediction, class_name

__all__ = ["explain_html", "write_explanation", "write_explanations"]

_PAGE_CSS = "body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}"
# Inline styles everywhere else, so the same HTML works as a fragment in a report or slide.
_NOTE = "color:#555;font-size:12px;margin:4px 0"
_CELL = "padding:2px 6px;font-size:13px;vertical-align:middle;border:0"


def _bars_html(result: Prediction, class_names, colour: str) -> str:
    rows = []
    for label, probability in result.top:
        width = max(0.0, min(1.0, float(probability))) * 160
        rows.append(
            f'<tr><td style="{_CELL};text-align:right">{html.escape(class_name(class_names, label))}</td>'
            f'<td style="{_CELL}"><div style="width:160px;height:12px;background:#eee;border-radius:2px">'
            f'<div style="width:{width:.1f}px;height:12px;background:{colour};border-radius:2px"></div></div></td>'
            f'<td style="{_CELL}">{probability:.2f}</td></tr>'
        )
    return f'<table style="border-collapse:collapse;margin:0">{"".join(rows)}</table>'


def explain_html(
    image,
    knn_model,
    *,
    train_images,
    train_labels,
    class_names: Sequence[str] | None = None,
    k: int | None = None,
    title: str | None = None,
    predictions: Mapping | None = None,
    model_labels: Mapping[str, str] | None = None,
    source=None,
    knn_label: str | None = None,
    full_page: bool = True,
) -> str:
    """A self-contained HTML page explaining one prediction of a KNN.

    Shows the preprocessed digit (as a picture and as its pixel values), each
    model's top classes as bars, and the KNN's nearest training digits
    captioned with their labels and distances.

    Parameters
    ----------
    image : ndarray of shape (h, w)
        One preprocessed digit (uint8), as the models see it.
    knn_model : KNNClassifier
        Has ``kneighbors(images, n_neighbors) -> (distances, indices)`` with
        indices into the original training images, and ``config.n_neighbors``.
    train_images : ndarray of shape (n_train, h, w)
        The images the KNN was fitted on (what the indices point into).
    train_labels : ndarray of shape (n_train,)
    class_names : sequence of str, optional
    k : int, optional
        Neighbours to show; default the model's ``n_neighbors`` (those that vote).
    title : str, optional
        Page title (escaped); default "Why this digit?".
    predictions : dict, optional
        This image's row of :func:`~lussi.handwriting.predictions.predict_images` (model name -> Prediction).
    model_labels : mapping of str to str, optional
        Display names for the models in ``predictions``.
    source : PIL.Image.Image or path-like, optional
        The original picture, shown as a thumbnail.
    knn_label : str, optional
        The KNN's display name, shown in the neighbours' heading.
    full_page : bool, default True
        A complete document; False returns a ``<div>`` fragment (no headings
        elements, so it adds nothing to a report's table of contents).

    Returns
    -------
    str
        HTML with inline styles and PNG data URIs, no external links.
    """
    from ..visualize import digit_matrix_html, gallery_html

    image, train_images, train_labels, k = _check_inputs(image, knn_model, train_images, train_labels, k)
    distances, indices = _neighbours(knn_model, image, k, len(train_images))
    title = title or "Why this digit?"

    def heading(text, level):
        # Heading elements only on a page of its own: in a report they would enter its table of contents.
        if full_page:
            return f'<h{level} style="font-size:{22 - 3 * level}px;margin:18px 0 8px">{html.escape(text)}</h{level}>'
        return f'<div style="font-weight:bold;font-size:{19 - 2 * level}px;margin:14px 0 6px">{html.escape(text)}</div>'

    parts = [heading(title, 1), '<div style="display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start">']
    if source is not None:
        parts.append(_source_figure(source))
    parts.append(
        '<figure style="margin:0">'
        + gallery_html(image[None], ["as the models see it"], columns=1, scale=6)
        + "</figure>"
    )
    if predictions:
        parts.append(_predictions_block(predictions, class_names, model_labels, heading("Predictions", 2)))
    parts.append("</div>")
    of_model = f" ({knn_label})" if knn_label else ""
    parts.append(heading(f"The {k} nearest training digits{of_model}", 2))
    parts.append(_neighbours_block(train_images[indices], train_labels[indices].astype(np.int64), distances,
                                   class_names))
    parts.append(heading("Pixel values", 2))
    parts.append(f'<p style="{_NOTE}">0 = paper, 255 = ink, as in MNIST.</p>')
    parts.append(digit_matrix_html(image))
    if not full_page:
        return f'<div class="lussi-explanation">{"".join(parts)}</div>'
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_PAGE_CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def _check_inputs(image, knn_model, train_images, train_labels, k):
    """The digit, the training images and labels as arrays, and ``k`` (default the model's), or ValueError."""
    from ..data import check_images

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be one digit of shape (h, w), got {image.shape}; index the batch first")
    image = check_images(image, image.shape)[0]
    train_images = np.asarray(train_images)
    train_labels = np.asarray(train_labels)
    if train_images.ndim != 3 or train_images.shape[1:] != image.shape:
        raise ValueError(
            f"train_images must have shape (n, {image.shape[0]}, {image.shape[1]}) like the image, "
            f"got {train_images.shape}"
        )
    if train_labels.shape != (len(train_images),):
        raise ValueError(f"train_labels must have shape ({len(train_images)},), got {train_labels.shape}")
    if k is None:
        k = int(knn_model.config.n_neighbors)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(train_images):
        raise ValueError(f"k must be an integer from 1 to {len(train_images)}, got {k!r}")
    return image, train_images, train_labels, k


def _neighbours(knn_model, image: np.ndarray, k: int, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances and training indices of the KNN's ``k`` nearest neighbours of ``image``."""
    distances, indices = knn_model.kneighbors(image[None], n_neighbors=int(k))
    distances, indices = np.asarray(distances)[0], np.asarray(indices)[0]
    # An index past the images given means they are not the ones the model was fitted on.
    if indices.max(initial=0) >= n_train:
        raise ValueError(
            f"the KNN returned training index {indices.max()} but train_images has {n_train} images; "
            "pass the images the model was fitted on"
        )
    return distances, indices


def _source_figure(source) -> str:
    """The picture as given (upright, as its EXIF says), as a thumbnail figure."""
    from PIL import Image

    if isinstance(source, Image.Image):
        picture = source
    else:
        from PIL import ImageOps

        with Image.open(Path(os.fspath(source))) as opened:
            picture = ImageOps.exif_transpose(opened)
            picture.load()
    return (
        '<figure style="margin:0"><img alt="original picture" style="max-width:220px;border:1px solid #ccc" '
        f'src="{picture_data_uri(picture)}"><figcaption style="{_NOTE}">the picture as given</figcaption></figure>'
    )


def _predictions_block(predictions: Mapping, class_names, model_labels, heading: str) -> str:
    """Each model's answer and its top classes as bars, in the models' colours."""
    from ..plotting import model_colors

    colours = model_colors(list(predictions))
    labels = dict(model_labels or {})
    blocks = []
    for name, result in predictions.items():
        blocks.append(
            f'<div style="margin-bottom:10px"><b>{html.escape(labels.get(name, name))}</b>: '
            f"{html.escape(class_name(class_names, result.predicted))}"
            f"{_bars_html(result, class_names, colours[name])}</div>"
        )
    return (
        f'<div>{heading}{"".join(blocks)}'
        f"<div style=\"{_NOTE}\">KNN: share of the neighbours' votes; networks: softmax probability.</div></div>"
    )


def _neighbours_block(images: np.ndarray, labels: np.ndarray, distances: np.ndarray, class_names) -> str:
    """The neighbours' vote count, then their images captioned with rank, label and distance."""
    from ..visualize import gallery_html

    counts = np.bincount(labels, minlength=1)
    votes = ", ".join(
        f"{counts[c]} × {class_name(class_names, int(c))}" for c in np.argsort(-counts, kind="stable") if counts[c]
    )
    captions = [
        f"{rank}. label {class_name(class_names, int(label))} · d={distance:.4g}"
        for rank, (label, distance) in enumerate(zip(labels, distances, strict=True), start=1)
    ]
    k = len(images)
    return (
        f'<p style="{_NOTE}">Their labels: {html.escape(votes)}. Distance in the KNN\'s feature space '
        "(after its preprocessing); smaller is closer.</p>"
        + gallery_html(images, captions, columns=min(10, k), max_items=k, scale=3)
    )


def write_explanation(path, page: str) -> Path:
    """Write an HTML page atomically (a temporary file in the same directory, then ``os.replace``).

    Parameters
    ----------
    path : path-like
        Destination file; its directory is created if needed.
    page : str
        The HTML text (e.g. from :func:`explain_html`).

    Returns
    -------
    Path
    """
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, page, mode=0o644)  # 0644: a page is meant to be opened and shared


def write_explanations(
    directory,
    images,
    names: Sequence[str],
    knn_model,
    *,
    train_images,
    train_labels,
    class_names: Sequence[str] | None = None,
    rows: Sequence[Mapping] | None = None,
    model_labels: Mapping[str, str] | None = None,
    sources: Sequence | None = None,
    k: int | None = None,
    knn_label: str | None = None,
) -> list[Path]:
    """Write one :func:`explain_html` page per image into ``directory``.

    Parameters
    ----------
    directory : path-like
        Created if needed.
    images : ndarray of shape (n, h, w)
        Preprocessed digits.
    names : sequence of str
        One name per image (file names); page ``i`` is ``<stem of names[i]>.html``,
        numbered when two stems collide (ignoring case), shortened when very long
        (see :func:`lussi.safe_io.unique_file_names`).
    knn_model, train_images, train_labels, class_names, k, knn_label
        As in :func:`explain_html`.
    rows : sequence of dict, optional
        :func:`~lussi.handwriting.predictions.predict_images` output, one per image.
    model_labels : mapping of str to str, optional
    sources : sequence of path-like or PIL images, optional
        The original pictures, shown as thumbnails.

    Returns
    -------
    list of Path
        The pages written, in image order.
    """
    images = np.asarray(images)
    names = [str(n) for n in names]
    if images.ndim != 3 or len(images) != len(names):
        raise ValueError(f"need images of shape (n, h, w) and one name each, got {images.shape} and {len(names)} names")
    for label, extra in (("rows", rows), ("sources", sources)):
        if extra is not None and len(extra) != len(images):
            raise ValueError(f"{label} must have one entry per image ({len(images)}), got {len(extra)}")
    directory = Path(os.fspath(directory))
    filenames = unique_file_names([Path(name).stem for name in names], ".html")
    written = []
    for i, (image, name, filename) in enumerate(zip(images, names, filenames, strict=True)):
        page = explain_html(
            image, knn_model, train_images=train_images, train_labels=train_labels, class_names=class_names, k=k,
            title=f"Why this digit? {name}", predictions=None if rows is None else rows[i], model_labels=model_labels,
            source=None if sources is None else sources[i], knn_label=knn_label,
        )
        written.append(write_explanation(directory / filename, page))
    return written
