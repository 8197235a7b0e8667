"""Terminal output of ``lussi predict``: the library returns predictions as data, this lays them out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .handwriting.predictions import class_name

__all__ = ["format_predictions"]


def format_predictions(
    rows: Sequence[Mapping],
    class_names: Sequence[str] | None = None,
    *,
    names: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """A plain-text table of :func:`~lussi.handwriting.predictions.predict_images` results for the terminal.

    Parameters
    ----------
    rows : sequence of dict of str to Prediction
        The output of :func:`lussi.handwriting.predictions.predict_images`.
    class_names : sequence of str, optional
        Name of class ``i``; default the class number.
    names : sequence of str, optional
        One name per image (file names); default ``#1``, ``#2``, ...
    labels : mapping of str to str, optional
        Display names of the models; default their keys.

    Returns
    -------
    str
        One line per image and model: image, model, predicted class and the
        top classes with probabilities, columns aligned, no trailing newline.
    """
    rows = list(rows)
    if names is None:
        names = [f"#{i + 1}" for i in range(len(rows))]
    names = [str(n) for n in names]
    if len(names) != len(rows):
        raise ValueError(f"got {len(rows)} prediction rows but {len(names)} names; pass one name per image")
    labels = dict(labels or {})
    table = [("image", "model", "predicted", "top classes (probability)")]
    for name, row in zip(names, rows, strict=True):
        for i, (model, result) in enumerate(row.items()):
            tops = "  ".join(f"{class_name(class_names, c)} {p:.2f}" for c, p in result.top)
            table.append(
                (name if i == 0 else "", labels.get(model, model), class_name(class_names, result.predicted), tops)
            )
    widths = [max(len(line[col]) for line in table) for col in range(3)]
    lines = []
    for number, line in enumerate(table):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(line[:3], widths)) + "  " + line[3])
        if number == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * len(line[3]))
    return "\n".join(line.rstrip() for line in lines)
