"""Train models through the cache, and predict the test set once per model.

``train_knn`` and ``train_neural_network`` return the fitted model with a
record of what happened (configuration, times, validation sweep or training
history, library versions, cache key). Both are keyed by the model's
configuration, the data's fingerprint, the validation split and the library
versions, so changing any of them trains anew and a cached model is reused
only when it is exactly the one asked for.

``predict_test`` is the one place the test split is read by a model: its
predictions are cached beside the model, so every later table, figure and CLI
call reuses them instead of touching the test set again.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from pathlib import Path

import numpy as np

from ..cache import Cache, CacheEntry, CacheError
from ..config import Profile, get_profile
from ..data import Dataset

__all__ = ["TrainedModel", "TestPredictions", "import_keras", "library_versions", "predict_test", "train_knn",
           "train_neural_network"]

MODEL_DIR = "model"


@dataclasses.dataclass
class TrainedModel:
    """A fitted model and the record of its training.

    Attributes
    ----------
    name : str
        Short identifier (``"knn"``, ``"mlp"``, ...), used as a column/legend key.
    family : str
        ``"knn"`` or ``"network"``.
    model : KNNModel or NetworkModel
        The fitted model.
    record : dict
        JSON record: ``config``, ``training_seconds``, ``history`` or ``sweep``,
        ``versions``, sizes of the splits used.
    entry : CacheEntry
        Where the model lives on disk, its key, and whether it was a cache hit.
    """

    name: str
    family: str
    model: object
    record: dict
    entry: CacheEntry

    @property
    def config(self) -> dict:
        return self.record["config"]

    @property
    def training_seconds(self) -> float:
        return float(self.record["training_seconds"])

    @property
    def size_bytes(self) -> int:
        """Bytes on disk of the saved model."""
        return sum(p.stat().st_size for p in (self.entry.path / MODEL_DIR).rglob("*") if p.is_file())


@dataclasses.dataclass
class TestPredictions:
    """A model's predictions on the test split (computed once, cached).

    Attributes
    ----------
    labels : ndarray of shape (n,), int64
    probabilities : ndarray of shape (n, n_classes), float32
    seconds : float
        Wall time of predicting the whole test split when it was computed.
    cached : bool
    """

    labels: np.ndarray
    probabilities: np.ndarray
    seconds: float
    cached: bool


def library_versions(family: str) -> dict:
    """Versions that change a trained artefact of ``family`` (part of cache keys)."""
    import sklearn

    versions = {"python": platform.python_version(), "numpy": np.__version__, "sklearn": sklearn.__version__}
    if family == "network":
        keras = import_keras()

        backend = keras.backend.backend()
        versions["keras"] = keras.__version__
        versions["backend"] = backend
        try:
            versions[backend] = __import__(backend).__version__
        except ImportError:
            pass
    return versions


# The package that provides each Keras backend (what to install when its import fails).
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "openvino": "openvino"}
# What a cached model record must hold (anything else is discarded and rebuilt).
MODEL_RECORD = {"config": dict, "training_seconds": float}


def import_keras():
    """``import keras``, with a one-line error when ``KERAS_BACKEND`` names a backend that cannot load."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    try:
        import keras
    except ValueError as error:  # keras raises ValueError for an unknown KERAS_BACKEND
        raise ValueError(
            f"cannot load Keras with KERAS_BACKEND={backend!r} ({error}); use tensorflow, jax or torch"
        ) from None
    except ImportError as error:  # the backend's own package (torch, jax) is missing
        package = BACKEND_PACKAGES.get(backend, error.name or backend)
        raise ValueError(
            f"KERAS_BACKEND={backend} needs the Python package {error.name or package!r}, which is not installed: "
            f"pip install {package} (or unset KERAS_BACKEND to use TensorFlow)"
        ) from None
    return keras


def _refused(entry: CacheEntry, error: Exception) -> CacheError:
    return CacheError(
        f"{entry.path}: cached artefact refused by the safe loader ({error}); remove it or use --rebuild"
    )


def _load_safely(load, entry: CacheEntry):
    """Load a cached model; a file the safe loaders refuse (pickle, unsafe Keras) is an error naming the entry."""
    try:
        return load(entry.path / MODEL_DIR)
    except ValueError as error:
        raise _refused(entry, error) from None


def _splits(dataset: Dataset, profile: Profile):
    return dataset.validation_split(fraction=profile.validation_fraction, random_state=profile.seed)


def _material(dataset: Dataset, profile: Profile, family: str, config: dict, **extra) -> dict:
    return {
        "config": config,
        "data": dataset.fingerprint,
        "validation": {"fraction": profile.validation_fraction, "seed": profile.seed},
        "versions": library_versions(family),
        **extra,
    }


