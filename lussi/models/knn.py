"""K-nearest-neighbours classifier on raw or preprocessed pixels, as a scikit-learn estimator.

The pipeline, fitted once and stored as plain arrays::

    images -> [deskew] -> [shifted + zoomed copies, training only] -> [Gaussian blur]
           -> pixels or gradient-direction features -> [standard scaling] -> [PCA]
           -> exact k-NN vote

Neighbours come from :class:`lussi.models.search.BoundIndex` (exact Euclidean
search) or, for other metrics, scikit-learn's brute force. Votes and ties
follow :class:`sklearn.neighbors.KNeighborsClassifier`: uniform or inverse
distance weights, exact matches take all the weight, and the smallest label
wins a tie.

Inputs follow :func:`lussi.validation.image_batch` (rows ``(n, h*w)`` or
images ``(n, h, w)``; uint8 pixels are searched exactly, floats are scaled
pixels). Hyperparameters are :class:`~lussi.models.knn_config.KNNConfig`'s
fields; :func:`lussi.models.knn_select.select_knn` chooses k and the vote on a
validation split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import progress
from ..validation import class_labels, image_batch
from .base import ImageClassifier
from .knn_config import (
    FEATURES,
    METRICS,
    SCALES,
    WEIGHTS,
    KNNConfig,
    baseline_knn_config,
    seed_knn_config,
    tuned_knn_config,
)
from ..transforms import deskew, gaussian_blur, zoom
from .preprocess import gradient_direction_features, shifted_copies

__all__ = [
    "FEATURES",
    "METRICS",
    "SCALES",
    "WEIGHTS",
    "KNNClassifier",
    "KNNConfig",
    "baseline_knn_config",
    "seed_knn_config",
    "tuned_knn_config",
]

_SKLEARN_METRICS = {
    "manhattan": ("manhattan", None),
    "chebyshev": ("chebyshev", None),
    "cosine": ("cosine", None),
    "l3": ("minkowski", 3),
}
# Images per preprocessing + search step in predict/kneighbors/fit: 4096 MNIST
# images are 13 MB as float32 pixels, and the search's own buffers stay < 100 MB.
_CHUNK = 4096
_FORMAT_VERSION = 1
_NPZ_NAME = "knn.npz"
_JSON_NAME = "knn.json"
# The saved format's name for the model (kept from before it was a scikit-learn estimator, so caches stay valid).
_FORMAT_NAME = "KNNModel"
_FITTED_ARRAYS = ("scaler_mean", "scaler_scale", "pca_mean", "pca_components")
_C = KNNConfig  # the defaults' one home


def _vote(squared: np.ndarray, codes: np.ndarray, n_classes: int, weights: str) -> np.ndarray:
    """Vote shares (n, n_classes) float64 from neighbour distances and class codes, as scikit-learn."""
    if weights == "uniform":
        w = np.ones(codes.shape, dtype=np.float64)
    else:
        distances = np.sqrt(squared)
        with np.errstate(divide="ignore"):
            w = 1.0 / distances
        # scikit-learn: a row with exact matches gives them all the weight.
        exact = np.isinf(w)
        rows = exact.any(axis=1)
        w[rows] = exact[rows]
    votes = np.zeros((len(codes), n_classes), dtype=np.float64)
    np.add.at(votes, (np.repeat(np.arange(len(codes)), codes.shape[1]), codes.ravel()), w.ravel())
    return votes / votes.sum(axis=1, keepdims=True)


class KNNClassifier(ImageClassifier):
    """k-NN classifier over a preprocessing pipeline (see the module docstring).

    Parameters
    ----------
    n_neighbors, weights, metric, scale, features, orientations, deskew, blur_sigma, augment_shifts, \
