"""The drawn-digit experiment: digits drawn by code in several styles, read by every model.

A check that needs no pictures from anyone: the models trained on MNIST read
digits drawn by :func:`lussi.handwriting.drawing.draw_digit` and converted by
:func:`lussi.handwriting.files.preprocess_digit`, per drawing style.
:class:`DrawnResult` holds the drawings and every model's answers, its facts and
its views; :data:`EXPERIMENT` declares it to the study.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Mapping, Sequence

import numpy as np

from ..data import digit_classes
from ..handwriting.drawing import draw_digit
from ..handwriting.files import MIN_STROKE, picture_data_uri, preprocess_digit
from ..handwriting.predictions import predict_images
from ..stages import run_stage, table_stage
from ..visualize import html_block, styled_table
from .base import Experiment, model_keys, note, relabel

__all__ = ["DRAWN_STYLES", "EXPERIMENT", "DrawnDigits", "DrawnResult", "drawn_digits", "drawn_digits_accuracy",
           "drawn_digits_html", "facts", "gallery", "predict_drawn_digits", "table"]

# Bump to recompute every cached table of drawn digits (shared with the other extras of the first study).
VERSION = 1

# Variants of drawn digits for the report: (name, draw_digit options).
DRAWN_STYLES = {
    "font": {"style": "font"},
    "pen": {"style": "stroke"},
    "photo": {"style": "stroke", "photo": True},
    "thin pen photo": {"style": "stroke", "photo": True, "pen": 0.02, "size": (480, 480)},
}


@dataclasses.dataclass(frozen=True)
class DrawnDigits:
    """Digits drawn by code and their MNIST-style conversions.

    Attributes
    ----------
    pictures : list of PIL.Image.Image
        The drawings as made (before any preprocessing).
    images : ndarray of shape (n, size, size), uint8
        After :func:`preprocess_digit`.
    labels : ndarray of shape (n,), int64
        The digit drawn.
    styles : list of str
        The :data:`DRAWN_STYLES` key of each drawing.
    """

    pictures: list
    images: np.ndarray
    labels: np.ndarray
    styles: list


def drawn_digits(
    *,
    styles: Sequence[str] = tuple(DRAWN_STYLES),
    digits: Sequence[int] = tuple(range(10)),
    seed: int = 0,
    size: int = 28,
    box: int | None = None,
    min_stroke: float | None = MIN_STROKE,
) -> DrawnDigits:
    """Draw each digit in each style and convert it like MNIST.

    Parameters
    ----------
    styles : sequence of str
        Keys of :data:`DRAWN_STYLES`: ``"font"`` (TrueType glyphs), ``"pen"``
        (jittered strokes), ``"photo"`` (strokes photographed: tinted paper,
        uneven light, blur, noise), ``"thin pen photo"`` (a ballpoint-thin
        stroke on a larger photo, where stroke thickening matters).
    digits : sequence of int
    seed : int
        Drawing ``j`` uses seed ``seed * 1000 + j``; polarity alternates.
    size, box, min_stroke
        As in :func:`load_digit_image`.

    Returns
    -------
    DrawnDigits
    """
    unknown = [s for s in styles if s not in DRAWN_STYLES]
    if unknown:
        raise ValueError(f"unknown style(s) {unknown}; choose from {list(DRAWN_STYLES)}")
    pictures, images, labels, names = [], [], [], []
    j = 0
    for style in styles:
        for digit in digits:
            picture = draw_digit(int(digit), seed=seed * 1000 + j, dark_on_light=j % 2 == 0, **DRAWN_STYLES[style])
            pictures.append(picture)
            images.append(preprocess_digit(picture, size=size, box=box, min_stroke=min_stroke, name=f"{style} {digit}"))
            labels.append(int(digit))
            names.append(style)
            j += 1
    return DrawnDigits(pictures, np.array(images, dtype=np.uint8), np.array(labels, dtype=np.int64), names)


def predict_drawn_digits(drawn: DrawnDigits, models: Mapping[str, object], *, labels: Mapping[str, str] | None = None):
    """Tidy predictions of every model on drawn digits.

    Parameters
    ----------
    drawn : DrawnDigits
    models : mapping of str to model
    labels : mapping of str to str, optional
        Display names of the models (the ``model`` column); default the keys.

    Returns
    -------
    DataFrame
        One row per drawing and model: ``style``, ``digit``, ``model``,
        ``predicted``, ``probability`` (of the predicted class), ``correct``.
    """
    import pandas as pd

    labels = dict(labels or {})
    rows = predict_images(drawn.images, models, top=1)
    records = []
    for style, digit, row in zip(drawn.styles, drawn.labels, rows, strict=True):
        for name, result in row.items():
            records.append(
                {
                    "style": style,
                    "digit": int(digit),
                    "model": labels.get(name, name),
                    "predicted": result.predicted,
                    "probability": result.top[0][1],
                    "correct": result.predicted == int(digit),
                }
            )
    return pd.DataFrame(records)


def drawn_digits_accuracy(table):
    """Share of drawn digits each model got right, per style (rows) and model (columns), plus "all".

    Parameters
    ----------
    table : DataFrame
        From :func:`predict_drawn_digits`.

    Returns
    -------
    DataFrame
        Index ``style`` (in drawing order, then ``"all"``), one column per model.
    """
    import pandas as pd

    styles = list(dict.fromkeys(table["style"]))
    models = list(dict.fromkeys(table["model"]))
    pivot = table.pivot_table(index="style", columns="model", values="correct", aggfunc="mean").reindex(styles)
    pivot.loc["all"] = table.groupby("model")["correct"].mean()
    return pd.DataFrame(pivot[models]).astype(float)


def drawn_digits_html(drawn: DrawnDigits, table=None, *, model: str | None = None, thumbnail: int = 56) -> str:
    """The drawings beside what the models see, one row per style.

    Parameters
    ----------
    drawn : DrawnDigits
    table : DataFrame, optional
        From :func:`predict_drawn_digits`; adds "→ prediction" to captions and
        frames wrong predictions of ``model`` in red.
    model : str, optional
        The ``model`` value whose predictions to show; default the first.
    thumbnail : int, default 56
        Side of the drawing thumbnails in pixels.

    Returns
    -------
    str
        A ``<div>`` with inline styles and PNG data URIs (two images per drawing).
    """
    from PIL import Image

    from ..plotting import ERROR_COLOR

    predicted = {}
    if table is not None:
        model = model if model is not None else str(table["model"].iloc[0])
        subset = table[table["model"] == model]
        if subset.empty:
            raise ValueError(f"no predictions of model {model!r}; the table has {sorted(set(table['model']))}")
        predicted = {i: int(p) for i, p in enumerate(subset["predicted"])}
    rows = []
    for style in dict.fromkeys(drawn.styles):
        cells = []
        for i in (i for i, s in enumerate(drawn.styles) if s == style):
            label = int(drawn.labels[i])
            caption = str(label) if i not in predicted else f"{label} → {predicted[i]}"
            border = ERROR_COLOR if i in predicted and predicted[i] != label else "transparent"
            seen = Image.fromarray(np.ascontiguousarray(255 - drawn.images[i]))
            digit_uri = picture_data_uri(seen.resize((thumbnail, thumbnail), Image.Resampling.NEAREST))
            cells.append(
                f'<div style="display:flex;flex-direction:column;align-items:center;gap:2px">'
                f'<img alt="drawn {label}" width="{thumbnail}" height="{thumbnail}" style="border:1px solid #ccc;'
                f'margin:0;box-shadow:none" src="{picture_data_uri(drawn.pictures[i], max_side=thumbnail)}">'
                f'<img alt="as the models see it" width="{thumbnail}" height="{thumbnail}" style="border:2px solid '
                f'{border};margin:0;box-shadow:none;image-rendering:pixelated" src="{digit_uri}">'
                f'<div style="font:11px sans-serif">{html.escape(caption)}</div></div>'
            )
        rows.append(
            '<div style="display:flex;align-items:center;gap:6px;margin-bottom:8px">'
            f'<div style="width:7em;font:bold 12px sans-serif;text-align:right">{html.escape(style)}</div>'
            f"{''.join(cells)}</div>"
        )
    return f'<div class="lussi-drawn-digits">{"".join(rows)}</div>'


# --------------------------------------------------------------------------- the experiment


@dataclasses.dataclass(frozen=True, eq=False)
class DrawnResult:
    """The drawings (redrawn each run: drawing is deterministic and takes about a second) and every model's
    answer on each (:func:`predict_drawn_digits`, ``model`` holding model names; the cached part)."""

    drawn: DrawnDigits
    table: "pd.DataFrame"  # noqa: F821

    def accuracy(self, labels: Mapping[str, str] | None = None):
        """:func:`drawn_digits_accuracy`, models named by ``labels``."""
        return drawn_digits_accuracy(relabel(self.table, labels))

    def to_html(self, *, model: str, labels: Mapping[str, str] | None = None) -> str:
        """:func:`drawn_digits_html` captioned with ``model``'s answers (a label when ``labels`` are given)."""
        table = relabel(self.table, labels)
        return drawn_digits_html(self.drawn, table, model=model)


