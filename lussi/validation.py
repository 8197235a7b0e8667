"""Shared checks: what a dataset directory holds, and what a model is given.

The dataset checks (SHA256SUMS, classes.txt, each split's arrays) raise
:class:`~lussi.errors.DataError` with the file, what is wrong and what to do.
They are strict where leniency would change a number: a blank line inside
``classes.txt`` would shift every later class name by one, a duplicated name in
``SHA256SUMS`` leaves open which digest counts, and a float label would be
truncated to an integer class.

:func:`image_batch` and :func:`class_labels` are the one input rule of lussi's
scikit-learn estimators (:mod:`lussi.models`), built on scikit-learn's own
``validate_data``/``check_array``.

:func:`check_image_batch`, :func:`check_integer`, :func:`check_positive_number`
and :func:`check_labels` are the argument checks of the image and analysis functions (:mod:`lussi.transforms`,
:mod:`lussi.models.preprocess`, :mod:`lussi.perturbations`, :mod:`lussi.visualize`).
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
import re
import unicodedata
from pathlib import Path

import numpy as np

from .errors import ChecksumError, DataError
from .safe_io import decode_text, read_bytes, read_text

__all__ = [
    "check_image_batch",
    "check_integer",
    "check_labels",
    "check_positive_number",
    "check_split",
    "class_labels",
    "image_batch",
    "read_checksums",
    "read_class_names",
    "schema_problem",
]

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


# --------------------------------------------------------------------------- function arguments


def check_image_batch(images, *, name: str = "images", dtype=None) -> np.ndarray:
    """``images`` as an array of shape ``(n, height, width)``, or a ValueError saying what to change.

    Parameters
    ----------
    images : array-like
    name : str, default "images"
        Names the argument in the message.
    dtype : numpy dtype, optional
        The one dtype accepted (``np.uint8`` for raw pixels); by default any
        integer or floating dtype (not bool).

    Returns
    -------
    ndarray
        ``np.asarray(images)``, not copied or converted.
    """
    array = np.asarray(images)
    if array.ndim != 3:
        raise ValueError(f"{name} must have shape (n, height, width), got {array.shape}; "
                         "reshape flattened rows with images.reshape(n, h, w)")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if array.dtype != dtype:
            if dtype == np.uint8:
                what, fix = "uint8 pixels 0..255", "np.clip(np.rint(images), 0, 255).astype(np.uint8)"
            else:
                what, fix = f"of dtype {dtype}", f"images.astype({dtype})"
            raise ValueError(f"{name} must be {what}, got dtype {array.dtype}; convert with {fix}")
    elif not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must be numeric (integer or float pixel intensities), got dtype {array.dtype}; "
                         "convert with images.astype(np.float32)")
    return array


def check_integer(value, name: str, minimum: int) -> int:
    """``value`` if it is an integer (not a bool) ``>= minimum``; else a ValueError.

    The type and range test is scikit-learn's ``check_scalar``; its TypeError
    and ValueError become one ValueError with lussi's message.
    """
    from sklearn.utils import check_scalar

    try:
        if isinstance(value, bool):
            raise TypeError
        check_scalar(value, name, numbers.Integral, min_val=minimum)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    return value


def check_positive_number(value, name: str) -> float:
    """``value`` if it is a finite real number (not a bool) ``> 0``; else a ValueError.

    As :func:`check_integer`, on scikit-learn's ``check_scalar``; NaN, which
    compares false with every bound, is refused here.
    """
    from sklearn.utils import check_scalar

    try:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise TypeError
        check_scalar(value, name, numbers.Real, min_val=0, include_boundaries="neither")
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}") from None
    return value


def check_labels(y, name: str) -> np.ndarray:
    """``y`` as a 1-D int64 array of class labels (at least one), or a ValueError that names ``name``.

    The label rule of :mod:`lussi.analysis` and :mod:`lussi.visualize`.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of shape (n,), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one label")
    if arr.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must hold integer class labels, got dtype {arr.dtype}; "
            "convert with .astype(np.int64) if the values are whole numbers"
        )
    return arr.astype(np.int64, copy=False)


# --------------------------------------------------------------------------- model inputs


