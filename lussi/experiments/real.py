"""The real-pictures experiment: every model's answer on each picture of the real handwriting set.

The set (:mod:`lussi.realset`: photos, scans and drawings made by people) is
built outside the repository; when it is absent the experiment is skipped and the
report says how to build it. :class:`RealResult` holds each model's answers,
summarises them per kind of picture and shows a sample; :data:`EXPERIMENT`
declares it to the study.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import realset
from ..realset import half_of, read_labels
from ..stages import run_stage, table_stage
from ..visualize import html_block, styled_table
from .base import Experiment, model_keys, relabel

__all__ = ["EXPERIMENT", "RealResult", "accuracy_by_kind", "facts", "pictures", "predict_set", "realset_facts",
           "realset_html"]


def predict_set(converted: RealSet, models) -> "pd.DataFrame":  # noqa: F821
    """One row per picture and model: name, kind, half, label, model, predicted (-1 if refused), correct, refused."""
    import pandas as pd

    refused = np.array([error is not None for error in converted.errors])
    records = []
    for name, model in models.items():
        predicted = np.asarray(model.predict(converted.images), dtype=np.int64)
        predicted[refused] = -1
        for picture, answer, no in zip(converted.pictures, predicted, refused, strict=True):
            records.append({"name": picture.name, "kind": picture.kind, "half": half_of(picture.source),
                            "label": picture.label, "model": name, "predicted": int(answer),
                            "correct": bool(answer == picture.label), "refused": bool(no)})
    return pd.DataFrame(records)


def accuracy_by_kind(table, *, half: str | None = None) -> "pd.DataFrame":  # noqa: F821
    """Share read correctly (refusals are misses): index kind (then "all"), one column per model."""
    import pandas as pd

    if half is not None:
        table = table[table["half"] == half]
    kinds = sorted(set(table["kind"]))
    models = list(dict.fromkeys(table["model"]))
    pivot = table.pivot_table(index="kind", columns="model", values="correct", aggfunc="mean").reindex(kinds)
    pivot.loc["all"] = table.groupby("model")["correct"].mean()
    return pd.DataFrame(pivot[models]).astype(float)


def realset_facts(table, labels) -> dict:
    """Numbers for the report's text: counts per kind, accuracy per kind and model, the best model, refusals."""
    first = table[table["model"] == table["model"].iloc[0]]
    accuracy = accuracy_by_kind(table)
    overall = {name: float(accuracy.loc["all", name]) for name in accuracy.columns}
    best = max(overall, key=overall.get)
    return {
        "n": len(first),
        "sources": len({name.rsplit("-", 1)[0] for name in first["name"]}),
        "kinds": {kind: int((first["kind"] == kind).sum()) for kind in accuracy.index if kind != "all"},
        "accuracy": {kind: {labels.get(m, m): float(accuracy.loc[kind, m]) for m in accuracy.columns}
                     for kind in accuracy.index},
        "overall": {labels.get(m, m): value for m, value in overall.items()},
        "best": labels.get(best, best),
        "best_accuracy": overall[best],
        "refused": int(first["refused"].sum()),
    }


def _sample(table, per_kind: int) -> list[str]:
    """Names of a fixed sample: ``per_kind`` pictures of each kind, from one source after another, the
    j-th one showing the digit j (mod 10) where its source has it."""
    first = table.drop_duplicates("name")
    names = []
    for _, rows in first.groupby("kind", sort=True):
        by_source = {}
        for row in rows.itertuples():
            by_source.setdefault(row.name.rsplit("-", 1)[0], []).append((row.label, row.name))
        sources = sorted(by_source)
        for j in range(min(per_kind, len(rows))):
            left = [item for item in by_source[sources[j % len(sources)]] if item[1] not in names]
            left = left or [item for items in by_source.values() for item in items if item[1] not in names]
            names.append(min(left, key=lambda item: ((item[0] - j) % 10, item[1]))[1])
    return names


