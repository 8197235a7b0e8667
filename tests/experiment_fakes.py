"""A study made of synthetic probabilities, for the tests of the "what the accuracy buys" experiments.

Nothing is trained: a network's probabilities are a softmax of noisy logits, a
KNN's are the shares of k equal votes. :class:`FakeStudy` answers what the
experiments ask of a :class:`lussi.study.StudyResults` (models with a family,
config and cache key, test predictions, labels, the headline pair, costs, a
latency sweep) and ``result(name)``, computing an experiment on first use.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pandas as pd

from lussi.experiments import validation_scores
from lussi.experiments.latency import LatencyResult

N_CLASSES = 10


def network_probabilities(labels, rng, *, strength: float = 4.0) -> np.ndarray:
    """Softmax of logits that favour the true class by ``strength``: confident, mostly right, float32."""
    logits = rng.normal(size=(len(labels), N_CLASSES))
    logits[np.arange(len(labels)), labels] += strength
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def vote_shares(labels, rng, *, k: int = 6, right: float = 0.9) -> np.ndarray:
    """Shares of ``k`` equal votes, each for the true class with probability ``right``: float32."""
    chance = np.full((len(labels), N_CLASSES), (1 - right) / (N_CLASSES - 1))
    chance[np.arange(len(labels)), labels] = right
    votes = np.stack([rng.multinomial(k, p) for p in chance])
    return (votes / k).astype(np.float32)


class _Config:
    def __init__(self, **described):
        self._described = described

    def to_dict(self) -> dict:
        return dict(self._described)


class FakeStudy:
    """What the experiments read from a study, with synthetic scores.

    Parameters
    ----------
    n_validation, n_test : int
    seed : int
        Seeds labels and scores.
    y_test : ndarray, optional
        Test labels to report against (default: the ones the scores were drawn for).
    """

    def __init__(self, *, n_validation: int = 1000, n_test: int = 2000, seed: int = 0, y_test=None):
        rng = np.random.default_rng(seed)
        val_labels = rng.integers(0, N_CLASSES, n_validation)
        test_labels = rng.integers(0, N_CLASSES, n_test)
        draw = {"knn": lambda y: vote_shares(y, rng), "cnn": lambda y: network_probabilities(y, rng)}
        self.models = {
            "knn": SimpleNamespace(family="knn", config=_Config(n_neighbors=6, weights="uniform"),
                                   entry=SimpleNamespace(key="knn-key")),
            "cnn": SimpleNamespace(family="network", config=_Config(architecture="cnn"),
                                   entry=SimpleNamespace(key="cnn-key")),
        }
        self.validation = validation_scores.ValidationScores(
            val_labels, {name: draw[name](val_labels) for name in self.models}, ("knn",), 5 * n_validation)
        probabilities = {name: draw[name](test_labels) for name in self.models}
        self.predictions = {name: SimpleNamespace(probabilities=p, labels=p.argmax(axis=1).astype(np.int64))
                            for name, p in probabilities.items()}
        self.y_test = test_labels if y_test is None else np.asarray(y_test)
        self.labels = {"knn": "KNN (tuned)", "cnn": "CNN"}
        self.headline = ("knn", "cnn")
        self.profile = SimpleNamespace(validation_fraction=0.1, seed=seed)
        self.dataset = SimpleNamespace(fingerprint=f"fake-{seed}", class_names=tuple(str(d) for d in range(10)))
        self._results = {validation_scores.EXPERIMENT.name: self.validation,
                         "latency": LatencyResult(latency_table(list(self.labels.values())), 0.0)}

    def label(self, name: str) -> str:
        return self.labels[name]

    def costs(self, name: str) -> dict:
        return {"memory_bytes": {"knn": 200_000_000, "cnn": 1_000_000}[name]}

    def result(self, name: str):
        if name not in self._results:
            try:  # each experiment lives in the module of its name
                experiment = importlib.import_module(f"lussi.experiments.{name}").EXPERIMENT
            except ModuleNotFoundError:
                return None  # what a study answers for a result it does not hold
            self._results[name] = experiment.compute(self)
        return self._results[name]


def latency_table(models, *, threads: int = 2) -> pd.DataFrame:
    """A latency sweep in :func:`lussi.experiments.latency.latency_sweep`'s form: the first model 10x slower per call."""
    rows = []
    for slow, model in enumerate(models[::-1]):
        for batch, per_call in ((1, 1e-3), (10, 2e-3), (100, 1.5e-2), (1000, 2e-1)):
            median = per_call * (10 if slow else 1)
            rows.append({"model": model, "batch_size": batch, "median_s": median, "p90_s": 1.2 * median,
                         "per_image_ms": 1000 * median / batch, "throughput_per_s": batch / median, "repeats": 5,
                         "threads": threads, "call_path": "predict", "note": ""})
    return pd.DataFrame(rows)
