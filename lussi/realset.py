"""Real pictures of handwritten digits, converted like MNIST and read by every model.

The set is built outside the repository (its pictures come from public
repositories, most without a licence): ``benchmarks/handwriting_set/build_set.py``
writes it to ``data/handwriting/`` (or anywhere, named by ``$LUSSI_HANDWRITING_SET``).
Any folder with a ``labels.csv`` (``path,label[,kind]``, paths relative to it)
works. Each picture goes through :func:`lussi.handwriting.files.load_digit_image`,
the conversion ``lussi predict`` uses; a picture it refuses counts as a miss
for every model.

:func:`find_set` locates the set, :func:`read_labels` reads it,
:func:`convert_set` converts it, :func:`predict_set` tabulates each model's
answer, :func:`accuracy_by_kind` and :func:`realset_facts` summarise them and
:func:`realset_html` shows a sample. The study's stage is declared in :mod:`lussi.study_stages`.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import time
from pathlib import Path

import numpy as np

__all__ = [
    "ENV",
    "Picture",
    "RealSet",
    "accuracy_by_kind",
    "convert_set",
    "find_set",
    "half_of",
    "predict_set",
    "read_labels",
    "realset_facts",
    "realset_html",
]

ENV = "LUSSI_HANDWRITING_SET"
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "data" / "handwriting"
BUILD_COMMAND = "python3 benchmarks/handwriting_set/build_set.py data/handwriting"


@dataclasses.dataclass(frozen=True)
class Picture:
    """One labelled picture: ``path``, ``name`` (file stem), ``label``, ``kind`` and ``source``
    (the name's prefix before its last ``-``: the repository in the real set, ``mhw32`` of ``mhw32-001``)."""

    path: Path
    name: str
    label: int
    kind: str
    source: str


@dataclasses.dataclass
class RealSet:
    """Converted pictures: ``images`` (n, size, size) uint8, ``errors`` (the refusal message or None per
    picture), ``seconds`` and ``cpu_seconds`` (wall and CPU time per picture, decoding included)."""

    pictures: list
    images: np.ndarray
    errors: list
    seconds: list
    cpu_seconds: list


def find_set(directory=None) -> Path | None:
    """The set's folder: ``directory``, else ``$LUSSI_HANDWRITING_SET``, else ``data/handwriting`` of the
    project; None when the folder has no ``labels.csv``."""
    for candidate in (directory, os.environ.get(ENV) or None, DEFAULT_DIR):
        if candidate is not None:
            path = Path(os.fspath(candidate))
            return path if (path / "labels.csv").is_file() else None
    return None


def read_labels(directory) -> list[Picture]:
    """The pictures listed in ``directory/labels.csv``; ValueError naming the line when one is malformed."""
    directory = Path(os.fspath(directory))
    table = directory / "labels.csv"
    with open(table, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        missing = {"path", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{table}: no {', '.join(sorted(missing))} column (need path,label[,kind])")
        pictures = []
        for number, row in enumerate(reader, start=2):
            try:
                label = int(row["label"])
            except (TypeError, ValueError):
                raise ValueError(f"{table}:{number}: label {row['label']!r} is not an integer") from None
            name = Path(row["path"]).stem
            kind = (row.get("kind") or "").strip() or "all"
            pictures.append(Picture(directory / row["path"], name, label, kind, name.rsplit("-", 1)[0]))
    if not pictures:
        raise ValueError(f"{table} lists no pictures")
    return pictures


def half_of(source: str) -> str:
    """"dev" or "check": the parity of the sha256 of the source's name, so a repository's pictures
    stay together and the split was fixed before any result was seen (the conversion was tuned on dev)."""
    return "dev" if int(hashlib.sha256(source.encode("utf-8")).hexdigest(), 16) % 2 == 0 else "check"


def convert_set(pictures, *, size: int = 28) -> RealSet:
    """Convert every picture with :func:`lussi.handwriting.files.load_digit_image`, timing each (after one
    untimed warm-up conversion, which pays for the first imports)."""
    from .handwriting.files import ImageError, load_digit_image

    images = np.zeros((len(pictures), size, size), dtype=np.uint8)
    errors, seconds, cpu = [], [], []
    for i, picture in enumerate([*pictures[:1], *pictures]):
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            image, error = load_digit_image(picture.path, size=size), None
        except ImageError as failure:
            image, error = None, str(failure)
        if i == 0:
            continue
        images[i - 1] = 0 if image is None else image
        errors.append(error)
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return RealSet(list(pictures), images, errors, seconds, cpu)


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

    from .handwriting.files import ImageError, load_digit_image, picture_data_uri
    from .plotting import ERROR_COLOR

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


def set_fingerprint(directory) -> str:
    """sha256 over labels.csv and every picture's bytes: part of the cache key of the study's stage."""
    digest = hashlib.sha256()
    directory = Path(os.fspath(directory))
    digest.update((directory / "labels.csv").read_bytes())
    for picture in read_labels(directory):
        digest.update(picture.path.read_bytes())
    return digest.hexdigest()
