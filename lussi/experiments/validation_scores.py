"""Every model's probabilities on the validation split: what the "what the accuracy buys" analyses choose on.

Selective classification, calibration and postal codes each choose something (a
confidence threshold, a temperature, an isotonic map) and must choose it without
the test labels. They choose it on these scores, computed once and cached as one
experiment of their own, and read the test set only to report.

Which model scores the validation split matters:

- a model that monitors validation while it trains (a network: ``fit`` on the fit
  split, ``validation=`` the held-out images, see
  :func:`lussi.models.train.train_neural_network`) never saw the validation
  images, so the study's own model scores them;
- a KNN is different: :func:`lussi.models.train.train_knn` chooses k and the
  vote on the fit/validation split, then **refits on the whole training split**
  (fit + validation). The study's KNN has every validation image among its
  neighbours (at distance 0), so its validation scores would be meaningless.
  The same configuration (``clone`` of the fitted model: same k, vote and
  pipeline) is fitted again on the fit split alone and scores the validation
  images.

Both are slightly optimistic, and neither by much: a KNN's k and vote, and a
network's epochs and recipe, were chosen on this same validation split.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from .. import progress
from .base import Experiment, model_keys

__all__ = ["EXPERIMENT", "VERSION", "ValidationScores", "compute", "facts", "inputs", "result_of", "score_validation"]

# Bump when the computation changes, so cached results are rebuilt.
VERSION = 1


@dataclasses.dataclass(frozen=True)
class ValidationScores:
    """Class probabilities of each model on the validation split.

    Attributes
    ----------
    labels : ndarray of shape (n_validation,), int64
        True labels of the validation images; a dataset's labels are class indices, which
        are also the probabilities' columns.
    probabilities : dict of str to ndarray of shape (n_validation, n_classes), float32
        Model name to its probabilities of each validation image.
    refit : tuple of str
        Models whose study version saw the validation images (a KNN refitted on the
        whole training split): their scores come from the same configuration fitted
        on the fit split only.
    n_fit : int
        Images of the fit split (what every scoring model was fitted on).
    """

    labels: np.ndarray
    probabilities: dict
    refit: tuple
    n_fit: int

    SCHEMA: ClassVar[dict] = {"labels": list, "probabilities": dict, "refit": list, "n_fit": int}

    def __post_init__(self):
        n = len(self.labels)
        for name, proba in self.probabilities.items():
            if np.ndim(proba) != 2 or len(proba) != n:
                raise ValueError(f"probabilities[{name!r}] must have shape (n, n_classes) with n = {n} "
                                 f"validation labels, got {np.shape(proba)}")

    def correct(self, name: str) -> np.ndarray:
        """Whether model ``name``'s most probable class is the true one, per validation image."""
        return self.probabilities[name].argmax(axis=1) == self.labels

    def to_record(self) -> dict:
        """The cache's JSON form (float32 values written as exact float64 decimals)."""
        return {"labels": self.labels.tolist(),
                "probabilities": {name: proba.tolist() for name, proba in self.probabilities.items()},
                "refit": list(self.refit), "n_fit": int(self.n_fit)}

    @classmethod
    def from_record(cls, record: dict) -> ValidationScores:
        """Read :meth:`to_record`'s form back."""
        return cls(labels=np.asarray(record["labels"], dtype=np.int64),
                   probabilities={name: np.asarray(proba, dtype=np.float32)
                                  for name, proba in record["probabilities"].items()},
                   refit=tuple(record["refit"]), n_fit=int(record["n_fit"]))


def score_validation(trained, fit, validation) -> tuple[np.ndarray, bool]:
    """``(probabilities of the validation images, refitted)`` of one trained model.

    Parameters
    ----------
    trained : TrainedModel
    fit, validation : Split
        The study's fit and validation splits (:meth:`lussi.data.Dataset.validation_split`).

    Returns
    -------
    probabilities : ndarray of shape (n_validation, n_classes), float32
    refitted : bool
        True when the study's model had seen the validation images and a copy with
        the same hyperparameters was fitted on ``fit`` to score them.
    """
    from sklearn.base import clone

    model = trained.model
    # A model that does not monitor validation was refitted on fit + validation (train_knn).
    refitted = not model.monitors_validation
    if refitted:
        model = clone(model).fit(fit.images, fit.labels)
    if not np.array_equal(model.classes_, np.arange(len(model.classes_))):
        raise ValueError(f"{trained.name}: classes must be the dataset's class indices 0..n-1, "
                         f"got {model.classes_.tolist()}")
    return np.asarray(model.predict_proba(validation.images), dtype=np.float32), refitted


def _splits(study):
    profile = study.profile
    return study.dataset.validation_split(fraction=profile.validation_fraction, random_state=profile.seed)


def inputs(study) -> dict:
    """The cache key: model keys, data fingerprint, validation fraction and seed."""
    profile = study.profile
    return {"models": model_keys(study), "data": study.dataset.fingerprint,
            "validation": {"fraction": profile.validation_fraction, "seed": profile.seed}, "version": VERSION}


def compute(study) -> ValidationScores:
    """Score the validation split with every model of ``study`` (see the module docstring)."""
    fit, validation = _splits(study)
    probabilities, refit = {}, []
    for name in progress.bar(list(study.models), desc="validation scores", unit="model"):
        trained = study.models[name]
        probabilities[name], refitted = score_validation(trained, fit, validation)
        if refitted:
            refit.append(name)
    return ValidationScores(np.asarray(validation.labels, dtype=np.int64), probabilities, tuple(refit), len(fit))


def facts(study) -> dict | None:
    """How the validation scores were made: fit and validation sizes, and the models refitted on the fit split."""
    scores = study.result(EXPERIMENT.name)
    if scores is None:
        return None
    return {"n_fit": scores.n_fit, "n_validation": int(len(scores.labels)), "refit": list(scores.refit)}


def result_of(study, experiment: Experiment):
    """``experiment``'s result in ``study`` (None when the study did not compute it)."""
    return study.result(experiment.name)


EXPERIMENT = Experiment(
    name="validation_scores",
    describe="every model's probabilities on the validation split (KNNs refitted on the fit split)",
    inputs=inputs,
    compute=compute,
    result=ValidationScores,
    cost=33,
)
