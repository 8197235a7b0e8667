"""Train models through the cache, and predict the test set once per model.

``train_knn`` and ``train_neural_network`` (``train_model`` picks one from
the config) return a :class:`TrainedModel`: the fitted estimator with typed
fields for what happened (configuration, times, validation sweep or training
history, library versions, cache entry). Both are keyed by the model's
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
from .trained import MODEL_DIR, SweepPoint, TestPredictions, TrainedModel

__all__ = ["SweepPoint", "TestPredictions", "TrainedModel", "import_keras", "library_versions", "predict_test",
           "train_knn", "train_model", "train_neural_network"]


def library_versions(family: str) -> dict:
    """Versions that change a trained artefact of ``family`` (part of cache keys)."""
    import sklearn

    versions = {"python": platform.python_version(), "numpy": np.__version__, "sklearn": sklearn.__version__}
    if family == "network":
        from .network_training import TRAINING_LOOP

        keras = import_keras()
        versions["lussi_training_loop"] = TRAINING_LOOP
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


def train_model(dataset: Dataset, config, *, name: str, select: bool = True, **options) -> TrainedModel:
    """Train ``config``'s kind of model: :func:`train_knn` for a KNNConfig, :func:`train_neural_network` for a NetworkConfig.

    ``select`` (choose k and the vote on validation) applies to a KNN only;
    ``options`` are the trainers' ``profile``, ``cache`` and ``rebuild``.
    """
    from .knn_config import KNNConfig

    if isinstance(config, KNNConfig):
        return train_knn(dataset, config, name=name, select=select, **options)
    return train_neural_network(dataset, config, name=name, **options)


def train_knn(
    dataset: Dataset,
    config=None,
    *,
    name: str = "knn",
    select: bool = True,
    profile: str | Profile = "full",
    cache: Cache | None = None,
    rebuild: bool = False,
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
        and keep the best (:func:`~lussi.models.knn_select.select_knn`: ties go to the
        smaller k, then to uniform votes); False keeps ``config`` as given
        (the seed study's fixed k=3).
    profile : str or Profile
    cache : Cache, optional
        Defaults to ``Cache()`` (the per-user cache directory).
    rebuild : bool
        Refit even if a cached model exists.

    Returns
    -------
    TrainedModel
        The final model is fitted on the whole training split (fit +
        validation) with the chosen settings.
    """
    from .knn import KNNClassifier, KNNConfig, baseline_knn_config

    profile = get_profile(profile)
    cache = cache or Cache()
    config = config if config is not None else baseline_knn_config(3)
    if not isinstance(config, KNNConfig):
        raise TypeError(f"config must be a KNNConfig, got {type(config).__name__}")
    ks = tuple(k for k in profile.knn_ks if k <= len(dataset.train_labels))
    material = _material(dataset, profile, "knn", config.to_dict(), select={"ks": ks} if select else None)

    def build(directory: Path) -> dict:
        chosen, chosen_by = _select_on_validation(dataset, profile, config, ks) if select else (config, {})
        start = time.perf_counter()
        model = KNNClassifier.from_config(chosen).fit(dataset.train_images, dataset.train_labels)
        seconds = time.perf_counter() - start
        (directory / MODEL_DIR).mkdir()
        model.save(directory / MODEL_DIR)
        return TrainedModel(name, model, chosen, seconds, base_config=config, n_train=int(len(dataset.train_labels)),
                            versions=material["versions"], **chosen_by).to_record()

    entry = cache.get_or_build(f"knn-{name}", material, build, rebuild=rebuild, schema=MODEL_RECORD)
    return TrainedModel.from_record(entry.record, name=name, model=_load_safely(KNNClassifier.load, entry), entry=entry)


def _select_on_validation(dataset: Dataset, profile: Profile, config, ks: tuple[int, ...]):
    """``(config with the chosen k and vote, TrainedModel fields saying how)``: :func:`~lussi.models.knn_select.select_knn` on the validation split."""
    from .knn_select import select_knn

    fit, val = _splits(dataset, profile)
    start = time.perf_counter()
    chosen, table = select_knn(config, fit.images, fit.labels, val.images, val.labels, ks=ks)
    return chosen, {
        "tuning_seconds": time.perf_counter() - start,
        "sweep": tuple(SweepPoint(int(r.k), str(r.weights), float(r.accuracy)) for r in table.itertuples()),
        "validation_accuracy": float(table["accuracy"].max()),
        "n_fit": len(fit), "n_validation": len(val),
    }


def train_neural_network(
    dataset: Dataset,
    config=None,
    *,
    name: str = "mlp",
    profile: str | Profile = "full",
    cache: Cache | None = None,
    rebuild: bool = False,
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

    Returns
    -------
    TrainedModel
    """
    from .network import NetworkClassifier, NetworkConfig, seed_mlp_config

    profile = get_profile(profile)
    cache = cache or Cache()
    config = config if config is not None else seed_mlp_config()
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, got {type(config).__name__}")
    config = dataclasses.replace(config, epochs=profile.epochs(config.epochs), seed=profile.seed)
    material = _material(dataset, profile, "network", config.to_dict())

    def build(directory: Path) -> dict:
        fit, val = _splits(dataset, profile)
        model = NetworkClassifier.from_config(config)
        start = time.perf_counter()
        model.fit(fit.images, fit.labels, validation=(val.images, val.labels))
        seconds = time.perf_counter() - start
        (directory / MODEL_DIR).mkdir()
        model.save(directory / MODEL_DIR)
        history = {key: [float(v) for v in values] for key, values in model.history_.items()}
        return TrainedModel(
            name, model, config, seconds, history=history, n_fit=len(fit), n_validation=len(val),
            validation_accuracy=float(history["val_accuracy"][-1]) if history.get("val_accuracy") else None,
            n_params=int(model.n_params), versions=material["versions"],
        ).to_record()

    entry = cache.get_or_build(f"net-{name}", material, build, rebuild=rebuild, schema=MODEL_RECORD)
    model = _load_safely(NetworkClassifier.load, entry)
    return TrainedModel.from_record(entry.record, name=name, model=model, entry=entry)


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
        labels = trained.model.classes_[probabilities.argmax(axis=1)].astype(np.int64)
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
