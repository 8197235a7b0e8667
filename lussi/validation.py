"""Checks of what a dataset directory holds: SHA256SUMS, classes.txt, and each split's arrays.

Each check raises :class:`~lussi.errors.DataError` with the file, what is
wrong and what to do. They are strict where leniency would change a number:
a blank line inside ``classes.txt`` would shift every later class name by
one, a duplicated name in ``SHA256SUMS`` leaves open which digest counts, and
a float label would be truncated to an integer class.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

import numpy as np

from .errors import ChecksumError, DataError
from .safe_io import decode_text, read_bytes, read_text

__all__ = ["check_split", "read_checksums", "read_class_names", "schema_problem"]

_SUMS_LINE = re.compile(r"^(?P<digest>[0-9a-fA-F]{64}) [ *](?P<name>.*)$")
# Integer idx types (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int): what labels may be.
_LABEL_KINDS = "ui"


def read_checksums(listing: str | os.PathLike) -> dict[str, str]:
    """Parse a ``sha256sum``-format list (``<64 hex digits>  <file name>`` per line).

    Parameters
    ----------
    listing : path-like
        The list, usually ``SHA256SUMS`` in a dataset directory.

    Returns
    -------
    dict of str to str
        File name (relative to the list's directory) to lower-case hex digest, in file order.

    Raises
    ------
    DataError
        Not a regular UTF-8 file, a line that is not a sha256sum line, a name
        that is empty, outside the directory or listed twice, or no lines at all.
    """
    listing = Path(listing)
    sums: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(read_text(listing, error=DataError).split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        match = _SUMS_LINE.match(line)
        if match is None:
            raise DataError(f"{listing}:{number}: not a sha256sum line: {line[:120]!r}; "
                            "expected '<64 hex digits>  <file name>' (the output of sha256sum)")
        name = match["name"].strip()
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise DataError(f"{listing}:{number}: {name!r} is not the name of a file in {listing.parent}")
        if name in sums:
            raise DataError(f"{listing}:{number}: {name} is listed twice (also on line {lines[name]}); keep one line")
        sums[name], lines[name] = match["digest"].lower(), number
    if not sums:
        raise DataError(f"{listing}: lists no files; add '<sha256>  <name>' lines or remove it")
    return sums


def read_class_names(path: str | os.PathLike, *, sha256: str | None = None) -> tuple[str, ...]:
    """Read ``classes.txt``: the name of class ``i`` on line ``i + 1``.

    Parameters
    ----------
    path : path-like
    sha256 : str, optional
        Expected digest of the file (from ``SHA256SUMS``), checked over the bytes read.

    Returns
    -------
    tuple of str

    Raises
    ------
    DataError
        Not a regular UTF-8 file, a digest mismatch, a blank line before the
        last name, a name holding control characters, a name listed twice, or no names.
    """
    path = Path(path)
    data = read_bytes(path, error=DataError)
    if sha256 is not None and (actual := hashlib.sha256(data).hexdigest()) != sha256:
        raise ChecksumError(path, sha256, actual, "restore the file or update SHA256SUMS")
    lines = [line.strip() for line in decode_text(data, path, error=DataError).split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise DataError(f"{path}: names no classes; write one class name per line, in label order")
    first_line = {}
    for number, name in enumerate(lines, start=1):
        if not name:
            raise DataError(f"{path}:{number}: empty line; every line names one class in label order "
                            "(a blank line would shift the later names), so remove it")
        if any(unicodedata.category(c).startswith("C") for c in name):
            raise DataError(f"{path}:{number}: class name {name!r} holds control characters")
        if name in first_line:
            raise DataError(f"{path}:{number}: class name {name!r} is used twice (also on line {first_line[name]})")
        first_line[name] = number
    return tuple(lines)


def check_split(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path,
                n_classes: int) -> None:
    """Check one split's arrays as read from their idx files.

    Raises
    ------
    DataError
        Images that are not uint8 ``(n, height, width)`` with at least one
        pixel, labels that are not 1-D integers in ``0 .. n_classes - 1``,
        counts that differ, or an empty split.
    """
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{image_path}: expected uint8 images of 3 dimensions (n, height, width), "
                        f"got {images.dtype} with shape {images.shape}")
    if images.shape[1] < 1 or images.shape[2] < 1:
        raise DataError(f"{image_path}: images of {images.shape[1]}x{images.shape[2]} pixels hold nothing; "
                        "each image needs at least one pixel")
    if labels.dtype.kind not in _LABEL_KINDS:
        raise DataError(f"{label_path}: labels must be integers (idx type 0x08, 0x09, 0x0B or 0x0C), "
                        f"got {labels.dtype}; a class index cannot be a fraction")
    if labels.ndim != 1:
        raise DataError(f"{label_path}: expected 1-D labels, got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{image_path.parent}: {image_path.name.removesuffix('.gz')} holds {len(images)} images "
                        f"but {label_path.name.removesuffix('.gz')} holds {len(labels)} labels")
    if len(labels) == 0:
        raise DataError(f"{label_path}: no items")
    bad = (labels < 0) | (labels >= n_classes)
    if bad.any():
        raise DataError(f"{label_path}: label {int(labels[bad][0])} at index {int(np.argmax(bad))} is outside "
                        f"0-{n_classes - 1} (the dataset has {n_classes} classes)")


def schema_problem(value, schema, where: str) -> str:
    """Why ``value`` (parsed JSON) does not have ``schema``'s shape ("" when it does).

    Parameters
    ----------
    value : object
    schema : type, tuple of types, or dict
        A dict lists required keys, each with its own schema; keys not listed may be present.
    where : str
        Names ``value`` in the message.

    Returns
    -------
    str
    """
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{where} is a JSON {type(value).__name__}, not an object"
        for key, inner in schema.items():
            if key not in value:
                return f"{where} lacks {key!r}"
            problem = schema_problem(value[key], inner, f"{where}[{key!r}]")
            if problem:
                return problem
        return ""
    types = schema if isinstance(schema, tuple) else (schema,)
    types += (int,) if float in types else ()  # JSON writes 2.0 as 2
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        return f"{where} is a {type(value).__name__}, expected {' or '.join(t.__name__ for t in types)}"
    return ""
