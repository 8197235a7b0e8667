"""A folder of idx files as a dataset: finding the four files, verifying their checksums, loading them.

A folder holds the four files of MNIST's layout (``train-images-idx3-ubyte`` and
friends, optionally gzipped), an optional ``SHA256SUMS`` listing and an optional
``classes.txt`` naming the classes; :func:`load_idx_dataset` returns a
:class:`lussi.data.Dataset`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

import numpy as np

from .errors import ChecksumError, DataError
from .idx import read_idx
from .safe_io import describe_os_error, open_regular
from .validation import check_split, read_checksums, read_class_names

if TYPE_CHECKING:
    from .data import Dataset

__all__ = ["CLASSES_FILE", "SUMS_FILE", "load_idx_dataset", "sha256_file", "verify_checksums"]

_SPLIT_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
SUMS_FILE = "SHA256SUMS"
CLASSES_FILE = "classes.txt"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a regular file's bytes, read in 1 MiB blocks (DataError for anything else)."""
    digest = hashlib.sha256()
    with open_regular(path, error=DataError) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_listed(directory: Path, sums_path: Path, sums: dict[str, str], *, read: set[str]) -> list[str]:
    """Every listed file must exist; those not in ``read`` (which are checked as they are read) are hashed now."""
    for name in sums:
        if not os.path.lexists(directory / name):
            raise DataError(f"{directory / name}: listed in {sums_path.name} but missing")
    for name, expected in sums.items():
        if name not in read and (actual := sha256_file(directory / name)) != expected:
            raise ChecksumError(directory / name, expected, actual)
    return list(sums)


def verify_checksums(directory: str | os.PathLike, *, sums_file: str = SUMS_FILE) -> list[str]:
    """Check files in ``directory`` against a ``sha256sum``-format list.

    Parameters
    ----------
    directory : path-like
        Directory holding the files and the checksum list.
    sums_file : str
        Name of the list inside ``directory``; if absent, nothing is checked.

    Returns
    -------
    list of str
        Names of the files that were verified.

    Raises
    ------
    DataError
        If the list is malformed (see :func:`lussi.validation.read_checksums`),
        a listed file is missing or its digest differs; the message gives the
        expected and actual sha256.
    """
    directory = Path(directory)
    listing = directory / sums_file
    if not os.path.lexists(listing):
        return []
    return _check_listed(directory, listing, read_checksums(listing), read=set())


def _find_idx_file(directory: Path, stem: str) -> Path:
    # lexists: a directory, FIFO or dangling link under the name is reported as such by the reader.
    present = [directory / name for name in (stem + ".gz", stem, stem.replace("-idx", ".idx"))
               if os.path.lexists(directory / name)]
    if len(present) > 1:
        raise DataError(
            f"{directory}: holds both {' and '.join(p.name for p in present)}; keep only one, so that it is "
            "clear which one is read and checked"
        )
    if not present:
        raise DataError(
            f"{directory}: missing {stem}.gz (or {stem}); an idx dataset directory needs "
            "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte"
        )
    return present[0]


def _dataset_dir(directory: str | os.PathLike) -> Path:
    directory = Path(directory).absolute()
    try:
        found = directory.is_dir()
    except OSError as error:  # an over-long name, a symlink loop
        raise DataError(f"dataset directory {describe_os_error(error)}") from None
    if not found:
        raise DataError(f"{directory}: dataset directory not found")
    return directory


def _digests(directory: Path, files: dict[str, Path], classes: Path | None) -> dict[Path, str | None]:
    """The digest each file read must have: every byte the study uses is covered by SHA256SUMS, or refused."""
    listing = directory / SUMS_FILE
    read = [*files.values(), *([classes] if classes is not None else [])]
    if not os.path.lexists(listing):
        return {path: None for path in read}
    sums = read_checksums(listing)
    _check_listed(directory, listing, sums, read={path.name for path in read})
    for path in read:
        if path.name not in sums:
            raise DataError(
                f"{path}: not listed in {listing}, so what would be read cannot be verified; add its digest "
                f"(sha256sum {path.name} >> {SUMS_FILE}) or remove the file"
            )
    return {path: sums[path.name] for path in read}


def load_idx_dataset(
    directory: str | os.PathLike,
    *,
    name: str | None = None,
    verify: bool = True,
    class_names: Iterable[str] | None = None,
    pinned: Mapping[str, str] | None = None,
) -> Dataset:
    """Load a dataset stored as the four MNIST-style idx files.

    Works for MNIST, Fashion-MNIST, KMNIST and any dataset in the same layout.

    Parameters
    ----------
    directory : path-like
        Holds ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
        ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``
        (exactly one copy of each), optionally ``SHA256SUMS`` (as written by
        ``sha256sum``) and ``classes.txt`` (one class name per line; default
        ``"0"`` ... ``"9"``). When ``SHA256SUMS`` is present, every file read
        (``classes.txt`` included) must be listed in it and match.
    name : str, optional
        Dataset name; defaults to the directory's name.
    verify : bool
        Check digests (``SHA256SUMS``, or ``pinned``).
    class_names : iterable of str, optional
        Overrides ``classes.txt``.
    pinned : mapping of str to str, optional
        File name to sha256 of exactly the four files to read (train images,
        train labels, test images, test labels); ``SHA256SUMS`` is then not
        consulted, and ``classes.txt`` only when ``class_names`` is None.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Missing, duplicated or unlisted files, bad headers, checksum mismatch,
        images and labels that disagree in count, non-uint8 pixels, images
        without pixels, labels that are not integers or lie outside the classes.
    """
    directory = _dataset_dir(directory)
    if pinned is not None:
        files = {key: directory / next(n for n in pinned if n.startswith(stem)) for key, stem in _SPLIT_FILES.items()}
    else:
        files = {key: _find_idx_file(directory, stem) for key, stem in _SPLIT_FILES.items()}
    classes = directory / CLASSES_FILE
    classes = classes if class_names is None and os.path.lexists(classes) else None
    if not verify:
        digests = {}
    elif pinned is not None:
        digests = {path: pinned[path.name] for path in files.values()}
    else:
        digests = _digests(directory, files, classes)
    from .data import DIGIT_CLASSES, Dataset  # data imports this module to load a folder

    arrays = {key: read_idx(path, sha256=digests.get(path)) for key, path in files.items()}
    if class_names is None:
        class_names = read_class_names(classes, sha256=digests.get(classes)) if classes else DIGIT_CLASSES
    class_names = tuple(str(c) for c in class_names)
    for split in ("train", "test"):
        check_split(arrays[f"{split}_images"], arrays[f"{split}_labels"], files[f"{split}_images"],
                    files[f"{split}_labels"], len(class_names))
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise DataError(
            f"{directory}: train images are {arrays['train_images'].shape[1:]} but test images are "
            f"{arrays['test_images'].shape[1:]}"
        )
    return Dataset(
        name=name or directory.name,
        train_images=arrays["train_images"],
        train_labels=arrays["train_labels"].astype(np.int64),
        test_images=arrays["test_images"],
        test_labels=arrays["test_labels"].astype(np.int64),
        class_names=class_names,
        source=str(directory),
    )