def _skip(study) -> str | None:
    h, w = study.dataset.image_shape
    return "classes" if not digit_classes(study.dataset) else "shape" if h != w else None


def _run(study, cache, rebuild: bool):
    profile = study.profile
    options = {"styles": list(profile.drawn_styles), "seed": profile.seed, "size": study.dataset.image_shape[0]}
    drawn = drawn_digits(styles=tuple(options["styles"]), seed=profile.seed, size=options["size"])
    stage = table_stage(
        "drawn",
        lambda study: {"models": model_keys(study), **options, "conversion": _conversion(), "version": VERSION},
        lambda study: predict_drawn_digits(drawn, {name: t.model for name, t in study.models.items()}),
    )
    answers, seconds = run_stage(stage, study, cache, rebuild)
    return DrawnResult(drawn, answers), seconds


def _conversion() -> str:
    from ..picture import fingerprint

    return fingerprint()


EXPERIMENT = Experiment("drawn", "digits drawn by code", None, None, DrawnResult, skip=_skip, run=_run, cost=2)


def facts(study) -> dict:
    """Drawn-digit accuracies per model and style, or ``applicable: False`` with the ``reason``."""
    result = study.result("drawn")
    if result is None:
        return {"applicable": False, "reason": study.experiments.get("drawn", {}).get("reason", "not computed"),
                "class_names": list(study.dataset.class_names)}
    accuracy = result.accuracy()
    overall = {name: float(accuracy.loc["all", name]) for name in accuracy.columns}
    best = max(overall, key=overall.get)
    knn, net = study.headline
    drawn = result.drawn
    return {
        "applicable": True,
        "reason": None,
        "n": len(drawn.labels),
        "styles": list(dict.fromkeys(drawn.styles)),
        "per_style": int(len(drawn.labels) // max(1, len(set(drawn.styles)))),
        "accuracy": overall,
        "best": best,
        "knn": overall[knn],
        "net": overall[net],
        "by_style": {style: {name: float(accuracy.loc[style, name]) for name in accuracy.columns}
                     for style in accuracy.index if style != "all"},
    }


@html_block
def gallery(study, name: str | None = None) -> str:
    """Digits drawn by code beside what the models see, captioned with ``name``'s answers (default: best network)."""
    result = study.result("drawn")
    if result is None:
        return note("Drawn digits do not apply to this dataset (see the text above).")
    return result.to_html(model=study.label(name or study.headline[1]), labels=study.labels)


@html_block
def table(study) -> str:
    """Share of drawn digits each model reads correctly, by drawing style."""
    result = study.result("drawn")
    if result is None:
        return note("Drawn digits do not apply to this dataset.")
    shown = result.accuracy(study.labels).reset_index()
    return styled_table(shown, percent_columns=[c for c in shown.columns if c != "style"], precision=2)