augment_zoom, pca_components, random_state
        The fields of :class:`~lussi.models.knn_config.KNNConfig`, with its
        defaults (raw pixels, k=3, uniform votes) and checks (made by ``fit``).
    image_shape : (int, int), optional
        ``(height, width)`` of flattened rows; see :func:`lussi.validation.image_batch`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Pixels per image.
    image_shape_ : (int, int)
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame.
    """

    config_class = KNNConfig
    family = "knn"
    family_label = "KNN"
    heavy_modules = ("faiss", "sklearn.neighbors", "sklearn.decomposition")

    def __init__(self, n_neighbors=_C.n_neighbors, weights=_C.weights, metric=_C.metric, scale=_C.scale,
                 features=_C.features, orientations=_C.orientations, deskew=_C.deskew, blur_sigma=_C.blur_sigma,
                 augment_shifts=_C.augment_shifts, augment_zoom=_C.augment_zoom, pca_components=_C.pca_components,
                 random_state=_C.random_state, image_shape=None):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.metric = metric
        self.scale = scale
        self.features = features
        self.orientations = orientations
        self.deskew = deskew
        self.blur_sigma = blur_sigma
        self.augment_shifts = augment_shifts
        self.augment_zoom = augment_zoom
        self.pca_components = pca_components
        self.random_state = random_state
        self.image_shape = image_shape

    # ----------------------------------------------------------------- fitting
    def fit(self, X, y) -> KNNClassifier:
        """Store the (preprocessed, possibly augmented) training images.

        Parameters
        ----------
        X : array-like of shape (n, h*w) or (n, h, w)
        y : array-like of shape (n,)
            Any class labels.

        Returns
        -------
        self
        """
        cfg = self._cfg = self.config
        images = image_batch(self, X, reset=True)
        labels = class_labels(y, len(images))
        n = len(images)
        if cfg.n_neighbors > n:
            raise ValueError(f"n_neighbors={cfg.n_neighbors} exceeds the number of training images "
                             f"(n_samples={n}); use n_neighbors <= {n}")
        self.classes_, codes = np.unique(labels, return_inverse=True)
        base = deskew(images) if cfg.deskew else images
        # Scaler and PCA are fitted on the originals only: shifted copies add no new directions worth the cost.
        originals = self._pixels_to_features(base)
        self._fit_scaler_and_pca(originals)
        self._features = self._feature_table(base, originals, codes)
        n_copies = len(self._features) // n
        self._source = np.tile(np.arange(n, dtype=np.int64), n_copies)
        self._codes = codes.astype(np.int64)
        self._build_index(now=True)
        return self

    def _fit_scaler_and_pca(self, originals: np.ndarray) -> None:
        cfg = self._cfg
        self._scaler_mean = self._scaler_scale = self._pca_mean = self._pca_components = None
        if cfg.scale == "standard":
            from sklearn.preprocessing import StandardScaler

            scaler = StandardScaler().fit(originals)
            self._scaler_mean = scaler.mean_.astype(np.float32)
            self._scaler_scale = scaler.scale_.astype(np.float32)
        if cfg.pca_components is not None:
            limit = min(originals.shape)
            if cfg.pca_components > limit:
                raise ValueError(f"pca_components={cfg.pca_components} exceeds min(n_images, n_pixels) = {limit}")
            from sklearn.decomposition import PCA

            pca = PCA(n_components=cfg.pca_components, svd_solver="covariance_eigh", random_state=cfg.random_state)
            pca.fit(self._scale(originals))
            self._pca_mean = pca.mean_.astype(np.float32)
            self._pca_components = pca.components_.astype(np.float32)

    def _feature_table(self, base: np.ndarray, originals: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Feature rows of the originals and their training copies, copy-major: row = copy * n + original index."""
        cfg, n = self._cfg, len(base)
        zoom_factors = (1 - cfg.augment_zoom, 1 + cfg.augment_zoom) if cfg.augment_zoom > 0 else ()
        n_copies = 1 + 4 * cfg.augment_shifts + len(zoom_factors)
        n_features = cfg.pca_components or originals.shape[1]
        dtype = np.uint8 if cfg.is_raw and base.dtype == np.uint8 else np.float32
        features = np.empty((n_copies * n, n_features), dtype=dtype)
        for start in progress.bar(range(0, n, _CHUNK), desc="KNN features", unit="chunk"):
            stop = min(start + _CHUNK, n)
            block, _, _ = shifted_copies(base[start:stop], codes[start:stop], cfg.augment_shifts)
            if zoom_factors:
                block = np.concatenate([block, *(zoom(base[start:stop], f) for f in zoom_factors)])
            # Without copies the block's features are the originals' already computed above.
            block_features = self._project(self._scale(
                originals[start:stop] if n_copies == 1 else self._pixels_to_features(block)))
            for copy in range(n_copies):
                features[copy * n + start:copy * n + stop] = block_features[copy * (stop - start):(copy + 1) * (stop - start)]
        return features

    def _pixels_to_features(self, images: np.ndarray) -> np.ndarray:
        """Blur (if configured), then flat pixels (n, h*w) or gradient features; uint8 stays uint8 when nothing applies."""
        if self._cfg.blur_sigma > 0:
            images = gaussian_blur(images, self._cfg.blur_sigma)
        if self._cfg.features == "gradients":
            return gradient_direction_features(images, self._cfg.orientations)
        return images.reshape(len(images), -1)

    def _scale(self, flat: np.ndarray) -> np.ndarray:
        if self._scaler_mean is None:
            return flat
        return (flat.astype(np.float32) - self._scaler_mean) / self._scaler_scale

    def _project(self, flat: np.ndarray) -> np.ndarray:
        if self._pca_components is None:
            return flat if self._cfg.is_raw else flat.astype(np.float32, copy=False)
        return (flat.astype(np.float32) - self._pca_mean) @ self._pca_components.T

    def _transform(self, images: np.ndarray) -> np.ndarray:
        """Query images (validated) -> feature rows like the training table's."""
        base = deskew(images) if self._cfg.deskew else images
        return self._project(self._scale(self._pixels_to_features(base)))

    def _build_index(self, *, now: bool = False) -> None:
        """The search index; ``now`` projects and indexes the rows at once (fitting, and its measured time),
        otherwise the first search does (a loaded model that is only described never pays for it)."""
        if self._cfg.metric == "euclidean":
            from lussi.models.search import BoundIndex

            self._index = BoundIndex(self._features, random_state=self._cfg.random_state, **self._bound_settings())
            if now:
                self._index.build()
        else:
            from sklearn.neighbors import NearestNeighbors

            name, p = _SKLEARN_METRICS[self._cfg.metric]
            kwargs = {"p": p} if p is not None else {}
            self._index = NearestNeighbors(algorithm="brute", metric=name, **kwargs).fit(self._features)

    def _bound_settings(self) -> dict:
        """How the search's lower bound is built for these features.

        Standardising pixels spreads the variance evenly: 128 principal axes keep
        83% of it against 94% for raw pixels, and with the default bound 92% of
        MNIST test queries had to be searched again (33 s for 10,000). Keeping the
        axes that explain 98.5% plus 16 residual-group norms settles 77% of the
        queries on their first 16 candidates and every one within one faiss pass
        (`python benchmarks/knn_search.py --seed-knn`); the answer stays exact.
        """
        if self._cfg.scale == "standard" and self._features.shape[1] > 64:
            return {"n_components": 0.985, "residual_groups": 16}
        return {}

    # ------------------------------------------------------------- inference
    def _neighbours(self, X, k: int):
        """(squared or metric distances float64 (n, k), feature-row indices int64 (n, k)) of the queries ``X``."""
        images = image_batch(self, X, reset=False)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
            raise ValueError(f"n_neighbors must be a positive integer, got {k!r}")
        if k > len(self._features):
            raise ValueError(f"n_neighbors={k} exceeds the number of training rows ({len(self._features)})")
        dist = np.empty((len(images), k), dtype=np.float64)
        rows = np.empty((len(images), k), dtype=np.int64)
        for start in progress.bar(range(0, len(images), _CHUNK), desc="KNN neighbours", unit="chunk"):
            block = slice(start, start + _CHUNK)
            features = self._transform(images[block])
            if self._cfg.metric == "euclidean":
                dist[block], rows[block] = self._index.search_squared(features, k)
            else:
                d, r = self._index.kneighbors(features, n_neighbors=k)
                # scikit-learn's weights use these distances directly; square them to share _vote's sqrt.
                dist[block], rows[block] = d.astype(np.float64) ** 2, r
        return dist, rows

    def kneighbors(self, X, n_neighbors: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest training images of each query.

        Parameters
        ----------
        X : array-like of shape (n, h*w) or (n, h, w)
        n_neighbors : int, optional
            Defaults to the fitted ``n_neighbors``.

        Returns
        -------
        distances : ndarray of shape (n, n_neighbors), float32
            Distances in feature space (the configured metric, pixel units), ascending.
        indices : ndarray of shape (n, n_neighbors), int64
            Indices into the ORIGINAL training images (a shifted or zoomed copy maps
            to the image it was made from, so an index can repeat within a row).
        """
        k = self._fitted_config().n_neighbors if n_neighbors is None else n_neighbors
        squared, rows = self._neighbours(X, k)
        return np.sqrt(squared).astype(np.float32), self._source[rows]

    def _fitted_config(self) -> KNNConfig:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        return self._cfg

    def _proba_from_neighbours(self, squared: np.ndarray, rows: np.ndarray, weights: str) -> np.ndarray:
        return _vote(squared, self._codes[self._source[rows]], len(self.classes_), weights)

    def predict_proba(self, X) -> np.ndarray:
        """Vote shares per class (columns in ``classes_`` order).

        Parameters
        ----------
        X : array-like of shape (n, h*w) or (n, h, w)

        Returns
        -------
        ndarray of shape (n, n_classes), float32
        """
        cfg = self._fitted_config()
        squared, rows = self._neighbours(X, cfg.n_neighbors)
        return self._proba_from_neighbours(squared, rows, cfg.weights).astype(np.float32)

    def predict(self, X) -> np.ndarray:
        """Predicted labels (ties go to the smallest label, as in scikit-learn).

        Parameters
        ----------
        X : array-like of shape (n, h*w) or (n, h, w)

        Returns
        -------
        ndarray of shape (n,)
            Labels from ``classes_`` (int64 for integer labels).
        """
        cfg = self._fitted_config()
        squared, rows = self._neighbours(X, cfg.n_neighbors)
        proba = self._proba_from_neighbours(squared, rows, cfg.weights)
        return self.classes_[np.argmax(proba, axis=1)]

    # ------------------------------------------------------------ persistence
    def _arrays(self) -> dict:
        arrays = {
            "features": self._features,
            "source": self._source,
            "codes": self._codes,
            "classes": self.classes_,
            "image_shape": np.asarray(self.image_shape_, dtype=np.int64),
        }
        for name in _FITTED_ARRAYS:
            value = getattr(self, f"_{name}")
            if value is not None:
                arrays[name] = value
        return arrays

    @property
    def nbytes(self) -> int:
        """Bytes of stored arrays (training features, labels, maps, scaler/PCA) plus the search index."""
        self._fitted_config()
        from lussi.models.search import BoundIndex

        index_bytes = self._index.nbytes if isinstance(self._index, BoundIndex) else 0
        return int(sum(a.nbytes for a in self._arrays().values()) + index_bytes)

    def save(self, directory) -> None:
        """Write ``knn.npz`` (arrays, no pickle) and ``knn.json`` (config) into an existing empty directory."""
        cfg = self._fitted_config()
        directory = Path(directory)
        if not directory.is_dir():
            raise ValueError(f"directory {directory} does not exist; create it first")
        if any(directory.iterdir()):
            raise ValueError(f"directory {directory} is not empty; save into an empty directory")
        np.savez(directory / _NPZ_NAME, **self._arrays())
        meta = {"model": _FORMAT_NAME, "format_version": _FORMAT_VERSION, "config": cfg.to_dict()}
        (directory / _JSON_NAME).write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory) -> KNNClassifier:
        """Read a model written by :meth:`save` (``np.load(allow_pickle=False)``)."""
        directory = Path(directory)
        meta_path, npz_path = directory / _JSON_NAME, directory / _NPZ_NAME
        if not meta_path.is_file() or not npz_path.is_file():
            raise ValueError(f"{directory} does not hold a saved KNN model ({_JSON_NAME} and {_NPZ_NAME})")
        meta = json.loads(meta_path.read_text())
        if meta.get("model") != _FORMAT_NAME or meta.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"{meta_path} is not a KNN model of format version {_FORMAT_VERSION}")
        config = KNNConfig.from_dict(meta["config"])
        model = cls.from_config(config)
        with np.load(npz_path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        model._cfg = config
        model._features, model._source, model._codes = arrays["features"], arrays["source"], arrays["codes"]
        model.classes_ = arrays["classes"]
        model.image_shape_ = tuple(int(s) for s in arrays["image_shape"])
        model.n_features_in_ = int(np.prod(model.image_shape_))
        for name in _FITTED_ARRAYS:
            setattr(model, f"_{name}", arrays.get(name))
        model._build_index()
        return model
