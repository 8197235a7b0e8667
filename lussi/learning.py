"""Learning curves: test accuracy and time of each model as the training set grows.

:func:`learning_curve` fits fresh models on nested, stratified subsets of the
training split and predicts the whole test split once per (model, size);
:mod:`lussi.experiments.learning` runs it for the study, finds where one
model's curve crosses another's and draws it.

Subsets are prefixes of one stratified ordering of the training split
(:func:`nested_order`), so every larger subset contains every smaller one and
each holds the classes in (almost exactly) the split's proportions. The usual
alternative, an independent stratified sample per size
(:meth:`lussi.data.Dataset.subset`), would mix sampling noise into the
differences between sizes.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import progress

__all__ = [
    "COLUMNS",
    "DEFAULT_SIZES",
    "curve_row",
    "knn_factory",
    "learning_curve",
    "model_factory",
    "nested_order",
    "nested_subsets",
    "network_factory",
]

DEFAULT_SIZES = (500, 1000, 2000, 5000, 10000, 30000, 60000)
COLUMNS = [
    "model", "n_train", "accuracy", "low", "high", "train_seconds", "predict_seconds", "predict_ms_per_image",
    "n_fit", "epochs", "validation_accuracy",
]
# Two differently sized warm-up calls: enough for TensorFlow's reduce_retracing
# to settle on one shape-generic trace, so the timed call traces nothing.
_WARMUP_SIZES = (8, 16)


# --------------------------------------------------------------------------- subsets


def nested_order(labels, *, random_state: int = 0) -> np.ndarray:
    """A permutation of the samples whose every prefix is a stratified sample.

    Each class is shuffled, its ``j``-th member gets the key
    ``(j + 0.5) / class_size``, and samples are sorted by key (ties in random
    order). A prefix of length ``n`` therefore holds about ``n * share`` of
    every class, and all classes once ``n`` reaches the number of classes
    (when class sizes differ by less than a factor of 3, as in MNIST).

    Parameters
    ----------
    labels : ndarray of shape (n,), int
    random_state : int, default 0

    Returns
    -------
    ndarray of shape (n,), int64
        Sample indices; ``order[:k]`` is the nested subset of size ``k``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    rng = np.random.default_rng(random_state)
    keys = np.empty(len(labels), dtype=np.float64)
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        keys[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.lexsort((rng.random(len(labels)), keys)).astype(np.int64)


def nested_subsets(labels, sizes: Iterable[int], *, random_state: int = 0) -> dict[int, np.ndarray]:
    """Indices of nested stratified subsets, one per size.

    Parameters
    ----------
    labels : ndarray of shape (n,), int
    sizes : iterable of int
        Sizes larger than ``n`` are left out.
    random_state : int, default 0

    Returns
    -------
    dict of int -> ndarray of int64
        Size to sorted sample indices; a smaller subset is contained in every larger one.
    """
    order = nested_order(labels, random_state=random_state)
    return {int(size): np.sort(order[:size]) for size in _check_sizes(sizes) if size <= len(order)}


def _check_sizes(sizes) -> list[int]:
    sizes = list(sizes)
    if not sizes:
        raise ValueError("sizes is empty; pass training sizes such as (500, 1000, 5000)")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
            raise ValueError(f"sizes must be positive integers, got {size!r}")
    return sorted({int(s) for s in sizes})


# --------------------------------------------------------------------------- factories


def model_factory(
    template,
    *,
    min_steps: int = 0,
    max_epochs: int | None = None,
    sizes: Iterable[int] | None = None,
    validation_fraction: float = 0.1,
) -> Callable[[int], object]:
    """``n_train -> template.sized_for(n_fit, ...)``: a fresh, unfitted copy of ``template`` per size.

    Parameters
    ----------
    template : KNNClassifier or NetworkClassifier
        Fitted or not; only its hyperparameters are copied.
    min_steps, max_epochs : int
        A network's epoch policy (see :meth:`~lussi.models.network.NetworkClassifier.epochs_for`);
        its fit part of a subset is ``n_train * (1 - validation_fraction)``.
    sizes : iterable of int, optional
        Train only at these sizes; at others the factory returns None and
        :func:`learning_curve` skips the (model, size) cell.
    validation_fraction : float, default 0.1
        Must match :func:`learning_curve`'s, to count the fit images.
    """
    allowed = None if sizes is None else {int(s) for s in sizes}

    def build(n_train: int):
        if allowed is not None and int(n_train) not in allowed:
            return None
        held_out = validation_fraction if template.monitors_validation else 0.0
        n_fit = max(1, round(n_train * (1 - held_out)))
        return template.sized_for(n_fit, min_steps=min_steps, max_epochs=max_epochs)

    return build


def knn_factory(config=None) -> Callable[[int], object]:
    """``n_train -> KNNClassifier``, the same configuration at every size.

    Parameters
    ----------
    config : KNNConfig, optional
        Default raw pixels, k=3 (:func:`lussi.models.knn.baseline_knn_config`).
    """
    from lussi.models.knn import KNNClassifier, baseline_knn_config

    return model_factory(KNNClassifier.from_config(baseline_knn_config(3) if config is None else config))


def network_factory(config=None, **options) -> Callable[[int], object]:
    """``n_train -> NetworkClassifier``, with epochs adapted to the size; ``options`` as :func:`model_factory`'s.

    Parameters
    ----------
    config : NetworkConfig, optional
        Default the seed MLP (:func:`lussi.models.network.seed_mlp_config`).
    """
    from lussi.models.network import NetworkClassifier, seed_mlp_config

    return model_factory(NetworkClassifier.from_config(seed_mlp_config() if config is None else config), **options)


def _preload(model) -> None:
    """Import a model's heavy libraries before its first timed fit, so start-up is not billed to the smallest size."""
    for module in model.heavy_modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


# --------------------------------------------------------------------------- the curve


def learning_curve(
    dataset,
    sizes: Sequence[int],
    factories: Mapping[str, Callable],
    *,
    validation_fraction: float = 0.1,
    random_state: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Fit fresh models on growing nested training subsets and score each on the whole test split.

    Parameters
    ----------
    dataset : Dataset
        Training subsets come from its training split; its test split is
        predicted once per (model, size).
    sizes : sequence of int
        Training-subset sizes; those larger than the training split are skipped.
    factories : dict of str -> callable
        Model name to ``factory(n_train)`` returning a fresh, unfitted lussi
        estimator, e.g. :func:`model_factory`, :func:`knn_factory`,
        :func:`network_factory`, or ``lambda n: KNNClassifier(n_neighbors=1)``.
        A factory returning None skips that size.
    validation_fraction : float, default 0.1
        Models that monitor a validation split (``monitors_validation``:
        networks) train on the subset minus a stratified validation split of
        this share, monitored but never fitted; other models (KNN) fit the
        whole subset. 0 gives networks the whole subset and no validation.
    random_state : int, default 0
        Seeds the subsets and the validation splits.
    confidence : float, default 0.95
        Level of the Wilson accuracy intervals.

    Returns
    -------
    DataFrame
        One row per (model, size), models in ``factories`` order, sizes
        ascending; columns ``model``, ``n_train`` (subset size), ``accuracy``,
        ``low``, ``high``, ``train_seconds`` (wall time of ``fit``),
        ``predict_seconds`` (wall time of predicting the test split, after
        two small warm-up calls), ``predict_ms_per_image``, ``n_fit`` (images
        actually fitted), ``epochs`` (networks; NaN otherwise) and
        ``validation_accuracy`` (networks' last epoch; NaN otherwise).
    """
    if not isinstance(factories, Mapping) or not factories:
        raise ValueError("factories must be a non-empty dict of model name -> factory(n_train) returning a model")
    for name, factory in factories.items():
        if not callable(factory):
            raise TypeError(f"factories[{name!r}] must be callable, got {type(factory).__name__}")
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    subsets = nested_subsets(dataset.train_labels, sizes, random_state=random_state)
    if not subsets:
        raise ValueError(
            f"every size in {list(sizes)} exceeds the {len(dataset.train_labels)} training images; pass smaller sizes"
        )
    n_classes = len(np.unique(dataset.train_labels))
    rows = []
    for name, factory in factories.items():
        for n_train, idx in subsets.items():
            model = factory(n_train)
            if model is None:
                continue
            _preload(model)
            images, labels, options = _fit_data(model, dataset.train_images[idx], dataset.train_labels[idx],
                                                n_classes=n_classes, validation_fraction=validation_fraction,
                                                random_state=random_state)
            row = _curve_cell(str(name), int(n_train), model, images, labels, options, dataset, confidence)
            rows.append(row)
            progress.log.info("[learning curve] %s n=%s: accuracy %.4f, fit %.1f s, predict %.1f s", name,
                              f"{n_train:,}", row["accuracy"], row["train_seconds"], row["predict_seconds"])
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs["confidence"] = confidence
    table.attrs["n_test"] = len(dataset.test_labels)
    return table


def _fit_data(model, images, labels, *, n_classes: int, validation_fraction: float, random_state: int):
    """``(images, labels, fit options)``: the whole subset, or the fit part and a monitored stratified validation part."""
    from sklearn.model_selection import train_test_split

    options = {}
    if not (model.monitors_validation and validation_fraction > 0):
        return images, labels, options
    n_train = len(labels)
    n_val = max(n_classes, round(validation_fraction * n_train))
    fit_idx, val_idx = train_test_split(np.arange(n_train), test_size=n_val, stratify=labels, random_state=random_state)
    fit_idx.sort()
    val_idx.sort()
    options["validation"] = (images[val_idx], labels[val_idx])
    return images[fit_idx], labels[fit_idx], options


def _curve_cell(name: str, n_train: int, model, images, labels, options: dict, dataset, confidence: float) -> dict:
    """Fit ``model``, predict the test split (timed after warm-up calls) and score it: one :data:`COLUMNS` row."""
    from lussi.analysis import accuracy_interval

    test_images, test_labels = dataset.test_images, dataset.test_labels
    with progress.showing(False):  # one line per cell (learning_curve's), not the fit's own epochs and bars
        start = time.perf_counter()
        model.fit(images, labels, **options)
        train_seconds = time.perf_counter() - start
    for size in _WARMUP_SIZES:
        model.predict(test_images[:size])
    start = time.perf_counter()
    predicted = np.asarray(model.predict(test_images))
    predict_seconds = time.perf_counter() - start
    ci = accuracy_interval(test_labels, predicted, confidence=confidence)
    epochs, val_acc = model.training_epochs, model.validation_accuracy_
    return {
        "model": name,
        "n_train": n_train,
        "accuracy": ci.accuracy,
        "low": ci.low,
        "high": ci.high,
        "train_seconds": train_seconds,
        "predict_seconds": predict_seconds,
        "predict_ms_per_image": 1000.0 * predict_seconds / len(test_labels),
        "n_fit": len(labels),
        "epochs": float(epochs) if epochs is not None else float("nan"),
        "validation_accuracy": val_acc if val_acc is not None else float("nan"),
    }


def curve_row(
    model: str,
    n_train: int,
    y_true,
    y_pred,
    *,
    train_seconds: float,
    predict_seconds: float,
    n_fit: int | None = None,
    epochs: int | None = None,
    validation_accuracy: float | None = None,
    confidence: float = 0.95,
) -> dict:
    """One :func:`learning_curve` row from a model fitted elsewhere.

    The study already trains every model on the whole training split with the
    same validation split and seed that :func:`learning_curve` would use at
    that size, so its largest point can be taken from the study's cached
    model and test predictions instead of training again.

    Parameters
    ----------
    model : str
    n_train : int
        Training images available to the model (fit + validation).
    y_true, y_pred : ndarray of shape (n_test,), int
    train_seconds, predict_seconds : float
    n_fit : int, optional
        Images actually fitted; default ``n_train``.
    epochs : int, optional
    validation_accuracy : float, optional
    confidence : float, default 0.95

    Returns
    -------
    dict
        Keys :data:`COLUMNS`; append to the table with ``pd.concat``.
    """
    from lussi.analysis import accuracy_interval

    ci = accuracy_interval(y_true, y_pred, confidence=confidence)
    return {
        "model": str(model),
        "n_train": int(n_train),
        "accuracy": ci.accuracy,
        "low": ci.low,
        "high": ci.high,
        "train_seconds": float(train_seconds),
        "predict_seconds": float(predict_seconds),
        "predict_ms_per_image": 1000.0 * float(predict_seconds) / ci.n,
        "n_fit": int(n_train if n_fit is None else n_fit),
        "epochs": float("nan") if epochs is None else float(epochs),
        "validation_accuracy": float("nan") if validation_accuracy is None else float(validation_accuracy),
    }
