"""Real pictures of handwritten digits, converted like MNIST and read by every model.

The set is built outside the repository (its pictures come from public
repositories, most without a licence): ``benchmarks/handwriting_set/build_set.py``
writes it to ``data/handwriting/`` (or anywhere, named by ``$LUSSI_HANDWRITING_SET``).
Any folder with a ``labels.csv`` (``path,label[,kind]``, paths relative to it)
works. Each picture goes through :func:`lussi.handwriting.files.load_digit_image`,
the conversion ``lussi predict`` uses; a picture it refuses counts as a miss
for every model.

:func:`find_set` locates the set, :func:`read_labels` reads it and
:func:`convert_set` converts it; the study's experiment on it (each model's
answers, their summary and a sample shown) is :mod:`lussi.experiments.real`.
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
    "convert_set",
    "find_set",
    "half_of",
    "read_labels",
    "set_fingerprint",
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


def set_fingerprint(directory) -> str:
    """sha256 over labels.csv and every picture's bytes: part of the cache key of the study's stage."""
    digest = hashlib.sha256()
    directory = Path(os.fspath(directory))
    digest.update((directory / "labels.csv").read_bytes())
    for picture in read_labels(directory):
        digest.update(picture.path.read_bytes())
    return digest.hexdigest()
