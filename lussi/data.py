"""Datasets: verified idx files (MNIST and friends), scikit-learn's digits, splits.

Pixels stay ``uint8`` of shape ``(n, height, width)`` from disk to the model's
door: 60,000 MNIST images are 47 MB as uint8 and 376 MB as float64. Labels are
``int64`` of shape ``(n,)``.

The test split is only for final figures; every hyperparameter choice uses
:meth:`Dataset.validation_split`, which is carved from the training images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from .errors import ChecksumError, DataError
from .idx import read_idx, write_idx
from .safe_io import atomic_writer, describe_os_error, open_regular
from .validation import check_split, read_checksums, read_class_names

__all__ = [
    "DataError",
    "Dataset",
    "Split",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "check_images",
    "default_mnist_dir",
    "download_mnist",
    "load_dataset",
    "load_digits_dataset",
    "load_idx_dataset",
    "read_idx",
    "sha256_file",
    "verify_checksums",
    "write_idx",
]


# The four files of the original MNIST distribution and their sha256 digests
# (identical to the SHA256SUMS committed beside them in data/mnist/).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

# Canonical https mirrors of the original files (yann.lecun.com itself serves
# plain http only and often refuses automated downloads, so it is not listed).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# A download larger than this is not MNIST: stop reading rather than fill the disk.
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024

_SPLIT_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
SUMS_FILE = "SHA256SUMS"
CLASSES_FILE = "classes.txt"
DIGIT_CLASSES = tuple(str(i) for i in range(10))


# --------------------------------------------------------------------------- checksums


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


# --------------------------------------------------------------------------- datasets


@dataclasses.dataclass(frozen=True)
class Split:
    """Images and labels of one split.

    Attributes
    ----------
    images : ndarray of shape (n, height, width), uint8
    labels : ndarray of shape (n,), int64
    """

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A train/test image classification dataset held as uint8 arrays.

    Attributes
    ----------
    name : str
        ``"mnist"``, ``"digits"`` or the directory's name; subsets add a suffix.
    train_images, test_images : ndarray of shape (n, height, width), uint8
    train_labels, test_labels : ndarray of shape (n,), int64
    class_names : tuple of str
        Name of class ``i`` at position ``i``.
    source : str
        Where the data came from (a directory or a description).
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    source: str = ""

    def __post_init__(self):
        for field in ("train_images", "train_labels", "test_images", "test_labels"):
            getattr(self, field).flags.writeable = False  # raw data is immutable

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of one image."""
        return tuple(self.train_images.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def train(self) -> Split:
        return Split(self.train_images, self.train_labels)

    @property
    def test(self) -> Split:
        return Split(self.test_images, self.test_labels)

    @property
    def fingerprint(self) -> str:
        """sha256 (hex, 16 chars) of the arrays' bytes and class names: the data part of cache keys."""
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            digest = hashlib.sha256()
            for array in (self.train_images, self.train_labels, self.test_images, self.test_labels):
                digest.update(str((array.dtype.str, array.shape)).encode())
                digest.update(np.ascontiguousarray(array).data)
            digest.update("\0".join(self.class_names).encode())
            cached = digest.hexdigest()[:16]
            object.__setattr__(self, "_fingerprint", cached)
        return cached

    def validation_split(self, *, fraction: float = 0.1, random_state: int = 0) -> tuple[Split, Split]:
        """Carve a stratified, seeded validation split from the training images.

        Parameters
        ----------
        fraction : float
            Share of the training images held out for validation, in (0, 1).
        random_state : int
            Seed of the split.

        Returns
        -------
        fit, validation : Split
            The images to fit on and the held-out validation images.
        """
        from sklearn.model_selection import train_test_split

        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
        fit_idx, val_idx = train_test_split(
            np.arange(len(self.train_labels)),
            test_size=fraction,
            stratify=self.train_labels,
            random_state=random_state,
        )
        fit_idx.sort()
        val_idx.sort()
        return (
            Split(self.train_images[fit_idx], self.train_labels[fit_idx]),
            Split(self.train_images[val_idx], self.train_labels[val_idx]),
        )

    def subset(self, *, n_train: int | None = None, n_test: int | None = None, random_state: int = 0) -> "Dataset":
        """A smaller stratified sample of the dataset (for quick runs and tests).

        Parameters
        ----------
        n_train, n_test : int or None
            Images to keep from each split; None keeps the whole split.
        random_state : int
            Seed of the sampling.

        Returns
        -------
        Dataset
            Named ``"{name}[n_train/n_test]"``; images keep their original order.
        """
        train_idx = _stratified_sample(self.train_labels, n_train, random_state)
        test_idx = _stratified_sample(self.test_labels, n_test, random_state)
        if len(train_idx) == len(self.train_labels) and len(test_idx) == len(self.test_labels):
            return self
        return Dataset(
            name=f"{self.name}[{len(train_idx)}/{len(test_idx)}]",
            train_images=self.train_images[train_idx],
            train_labels=self.train_labels[train_idx],
            test_images=self.test_images[test_idx],
            test_labels=self.test_labels[test_idx],
            class_names=self.class_names,
            source=self.source,
        )

    def describe(self) -> dict:
        """Plain facts about the dataset (sizes, shape, class counts) for reports and the CLI."""
        return {
            "name": self.name,
            "source": self.source,
            "n_train": int(len(self.train_labels)),
            "n_test": int(len(self.test_labels)),
            "image_shape": list(self.image_shape),
            "n_classes": self.n_classes,
            "class_names": list(self.class_names),
            "train_class_counts": np.bincount(self.train_labels, minlength=self.n_classes).tolist(),
            "test_class_counts": np.bincount(self.test_labels, minlength=self.n_classes).tolist(),
            "fingerprint": self.fingerprint,
        }


def _stratified_sample(labels: np.ndarray, n: int | None, random_state: int) -> np.ndarray:
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    if n <= 0:
        raise ValueError(f"subset size must be positive, got {n}")
    from sklearn.model_selection import train_test_split

    n_classes = len(np.unique(labels))
    if n < n_classes:
        raise ValueError(f"subset size {n} is smaller than the number of classes ({n_classes})")
    keep, _ = train_test_split(
        np.arange(len(labels)), train_size=n, stratify=labels, random_state=random_state
    )
    return np.sort(keep)


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


def load_digits_dataset(*, test_fraction: float = 0.2, random_state: int = 0) -> Dataset:
    """scikit-learn's bundled 8×8 digits (1,797 images) as a small, fast dataset.

    Pixel values 0–16 are rescaled to 0–255 uint8 so every model sees the same
    range as MNIST. There is no official split, so a stratified seeded one is
    made.

    Parameters
    ----------
    test_fraction : float
        Share of images held out as the test split.
    random_state : int
        Seed of that split.

    Returns
    -------
    Dataset
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=random_state
    )
    train_idx.sort()
    test_idx.sort()
    return Dataset(
        name="digits",
        train_images=images[train_idx],
        train_labels=labels[train_idx],
        test_images=images[test_idx],
        test_labels=labels[test_idx],
        class_names=tuple(str(i) for i in range(10)),
        source="sklearn.datasets.load_digits",
    )


def default_mnist_dir() -> Path:
    """Where MNIST is looked for: ``$LUSSI_DATA_DIR/mnist``, else the project's ``data/mnist``.

    A clone of the project carries the files in ``data/mnist``; an installed
    package without them uses ``~/.local/share/lussi/mnist`` (or
    ``$XDG_DATA_HOME/lussi/mnist``), where :func:`download_mnist` puts them.
    A relative ``LUSSI_DATA_DIR`` is taken from the working directory; an
    empty one is refused rather than ignored.
    """
    env = os.environ.get("LUSSI_DATA_DIR")
    if env is not None:
        if not env:
            raise DataError("LUSSI_DATA_DIR is set but empty; unset it or set it to a directory")
        return Path(env).absolute() / "mnist"
    project = Path(__file__).resolve().parents[1] / "data" / "mnist"
    if project.is_dir():
        return project
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base).absolute() / "lussi" / "mnist"


def download_mnist(
    directory: str | os.PathLike,
    *,
    mirrors: Iterable[str] = MNIST_MIRRORS,
    files: dict[str, str] | None = None,
    opener: Callable | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    timeout: float = 60.0,
    progress: bool = True,
) -> list[Path]:
    """Download the MNIST idx files into ``directory``, verified and atomic.

    Each file is tried on each mirror in turn; only https URLs are used. A
    file is streamed to a temporary file beside its destination, capped at
    ``max_bytes``, and renamed into place only when its sha256 matches, so an
    interrupted or corrupt download never leaves a file that looks complete.
    Files already present with the right digest are kept.

    Parameters
    ----------
    directory : path-like
        Destination; created if missing.
    mirrors : iterable of str
        Base URLs ending in ``/``; each must use https.
    files : dict of str to str, optional
        File name to expected sha256; defaults to :data:`MNIST_FILES`.
    opener : callable, optional
        ``opener(url, timeout=...)`` returning a file-like response;
        defaults to urllib's opener with redirects restricted to https
        (tests pass a fake).
    max_bytes : int
        Refuse a response larger than this.
    timeout : float
        Seconds per connection attempt.
    progress : bool
        Show a progress bar per file on stderr.

    Returns
    -------
    list of Path
        The verified files.

    Raises
    ------
    DataError
        If a mirror is not https, or no mirror delivers a file with the right
        digest (the message lists each mirror's failure).
    """
    import urllib.request

    directory = Path(directory)
    files = dict(MNIST_FILES if files is None else files)
    mirrors = list(mirrors)
    for mirror in mirrors:
        if urllib.parse.urlparse(mirror).scheme != "https":
            raise DataError(f"refusing mirror {mirror!r}: only https mirrors are allowed")
    opener = opener or _https_only_opener()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, expected in files.items():
        target = directory / name
        if target.is_file() and sha256_file(target) == expected:
            written.append(target)
            continue
        for stale in directory.glob(f".{name}.*.part"):  # left by a download that was killed
            stale.unlink(missing_ok=True)
        failures = []
        for mirror in mirrors:
            url = urllib.parse.urljoin(mirror, name)
            try:
                _download_one(url, target, expected, opener, max_bytes, timeout, progress)
            except (OSError, DataError) as error:
                failures.append(f"{url}: {error}")
                continue
            written.append(target)
            break
        else:
            raise DataError(f"could not download {name}:\n  " + "\n  ".join(failures))
    return written


def _https_only_opener():
    """``urlopen`` that refuses a redirect away from https (the default follows https -> http)."""
    import urllib.request

    class HttpsOnlyRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if urllib.parse.urlparse(newurl).scheme != "https":
                raise DataError(f"refusing redirect to {newurl}: only https is allowed")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(HttpsOnlyRedirect).open


def _download_one(url, target: Path, expected: str, opener, max_bytes: int, timeout: float, progress: bool):
    from tqdm import tqdm

    digest = hashlib.sha256()
    size = 0
    # The ".part" name lets a later run find what a killed download left (see above).
    with atomic_writer(target, prefix=f".{target.name}.", suffix=".part") as out, \
            opener(url, timeout=timeout) as response:
        total = getattr(response, "length", None)
        if total is not None and total > max_bytes:
            raise DataError(f"response is {total} bytes, over the {max_bytes}-byte cap")
        with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                size += len(block)
                if size > max_bytes:
                    raise DataError(f"response exceeds the {max_bytes}-byte cap")
                digest.update(block)
                out.write(block)
                bar.update(len(block))
        actual = digest.hexdigest()
        if actual != expected:
            raise DataError(f"checksum mismatch: expected sha256 {expected}, got {actual}")


def load_dataset(
    name: str | os.PathLike = "mnist",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    verify: bool = True,
) -> Dataset:
    """Load a dataset by name or directory.

    Parameters
    ----------
    name : str or path-like
        ``"mnist"`` (default: the committed original files), ``"digits"``
        (scikit-learn's 8×8 digits), or a directory holding the four idx files
        (e.g. Fashion-MNIST downloaded by hand).
    data_dir : path-like, optional
        For ``"mnist"``: the directory of the idx files instead of
        :func:`default_mnist_dir`.
    download : bool
        For ``"mnist"``: download the files from the canonical mirrors when
        they are missing.
    verify : bool
        Check sha256 digests (``SHA256SUMS`` in the directory; for MNIST the
        known digests).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Unknown name, missing or corrupt files.
    """
    if isinstance(name, str) and name == "digits":
        return load_digits_dataset()
    if isinstance(name, str) and name == "mnist":
        return _load_mnist(data_dir, download=download, verify=verify)
    path = Path(name).absolute()
    try:
        found = path.is_dir()
    except OSError as error:  # an over-long name, a symlink loop
        raise DataError(f"dataset {describe_os_error(error)}") from None
    if found:
        return load_idx_dataset(path, verify=verify)
    raise DataError(
        f"unknown dataset {str(name)!r}: use 'mnist', 'digits' or a directory holding the four idx files"
    )


def _load_mnist(data_dir, *, download: bool, verify: bool) -> Dataset:
    directory = Path(data_dir).absolute() if data_dir is not None else default_mnist_dir()
    missing = [f for f in MNIST_FILES if not os.path.lexists(directory / f)]
    if missing and download:
        download_mnist(directory)
    elif missing:
        raise DataError(
            f"MNIST files not found in {directory} (missing {', '.join(missing)}); "
            "run `lussi download` (or pass download=True), or set LUSSI_DATA_DIR"
        )
    try:
        # The names are pinned with the digests: a classes.txt beside the files cannot rename the digits.
        return load_idx_dataset(directory, name="mnist", verify=verify, pinned=MNIST_FILES, class_names=DIGIT_CLASSES)
    except ChecksumError as error:
        raise ChecksumError(error.path, error.expected, error.actual,
                            "the file is corrupt or not the original MNIST, delete it and run `lussi download`") from None


# --------------------------------------------------------------------------- model inputs


def check_images(images, image_shape: tuple[int, int]) -> np.ndarray:
    """Validate images given to a model and return them as uint8 ``(n, h, w)``.

    The documented conversion rule:

    * one image of shape ``(h, w)`` becomes a batch of one;
    * flattened rows of shape ``(n, h*w)`` are reshaped;
    * integer arrays must hold values in 0–255;
    * float arrays must be finite and in [0, 1] (the Keras convention) and are
      scaled by 255 and rounded; anything else is refused rather than guessed.

    Parameters
    ----------
    images : array-like
        The images.
    image_shape : tuple of int
        ``(height, width)`` the model was trained on.

    Returns
    -------
    ndarray of shape (n, height, width), uint8

    Raises
    ------
    ValueError
        Wrong shape, empty batch, NaN/inf, values out of range, or a
        non-numeric dtype, with what was received.
    """
    array = np.asarray(images)
    height, width = (int(s) for s in image_shape)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"images must be numeric (uint8 0-255 or float 0-1), got dtype {array.dtype}")
    if array.shape == (height, width):
        array = array[np.newaxis]
    elif array.ndim == 2 and array.shape[1] == height * width:
        array = array.reshape(len(array), height, width)
    elif array.ndim == 4 and array.shape[1:] == (height, width, 1):
        array = array[..., 0]
    if array.ndim != 3 or array.shape[1:] != (height, width):
        raise ValueError(
            f"images must have shape (n, {height}, {width}) (or (n, {height * width}) flattened), got {array.shape}"
        )
    if len(array) == 0:
        raise ValueError("images is an empty batch: pass at least one image")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("images contain NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"float images must be scaled to [0, 1], got values in [{low:g}, {high:g}]; "
                "pass uint8 pixels (0-255) or divide by 255"
            )
        return np.rint(array * 255.0).astype(np.uint8)
    if array.dtype != np.uint8:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(f"integer images must hold values 0-255, got values in [{low}, {high}]")
        array = array.astype(np.uint8)
    return array


def digit_classes(dataset: Dataset) -> bool:
    """Whether the dataset's classes are the digits 0-9 in order (what drawn or photographed digits can be scored against)."""
    return tuple(dataset.class_names) == DIGIT_CLASSES
