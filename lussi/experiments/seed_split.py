"""The seed study's method as it was run: StandardScaler + k=3 on a random 80/20 split of train+test pooled.

Shown next to the same pipeline on the standard split, to make visible why the
method changed; it is a reproduction of the seed, not a model of this study.
:data:`EXPERIMENT` declares it to the study; :func:`facts` gives the numbers the
method section quotes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from .base import Experiment

__all__ = ["EXPERIMENT", "SeedSplitResult", "facts"]


@dataclasses.dataclass(frozen=True)
class SeedSplitResult:
    """Accuracy of the seed's KNN on its own random split, the split's sizes, and how many of its test
    images come from MNIST's original test split."""

    accuracy: float
    n_train: int
    n_test: int
    test_from_original_test_split: int

    SCHEMA = {"accuracy": float, "n_train": int, "n_test": int, "test_from_original_test_split": int}

    def to_record(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: Mapping) -> SeedSplitResult:
        return cls(**{field.name: record[field.name] for field in dataclasses.fields(cls)})


def _inputs(study) -> dict:
    from ..models.knn import seed_knn_config

    return {"data": study.dataset.fingerprint, "config": seed_knn_config().to_dict(), "seed": study.profile.seed}


def _compute(study) -> SeedSplitResult:
    from sklearn.model_selection import train_test_split

    from ..models.knn import KNNClassifier, seed_knn_config

    dataset, seed = study.dataset, study.profile.seed
    images = np.concatenate([dataset.train_images, dataset.test_images])
    labels = np.concatenate([dataset.train_labels, dataset.test_labels])
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.2, random_state=seed)
    model = KNNClassifier.from_config(seed_knn_config()).fit(images[train_idx], labels[train_idx])
    predicted = model.predict(images[test_idx])
    return SeedSplitResult(
        accuracy=float(np.mean(predicted == labels[test_idx])),
        n_train=int(len(train_idx)),
        n_test=int(len(test_idx)),
        test_from_original_test_split=int(np.sum(test_idx >= len(dataset.train_labels))),
    )


def _skip(study) -> str | None:
    return None if "knn_seed" in study.specs else "the seed's KNN is not among the study's models"


EXPERIMENT = Experiment("seedsplit", "seed study's split (random 80/20 of all images)", _inputs, _compute,
                        SeedSplitResult, skip=_skip, timed=False, cost=16)


def facts(study) -> dict:
    """``seed_split_accuracy``, ``seed_split_n_test`` and ``seed_split_from_test`` (empty when not run)."""
    result = study.result("seedsplit")
    if result is None:
        return {}
    return {"seed_split_accuracy": result.accuracy, "seed_split_n_test": result.n_test,
            "seed_split_from_test": result.test_from_original_test_split}
