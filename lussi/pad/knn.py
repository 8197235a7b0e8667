"""The pad's KNN: a small one the page can carry, that lussi's own KNNClassifier reproduces exactly.

The study's tuned KNN (deskewed images, gradient-direction features, PCA, on
60,000 training images) is far larger than a page can hold. The page runs
instead the plainest KNN: raw pixels, exact Euclidean distance, on a
stratified, seeded sample of the training images, with k and the vote fixed
in :class:`PadKNNConfig`. Its images travel in the page (they are also the
neighbours it shows). :func:`fit_pad_knn` draws the sample, and measures the
sample KNN's accuracy on the test set once, for the page to state.

Pixels are uint8, so every squared distance is an exact integer in Python
(:class:`lussi.models.search.BoundIndex`) and in the page alike, and ties go
to the smaller training index in both: the page's neighbours, distances and
vote shares are those of :meth:`PadKNN.classifier`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..models.knn_config import WEIGHTS, KNNConfig
from ..validation import class_labels

__all__ = ["PadKNN", "PadKNNConfig", "fit_pad_knn", "sample_indices"]


@dataclasses.dataclass(frozen=True)
class PadKNNConfig:
    """What the pad's KNN is (also its cache key).

    Attributes
    ----------
    n_train : int, default 6000
        Training images in the page, drawn in proportion to each digit's share
        (6,000 MNIST digits are about 1.2 MB gzipped, 1.6 MB in base64).
    n_neighbors : int, default 5
        Neighbours that vote (and that the page shows).
    weights : {"uniform", "distance"}, default "distance"
        Equal votes, or votes weighted by 1/distance (finer vote shares than k=5 equal votes).
    random_state : int, default 0
        Seeds the sample.
    """

    n_train: int = 6000
    n_neighbors: int = 5
    weights: str = "distance"
    random_state: int = 0

    def __post_init__(self):
        for name in ("n_train", "n_neighbors", "random_state"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (name != "random_state" and value <= 0):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {self.weights!r}")
        if self.n_neighbors > self.n_train:
            raise ValueError(f"n_neighbors={self.n_neighbors} exceeds n_train={self.n_train}")

    def knn_config(self) -> KNNConfig:
        """The matching :class:`~lussi.models.knn_config.KNNConfig`: raw pixels, Euclidean, this k and vote."""
        return KNNConfig(n_neighbors=self.n_neighbors, weights=self.weights, random_state=self.random_state)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of the fields."""
        return dataclasses.asdict(self)


def sample_indices(labels, config: PadKNNConfig) -> np.ndarray:
    """Indices of the stratified, seeded sample of ``config.n_train`` training images, ascending.

    scikit-learn's ``train_test_split(stratify=labels)`` keeps each class's
    share; ascending order keeps the training order (and so which of two
    equally near images counts as nearer).
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    if config.n_train > len(labels):
        raise ValueError(f"n_train={config.n_train} exceeds the {len(labels)} training images")
    everything = np.arange(len(labels))
    if config.n_train == len(labels):
        return everything
    chosen, _ = train_test_split(everything, train_size=config.n_train, stratify=labels,
                                 random_state=config.random_state)
    return np.sort(chosen)


@dataclasses.dataclass(frozen=True)
class PadKNN:
    """The pad's KNN: its sample of training images and its measured accuracy.

    Attributes
    ----------
    config : PadKNNConfig
    images : ndarray of shape (n_train, 28, 28), uint8
    labels : ndarray of shape (n_train,), int64
    indices : ndarray of shape (n_train,), int64
        Each image's index in the full training set.
    test_accuracy : float or None
        Accuracy of this KNN on the test set (None when it was not measured).
    n_test : int
        Test images it was measured on (0 when not measured).
    """

    config: PadKNNConfig
    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    test_accuracy: float | None = None
    n_test: int = 0

    def classifier(self):
        """A :class:`~lussi.models.knn.KNNClassifier` fitted on the sample: the page's KNN in Python."""
        from ..models.knn import KNNClassifier

        return KNNClassifier.from_config(self.config.knn_config()).fit(self.images, self.labels)

    def describe(self) -> str:
        """One sentence saying exactly which KNN the page runs, and how well it does."""
        cfg = self.config
        counts = np.bincount(self.labels)
        per_class = f"{counts.min():,}" if counts.min() == counts.max() else f"{counts.min():,}–{counts.max():,}"
        votes = "votes weighted by 1/distance" if cfg.weights == "distance" else "equal votes"
        text = (f"k = {cfg.n_neighbors} nearest of {len(self.labels):,} training digits ({per_class} per digit, "
                f"a stratified sample drawn with seed {cfg.random_state}), raw pixels, Euclidean distance, {votes}")
        if self.test_accuracy is not None:
            text += f"; {100 * self.test_accuracy:.2f}% correct on the {self.n_test:,} test digits"
        return text + "."

    def to_record(self) -> dict:
        """JSON-ready form for the cache: the config, the sample's indices and the accuracy (not the pixels)."""
        return {"config": self.config.to_dict(), "indices": self.indices.tolist(),
                "test_accuracy": self.test_accuracy, "n_test": int(self.n_test)}

    @classmethod
    def from_record(cls, record: dict, train_images, train_labels) -> PadKNN:
        """Inverse of :meth:`to_record`, taking the pixels from the training set the record was drawn from."""
        config = PadKNNConfig(**record["config"])
        indices = np.asarray(record["indices"], dtype=np.int64)
        if len(indices) != config.n_train or not np.array_equal(indices, sample_indices(train_labels, config)):
            raise ValueError("the record's sample does not match these training labels; recompute it")
        return cls(config, np.asarray(train_images)[indices], np.asarray(train_labels).astype(np.int64)[indices],
                   indices, record["test_accuracy"], int(record["n_test"]))


def fit_pad_knn(train_images, train_labels, test_images=None, test_labels=None, *,
                config: PadKNNConfig | None = None) -> PadKNN:
    """Draw the pad's KNN sample and measure its accuracy on the test set.

    Parameters
    ----------
    train_images : ndarray of shape (n, 28, 28), uint8
    train_labels : array-like of shape (n,)
        Integer digits 0..9.
    test_images : ndarray of shape (m, 28, 28), uint8, optional
    test_labels : array-like of shape (m,), optional
        Without them, ``test_accuracy`` is None.
    config : PadKNNConfig, optional
        Defaults to ``PadKNNConfig()``.

    Returns
    -------
    PadKNN
    """
    config = PadKNNConfig() if config is None else config
    train_images = np.asarray(train_images)
    if train_images.ndim != 3 or train_images.shape[1:] != (28, 28) or train_images.dtype != np.uint8:
        raise ValueError(f"train_images must be uint8 of shape (n, 28, 28), got {train_images.dtype} {train_images.shape}")
    labels = class_labels(train_labels, len(train_images))
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() > 9:
        raise ValueError("train_labels must be the digits 0..9 (the page shows them as digits)")
    indices = sample_indices(labels, config)
    knn = PadKNN(config, train_images[indices], labels[indices].astype(np.int64), indices.astype(np.int64))
    if (test_images is None) != (test_labels is None):
        raise ValueError("give both test_images and test_labels, or neither")
    if test_images is None:
        return knn
    test_labels = class_labels(test_labels, len(test_images))
    accuracy = float(np.mean(knn.classifier().predict(test_images) == test_labels))
    return dataclasses.replace(knn, test_accuracy=accuracy, n_test=len(test_labels))