def image_batch(estimator, X, *, reset: bool) -> np.ndarray:
    """``X`` as a batch of images in pixel units: the input rule of every lussi estimator.

    Shapes:

    * ``(n, h*w)``, scikit-learn's samples x features. The image shape is the
      estimator's ``image_shape`` parameter when set; otherwise the square
      ``(s, s)`` when ``h*w = s**2`` (MNIST's 784 = 28 x 28, the 8x8 digits'
      64), otherwise one row of pixels, ``(1, h*w)``.
    * ``(n, h, w)`` images, or ``(n, h, w, 1)`` channels-last; the shape is
      then the image shape.

    Values (any finite numbers; lists and DataFrames too):

    * integer (and boolean) arrays are pixel intensities 0-255, MNIST's uint8
      form, which the models use exactly; other integers are refused;
    * float arrays are intensities scaled to [0, 1] (Keras' convention) and
      are multiplied by 255. They are neither rounded nor clipped, so
      features with negative values (standardised ones, from a Pipeline's
      scaler) are accepted too. Non-negative floats that look like 0-255
      pixels (whole numbers above 1, or more than 1% of the values above 1)
      are refused: read as [0, 1] they would be 255x too bright.

    Parameters
    ----------
    estimator : lussi estimator
        Has an ``image_shape`` parameter. ``reset=True`` (fit) sets its
        ``n_features_in_`` (``h*w``), ``image_shape_`` and, for a DataFrame,
        ``feature_names_in_``; ``reset=False`` (predict) checks ``X`` against them.
    X : array-like
    reset : bool

    Returns
    -------
    ndarray of shape (n, h, w), uint8 or float32

    Raises
    ------
    ValueError
        Not numbers, NaN or infinite values, no samples, a shape that does not
        match, integers outside 0-255, or non-negative floats that look like 0-255 pixels.
    sklearn.exceptions.NotFittedError
        ``reset=False`` on an estimator that was never fitted.
    """
    from sklearn.utils.validation import check_is_fitted, validate_data

    if not reset:
        check_is_fitted(estimator)
    if (X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim) == 2:
        # Rows: scikit-learn's own check (n_features_in_, feature names, its messages).
        rows = validate_data(estimator, X, reset=reset, dtype="numeric")
        shape = _row_image_shape(rows.shape[1], estimator.image_shape) if reset else estimator.image_shape_
        images = rows.reshape(len(rows), *shape)
    else:
        images = _image_array(estimator, X, reset)
        shape = images.shape[1:]
    if reset:
        estimator.image_shape_ = (int(shape[0]), int(shape[1]))
    return _pixel_units(images)


def _image_array(estimator, X, reset: bool) -> np.ndarray:
    """Images ``(n, h, w)`` (or ``(n, h, w, 1)``), checked by scikit-learn's ``check_array`` and against the image shape."""
    from sklearn.utils.validation import check_array

    images = check_array(X, dtype="numeric", allow_nd=True, estimator=estimator, input_name="X")
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    expected = estimator.image_shape if reset else estimator.image_shape_
    if images.ndim != 3 or (expected is not None and images.shape[1:] != tuple(expected)):
        want = "(n, height, width)" if expected is None else f"(n, {expected[0]}, {expected[1]})"
        raise ValueError(f"images must have shape {want} (or flattened rows (n, height*width)), got {images.shape}")
    if reset:
        estimator.n_features_in_ = int(images.shape[1] * images.shape[2])
        vars(estimator).pop("feature_names_in_", None)
    return images


def _row_image_shape(n_features: int, image_shape) -> tuple[int, int]:
    if image_shape is not None:
        if (len(image_shape) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                                         for s in image_shape)):
            raise ValueError(f"image_shape must be (height, width), two positive integers, got {image_shape!r}")
        if image_shape[0] * image_shape[1] != n_features:
            raise ValueError(f"image_shape={tuple(image_shape)} holds {image_shape[0] * image_shape[1]} pixels, "
                             f"but X has {n_features} features")
        return int(image_shape[0]), int(image_shape[1])
    side = math.isqrt(n_features)
    return (side, side) if side * side == n_features else (1, n_features)


def _pixel_units(images: np.ndarray) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    if images.dtype.kind in "biu":
        low, high = int(images.min()), int(images.max())
        if low < 0 or high > 255:
            raise ValueError(f"integer images must hold pixel values 0-255, got values in [{low}, {high}]; "
                             "pass other features as floats")
        return images.astype(np.uint8)
    if images.size and float(images.min()) >= 0.0 and float(images.max()) > 1.0 and _look_like_0_255(images):
        # Scaled as [0, 1] intensities, 0-255 pixels would be 255x too bright and every prediction wrong.
        raise ValueError(f"float images must be scaled to [0, 1], got values up to {float(images.max()):g}; "
                         "divide by 255, or pass 0-255 pixels as uint8")
    return (images * 255.0).astype(np.float32)


def _look_like_0_255(images: np.ndarray) -> bool:
    """Whole numbers above 1, or more than 1% of the values above 1: pixels in 0-255, not [0, 1].

    A scaler fitted on other rows (MinMaxScaler on a cross-validation fold) puts a few held-out values a
    little above 1; 0-255 pixels as floats put every stroke pixel there.
    """
    above = images > 1.0
    return bool(np.all(images == np.rint(images)) or above.mean() > 0.01)


def class_labels(y, n_samples: int) -> np.ndarray:
    """Training labels: one per sample, a classification target (integers, strings, ...).

    A column vector ``(n, 1)`` is flattened with scikit-learn's
    DataConversionWarning, as scikit-learn's own classifiers do.

    Raises
    ------
    ValueError
        None, not 1-D, not ``n_samples`` long, or continuous values (``Unknown label type``).
    """
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import column_or_1d

    if y is None:
        raise ValueError("this classifier requires y to be passed, but the target y is None")
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = column_or_1d(labels, warn=True)
    if labels.shape != (n_samples,):
        raise ValueError(f"labels must have shape ({n_samples},), one per sample, got {labels.shape}")
    check_classification_targets(labels)
    return labels