def realset_html(directory, table, labels, *, per_kind: int = 6, thumbnail: int = 72) -> str:
    """A sample of real pictures beside the 28x28 digit the models saw and each model's answer (misses in red)."""
    import html

    from PIL import Image, ImageOps

    from ..handwriting.files import ImageError, load_digit_image, picture_data_uri
    from ..plotting import ERROR_COLOR

    pictures = {p.name: p for p in read_labels(directory)}
    cells = []
    for name in _sample(table, per_kind):
        picture, rows = pictures[name], table[table["name"] == name]
        with Image.open(picture.path) as opened:
            shown = ImageOps.exif_transpose(opened)
            shown.load()
        try:
            seen = Image.fromarray(255 - load_digit_image(picture.path)).resize((thumbnail, thumbnail),
                                                                                 Image.Resampling.NEAREST)
            seen_html = f'<img alt="as the models see it" width="{thumbnail}" src="{picture_data_uri(seen)}">'
        except ImageError:
            seen_html = f'<div style="width:{thumbnail}px;font:11px sans-serif">refused</div>'
        answers = "".join(
            f'<div style="color:{ERROR_COLOR if not row.correct else "#333"}">{html.escape(labels.get(row.model, row.model))}: '
            f'{"refused" if row.refused else row.predicted}</div>' for row in rows.itertuples()
        )
        cells.append(
            '<div style="display:flex;flex-direction:column;align-items:center;gap:2px;font:11px sans-serif;'
            f'width:{2 * thumbnail + 8}px"><div style="display:flex;gap:4px">'
            f'<img alt="{html.escape(picture.kind)} of a {picture.label}" width="{thumbnail}" '
            f'src="{picture_data_uri(shown, max_side=thumbnail)}">{seen_html}</div>'
            f'<div><b>{picture.label}</b> ({html.escape(picture.kind)}, {html.escape(name)})</div>{answers}</div>'
        )
    return f'<div class="lussi-real-digits" style="display:flex;flex-wrap:wrap;gap:10px">{"".join(cells)}</div>'


@dataclasses.dataclass(frozen=True, eq=False)
class RealResult:
    """The set's folder and each model's answer on each picture (:func:`predict_set`; the cached part)."""

    directory: Path
    table: "pd.DataFrame"  # noqa: F821

    def facts(self, labels: Mapping[str, str]) -> dict:
        return realset_facts(self.table, labels)


def _skip(study) -> str | None:
    return "no set" if realset.find_set() is None else None


def _run(study, cache, rebuild: bool):
    from .. import picture

    directory = realset.find_set()
    size = study.dataset.image_shape[0]
    stage = table_stage(
        "realset",
        lambda study: {"models": model_keys(study), "set": realset.set_fingerprint(directory),
                       "conversion": picture.fingerprint(), "size": size},
        lambda study: predict_set(realset.convert_set(read_labels(directory), size=size),
                                            {name: t.model for name, t in study.models.items()}),
    )
    answers, seconds = run_stage(stage, study, cache, rebuild)
    return RealResult(directory, answers), seconds


def _describe(study) -> str:
    return f"real pictures of handwriting ({realset.find_set()})"


EXPERIMENT = Experiment("real", _describe, None, None, RealResult, skip=_skip, run=_run,
                        after="drawn", cost=5)


def facts(study) -> dict:
    """The real set's numbers (:func:`realset_facts`), or ``available: False`` with how to build it."""
    result = study.result("real")
    if result is None:
        return {"available": False, "build": realset.BUILD_COMMAND, "env": realset.ENV}
    return {"available": True, **result.facts(study.labels)}


@html_block
def pictures(study, per_kind: int = 6) -> str:
    """Each model's accuracy per kind of picture, then a sample of pictures beside what the models saw and
    read (empty when the set is not built here)."""
    result = study.result("real")
    if result is None:
        return ""
    table = relabel(result.table, study.labels)
    accuracy = accuracy_by_kind(table)
    counts = table.drop_duplicates("name")["kind"].value_counts()
    accuracy.index = [f"{kind} ({counts.sum() if kind == 'all' else counts[kind]})" for kind in accuracy.index]
    shown = accuracy.rename_axis("pictures").reset_index()
    models = [c for c in shown.columns if c != "pictures"]
    caption = ("Share of the real pictures each model reads correctly, per kind of picture (a refused picture "
               "counts as a miss).")
    sample = ("A sample of the real pictures, each beside the 28×28 digit the models saw, with every model's "
              "answer (misses in red).")
    return (f"{styled_table(shown, caption=caption, percent_columns=models, precision=3)}\n"
            f"<p>{sample}</p>\n{realset_html(result.directory, table, {}, per_kind=per_kind)}")
