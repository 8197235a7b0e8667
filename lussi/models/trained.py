"""What training produced: :class:`TrainedModel` (typed, with its cache record form) and :class:`TestPredictions`."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..cache import CacheEntry

__all__ = ["MODEL_DIR", "SweepPoint", "TestPredictions", "TrainedModel"]

# Sub-directory of a model's cache entry that holds the saved model.
MODEL_DIR = "model"


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """Validation accuracy of one (k, weights) setting of a KNN's sweep."""

    k: int
    weights: str
    accuracy: float


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """A fitted model and what its training measured.

    :meth:`to_record` is the JSON form stored in the cache entry (the keys of
    records written before this class had typed fields), :meth:`from_record`
    reads it back.

    Attributes
    ----------
    name : str
        Short identifier (``"knn"``, ``"mlp"``, ...), used as a column/legend key.
    model : KNNClassifier or NetworkClassifier
        The fitted estimator.
    config : KNNConfig or NetworkConfig
        Its hyperparameters (for a KNN, with k and the vote chosen on validation).
    training_seconds : float
        Wall time of the final ``fit``.
    validation_accuracy : float or None
        KNN: the best of the sweep; network: after the last epoch; None without a validation split.
    sweep : tuple of SweepPoint or None
        Every (k, weights) a KNN tried on the validation split.
    tuning_seconds : float
        Wall time of the sweep (0 without one).
    history : dict of str -> list of float, or None
        A network's per-epoch figures (see :func:`lussi.models.network_training.fit_keras`).
    n_fit, n_validation : int or None
        Sizes of the fit and validation splits (networks train on the fit
        split; a KNN's sweep fits it and refits on all ``n_train``).
    n_train : int or None
        Images a KNN was finally fitted on.
    base_config : KNNConfig or None
        A KNN's pipeline before k and the vote were chosen.
    n_params : int or None
        A network's parameters.
    versions : dict
        Library versions (part of the cache key).
    entry : CacheEntry or None
        Where the model lives on disk, its key, and whether it was a cache hit;
        None while the record is being built.
    """

    name: str
    model: object
    config: object
    training_seconds: float
    validation_accuracy: float | None = None
    sweep: tuple[SweepPoint, ...] | None = None
    tuning_seconds: float = 0.0
    history: dict[str, list[float]] | None = None
    n_fit: int | None = None
    n_validation: int | None = None
    n_train: int | None = None
    base_config: object = None
    n_params: int | None = None
    versions: dict = dataclasses.field(default_factory=dict)
    entry: CacheEntry | None = None

    @property
    def family(self) -> str:
        """The model's family (``"knn"`` or ``"network"``), from its class."""
        return self.model.family

    @property
    def n_fitted(self) -> int | None:
        """Images the final model was fitted on: a network's fit split, a KNN's whole training split."""
        return self.n_fit if self.model.monitors_validation else self.n_train

    @property
    def size_bytes(self) -> int:
        """Bytes on disk of the saved model."""
        return sum(p.stat().st_size for p in (self.entry.path / MODEL_DIR).rglob("*") if p.is_file())

    def to_record(self) -> dict:
        """The cache's JSON form: ``config``, ``training_seconds``, ``validation_accuracy``, ``versions``, and the rest when set."""
        record = {"config": self.config.to_dict(), "training_seconds": float(self.training_seconds),
                  "validation_accuracy": self.validation_accuracy, "versions": dict(self.versions)}
        optional = {
            "sweep": None if self.sweep is None else [dataclasses.asdict(point) for point in self.sweep],
            "sweep_seconds": None if self.sweep is None else float(self.tuning_seconds),
            "history": self.history,
            "n_fit": self.n_fit,
            "n_validation": self.n_validation,
            "n_train": self.n_train,
            "base_config": None if self.base_config is None else self.base_config.to_dict(),
            "n_params": self.n_params,
        }
        record.update({key: value for key, value in optional.items() if value is not None})
        return record

    @classmethod
    def from_record(cls, record: dict, *, name: str, model, entry: CacheEntry | None = None) -> TrainedModel:
        """Read :meth:`to_record`'s form (and records written before it) for the fitted ``model``."""
        config_class = type(model).config_class
        sweep = record.get("sweep")
        history = record.get("history")
        base = record.get("base_config")
        return cls(
            name=name, model=model, config=config_class.from_dict(record["config"]),
            training_seconds=float(record["training_seconds"]),
            validation_accuracy=_optional(float, record.get("validation_accuracy")),
            sweep=None if sweep is None else tuple(
                SweepPoint(int(p["k"]), str(p["weights"]), float(p["accuracy"])) for p in sweep),
            tuning_seconds=float(record.get("sweep_seconds") or 0.0),
            history=None if history is None else {key: [float(v) for v in values] for key, values in history.items()},
            n_fit=_optional(int, record.get("n_fit")), n_validation=_optional(int, record.get("n_validation")),
            n_train=_optional(int, record.get("n_train")),
            base_config=None if base is None else config_class.from_dict(base),
            n_params=_optional(int, record.get("n_params")), versions=dict(record.get("versions") or {}),
            entry=entry,
        )


def _optional(kind, value):
    return None if value is None else kind(value)


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