def train_knn(
    dataset: Dataset,
    config=None,
    *,
    name: str = "knn",
    select: bool = True,
    profile: str | Profile = "full",
    cache: Cache | None = None,
    rebuild: bool = False,
    progress: bool = True,
) -> TrainedModel:
    """Fit a KNN classifier, choosing k (and vote weights) on the validation split.

    Parameters
    ----------
    dataset : Dataset
    config : KNNConfig, optional
        Preprocessing and search settings; default raw pixels, euclidean.
    name : str
        Identifier of the model in results.
    select : bool
        Sweep ``profile.knn_ks`` × {uniform, distance} on the validation split
        and keep the best (ties: smaller k); False keeps ``config`` as given
        (the seed study's fixed k=3).
    profile : str or Profile
    cache : Cache, optional
        Defaults to ``Cache()`` (the per-user cache directory).
    rebuild : bool
        Refit even if a cached model exists.
    progress : bool

    Returns
    -------
    TrainedModel
        The final model is fitted on the whole training split (fit +
        validation) with the chosen settings.
    """
    from .knn import KNNConfig, KNNModel, baseline_knn_config, sweep_knn

    profile = get_profile(profile)
    cache = cache or Cache()
    config = config if config is not None else baseline_knn_config(3)
    if not isinstance(config, KNNConfig):
        raise TypeError(f"config must be a KNNConfig, got {type(config).__name__}")
    ks = tuple(k for k in profile.knn_ks if k <= len(dataset.train_labels))
    material = _material(dataset, profile, "knn", config.to_dict(), select={"ks": ks} if select else None)

    def build(directory: Path) -> dict:
        record = {"base_config": config.to_dict(), "sweep": None, "sweep_seconds": 0.0, "validation_accuracy": None}
        chosen = config
        if select:
            fit, val = _splits(dataset, profile)
            start = time.perf_counter()
            sweep = sweep_knn(config, fit.images, fit.labels, val.images, val.labels, ks=ks, progress=progress)
            record["sweep_seconds"] = time.perf_counter() - start
            best = sweep.sort_values(["accuracy", "k"], ascending=[False, True]).iloc[0]
            chosen = dataclasses.replace(config, n_neighbors=int(best["k"]), weights=str(best["weights"]))
            record["sweep"] = sweep.to_dict(orient="records")
            record["validation_accuracy"] = float(best["accuracy"])
            record["n_fit"], record["n_validation"] = len(fit), len(val)
        start = time.perf_counter()
        model = KNNModel(chosen).fit(dataset.train_images, dataset.train_labels, progress=progress)
        record["training_seconds"] = time.perf_counter() - start
        (directory / MODEL_DIR).mkdir()
        model.save(directory / MODEL_DIR)
        record.update(config=chosen.to_dict(), n_train=int(len(dataset.train_labels)), versions=material["versions"])
        return record

    entry = cache.get_or_build(f"knn-{name}", material, build, rebuild=rebuild, schema=MODEL_RECORD)
    model = _load_safely(KNNModel.load, entry)
    return TrainedModel(name, "knn", model, entry.record, entry)


def train_neural_network(
    dataset: Dataset,
    config=None,
    *,
    name: str = "mlp",
    profile: str | Profile = "full",
    cache: Cache | None = None,
    rebuild: bool = False,
    progress: bool = True,
) -> TrainedModel:
    """Train a Keras network on the fit split, monitoring the validation split.

    Parameters
    ----------
    dataset : Dataset
    config : NetworkConfig, optional
        Default: the seed study's MLP. Its epochs are scaled by the profile.
    name : str
        Identifier of the model in results.
    profile : str or Profile
    cache : Cache, optional
    rebuild : bool
    progress : bool

    Returns
    -------
    TrainedModel
    """
    from .network import NetworkConfig, NetworkModel, seed_mlp_config

    profile = get_profile(profile)
    cache = cache or Cache()
    config = config if config is not None else seed_mlp_config()
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, got {type(config).__name__}")
    config = dataclasses.replace(config, epochs=profile.epochs(config.epochs), seed=profile.seed)
    material = _material(dataset, profile, "network", config.to_dict())

    def build(directory: Path) -> dict:
        fit, val = _splits(dataset, profile)
        model = NetworkModel(config)
        start = time.perf_counter()
        history = model.fit(fit.images, fit.labels, validation=(val.images, val.labels), progress=progress)
        seconds = time.perf_counter() - start
        (directory / MODEL_DIR).mkdir()
        model.save(directory / MODEL_DIR)
        return {
            "config": config.to_dict(),
            "training_seconds": seconds,
            "history": {key: [float(v) for v in values] for key, values in history.items()},
            "validation_accuracy": float(history["val_accuracy"][-1]) if history.get("val_accuracy") else None,
            "n_fit": len(fit),
            "n_validation": len(val),
            "n_params": int(model.n_params),
            "versions": material["versions"],
        }

    entry = cache.get_or_build(f"net-{name}", material, build, rebuild=rebuild, schema=MODEL_RECORD)
    model = _load_safely(NetworkModel.load, entry)
    return TrainedModel(name, "network", model, entry.record, entry)


def predict_test(trained: TrainedModel, dataset: Dataset, *, cache: Cache | None = None, rebuild: bool = False) -> TestPredictions:
    """Predict the test split with ``trained`` once; later calls read the cached predictions.

    Parameters
    ----------
    trained : TrainedModel
    dataset : Dataset
        Must be the dataset the model was trained on (same fingerprint).
    cache : Cache, optional
    rebuild : bool

    Returns
    -------
    TestPredictions
    """
    cache = cache or Cache()
    material = {"model": trained.entry.key, "data": dataset.fingerprint}

    def build(directory: Path) -> dict:
        start = time.perf_counter()
        probabilities = np.asarray(trained.model.predict_proba(dataset.test_images), dtype=np.float32)
        # argmax takes the first maximum, i.e. the smallest label on a tied vote, as scikit-learn does.
        labels = probabilities.argmax(axis=1).astype(np.int64)
        seconds = time.perf_counter() - start
        np.savez(directory / "predictions.npz", labels=labels, probabilities=probabilities)
        return {
            "seconds": seconds,
            "accuracy": float(np.mean(labels == dataset.test_labels)),
            "n_test": int(len(labels)),
        }

    entry = cache.get_or_build(f"test-{trained.name}", material, build, rebuild=rebuild, schema={"seconds": float})
    try:
        with np.load(entry.path / "predictions.npz", allow_pickle=False) as arrays:
            labels, probabilities = arrays["labels"], arrays["probabilities"]
    except ValueError as error:
        raise _refused(entry, error) from None
    return TestPredictions(labels, probabilities, float(entry.record["seconds"]), cached=entry.hit)
