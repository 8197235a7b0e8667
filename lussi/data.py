"""Datasets: MNIST and friends, scikit-learn's digits, splits.

Folders of idx files are read and verified by :mod:`lussi.idx_folder`; MNIST is
downloaded by :mod:`lussi.download`.

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

import numpy as np

from .errors import ChecksumError, DataError
from .idx_folder import load_idx_dataset
from .safe_io import describe_os_error

__all__ = [
    "DIGIT_CLASSES",
    "MNIST_FILES",
    "DataError",
    "Dataset",
    "Split",
    "check_images",
    "default_mnist_dir",
    "digit_classes",
    "load_dataset",
    "load_digits_dataset",
]


# The four files of the original MNIST distribution and their sha256 digests
# (identical to the SHA256SUMS committed beside them in data/mnist/).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

DIGIT_CLASSES = tuple(str(i) for i in range(10))


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
        from .download import download_mnist

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
