"""The KNN-vs-network study: train every model, predict the test set once, time them.

:func:`run_study` is what the CLI and ``report.qmd`` call. It returns a
:class:`StudyResults`, a plain bundle of fitted models, cached test
predictions and measurements; the analysis tables are computed from it on
demand by :mod:`lussi.analysis`, and drawn by :mod:`lussi.visualize`.

Models of the study (the "ladder" from the seed study to tuned models):

=============  ===========================================================
``knn_seed``   the seed study's KNN: StandardScaler'd pixels, k=3
``knn``        KNN on raw pixels, k and vote weights chosen on validation
``knn_tuned``  deskewed, augmented, PCA-reduced KNN tuned on validation
``mlp``        the seed study's MLP (784-256-128-64-10)
``cnn``        a convolutional network
=============  ===========================================================
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .cache import Cache
from .config import Profile, get_profile
from .data import Dataset, load_dataset
from .models.train import TestPredictions, TrainedModel, predict_test, train_knn, train_neural_network

__all__ = ["ModelSpec", "StudyResults", "run_study", "study_models"]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model of the study.

    Attributes
    ----------
    name : str
        Identifier (``"knn_tuned"``).
    label : str
        Human name for tables and legends.
    family : str
        ``"knn"`` or ``"network"``.
    stage : str
        Rung of the ladder: ``"seed"``, ``"corrected"`` or ``"tuned"``.
    config : KNNConfig or NetworkConfig
    select : bool
        For KNN: choose k and weights on the validation split.
    """

    name: str
    label: str
    family: str
    stage: str
    config: object
    select: bool = True


def study_models(names: tuple[str, ...] | None = None) -> list[ModelSpec]:
    """The study's models, optionally only ``names``, in ladder order."""
    from .models.knn import baseline_knn_config, seed_knn_config, tuned_knn_config
    from .models.network import cnn_config, seed_mlp_config

    specs = [
        ModelSpec("knn_seed", "KNN (seed: scaled, k=3)", "knn", "seed", seed_knn_config(), select=False),
        ModelSpec("knn", "KNN (raw pixels, validated k)", "knn", "corrected", baseline_knn_config(3)),
        ModelSpec("knn_tuned", "KNN (tuned)", "knn", "tuned", tuned_knn_config()),
        ModelSpec("mlp", "MLP (seed)", "network", "seed", seed_mlp_config()),
        ModelSpec("cnn", "CNN", "network", "tuned", cnn_config()),
    ]
    if names is None:
        return specs
    known = {spec.name for spec in specs}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(sorted(known))}")
    return [spec for spec in specs if spec.name in names]


@dataclasses.dataclass
class StudyResults:
    """Everything the report shows, computed once.

    Attributes
    ----------
    profile : Profile
    dataset : Dataset
        The (possibly subsampled) dataset the study ran on.
    specs : dict of str to ModelSpec
    models : dict of str to TrainedModel
    predictions : dict of str to TestPredictions
        Test-split predictions, one per model, cached.
    latency : DataFrame or None
        Tidy latency sweep (see :func:`lussi.timing.latency_sweep`).
    seed_split : dict or None
        The seed study's method on its own random 80/20 split of all images.
    hardware : dict
    seconds : float
        Wall time of :func:`run_study`.
    """

    profile: Profile
    dataset: Dataset
    specs: dict
    models: dict
    predictions: dict
    latency: object = None
    seed_split: dict | None = None
    hardware: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    # ------------------------------------------------------------------ lookups

    @property
    def names(self) -> list[str]:
        return list(self.models)

    def label(self, name: str) -> str:
        return self.specs[name].label

    @property
    def labels(self) -> dict[str, str]:
        return {name: self.label(name) for name in self.models}

    @property
    def y_test(self) -> np.ndarray:
        return self.dataset.test_labels

    def predicted(self, name: str) -> np.ndarray:
        return self.predictions[name].labels

    def best(self, family: str) -> str:
        """The model of ``family`` with the highest VALIDATION accuracy (the test set picks nothing)."""
        candidates = [
            name for name, trained in self.models.items()
            if trained.family == family and trained.record.get("validation_accuracy") is not None
        ]
        if not candidates:
            candidates = [name for name, trained in self.models.items() if trained.family == family]
        if not candidates:
            raise ValueError(f"the study has no {family} model")
        return max(candidates, key=lambda n: self.models[n].record.get("validation_accuracy") or 0.0)

    @property
    def headline(self) -> tuple[str, str]:
        """(best KNN, best network) by validation accuracy: the pair the summary compares."""
        return self.best("knn"), self.best("network")

    # ------------------------------------------------------------------ analysis

    def accuracy_table(self):
        """DataFrame: model, accuracy, 95% interval, errors (see :func:`lussi.analysis.compare_models`)."""
        from .analysis import compare_models

        table = compare_models(self.y_test, {self.label(n): self.predicted(n) for n in self.models})
        return table

    def accuracy(self, name: str):
        from .analysis import accuracy_interval

        return accuracy_interval(self.y_test, self.predicted(name))

    def mcnemar(self, a: str, b: str):
        from .analysis import mcnemar_test

        return mcnemar_test(self.y_test, self.predicted(a), self.predicted(b))

    def per_class(self, names: list[str] | None = None):
        from .analysis import per_class_report

        names = names or list(self.headline)
        return per_class_report(
            self.y_test,
            {self.label(n): self.predicted(n) for n in names},
            labels=list(range(self.dataset.n_classes)),
            class_names=self.dataset.class_names,
        )

    def confusion(self, name: str):
        from .analysis import Confusion

        return Confusion.from_predictions(
            self.y_test,
            self.predicted(name),
            labels=list(range(self.dataset.n_classes)),
            class_names=self.dataset.class_names,
        )

    def model_sizes(self):
        """DataFrame: model, parameters/stored bytes in memory, bytes on disk, training seconds."""
        import pandas as pd

        rows = []
        for name, trained in self.models.items():
            rows.append(
                {
                    "model": self.label(name),
                    "family": trained.family,
                    "memory_bytes": int(trained.model.nbytes),
                    "disk_bytes": int(trained.size_bytes),
                    "training_seconds": trained.training_seconds,
                    "tuning_seconds": float(trained.record.get("sweep_seconds") or 0.0),
                    "test_predict_seconds": self.predictions[name].seconds,
                }
            )
        return pd.DataFrame(rows)


def _hardware() -> dict:
    from .timing import hardware_info

    return hardware_info()


def _latency(study_models: dict, specs: dict, dataset: Dataset, profile: Profile, cache: Cache, progress: bool, rebuild: bool):
    """Latency sweep of every model, cached per (models, hardware, profile): timing is the slow part of a render."""
    import pandas as pd

    from .timing import latency_sweep

    hardware = _hardware()
    material = {
        "models": {name: trained.entry.key for name, trained in study_models.items()},
        "batch_sizes": list(profile.latency_batch_sizes),
        "budget": profile.latency_budget_s,
        "cpu": hardware.get("cpu_model"),
        "cores": hardware.get("logical_cores"),
        "data": dataset.fingerprint,
    }

    def build(directory: Path) -> dict:
        fns = {}
        for name, trained in study_models.items():
            path = getattr(trained.model, "call_path", None)
            path_name = (lambda b, p=path: p(b)) if callable(path) else (lambda b: "predict")
            fns[specs[name].label] = (trained.model.predict, path_name(1))
        sweep = latency_sweep(
            fns,
            dataset.test_images,
            batch_sizes=profile.latency_batch_sizes,
            time_budget=profile.latency_budget_s,
            progress=progress,
            random_state=profile.seed,
        )
        return {"latency": sweep.to_dict(orient="records"), "measured_at": time.time()}

    entry = cache.get_or_build("latency", material, build, rebuild=rebuild)
    return pd.DataFrame(entry.record["latency"]), entry.record["measured_at"]


def _seed_split(dataset: Dataset, profile: Profile, cache: Cache, rebuild: bool) -> dict:
    """The seed study's method as it was run: StandardScaler + k=3 on a random 80/20 split of train+test pooled.

    Shown next to the same pipeline on the standard split, to make visible why the
    method changed; it is a reproduction of the seed, not a model of this study.
    """
    from sklearn.model_selection import train_test_split

    from .models.knn import KNNModel, seed_knn_config

    config = seed_knn_config()
    material = {"data": dataset.fingerprint, "config": config.to_dict(), "seed": profile.seed}

    def build(directory: Path) -> dict:
        images = np.concatenate([dataset.train_images, dataset.test_images])
        labels = np.concatenate([dataset.train_labels, dataset.test_labels])
        train_idx, test_idx = train_test_split(
            np.arange(len(labels)), test_size=0.2, random_state=profile.seed
        )
        model = KNNModel(config).fit(images[train_idx], labels[train_idx])
        predicted = model.predict(images[test_idx])
        return {
            "accuracy": float(np.mean(predicted == labels[test_idx])),
            "n_train": int(len(train_idx)),
            "n_test": int(len(test_idx)),
            "test_from_original_test_split": int(np.sum(test_idx >= len(dataset.train_labels))),
        }

    return cache.get_or_build("seedsplit", material, build, rebuild=rebuild).record


def run_study(
    profile: str | Profile = "full",
    *,
    dataset: str | os.PathLike | Dataset = "mnist",
    models: tuple[str, ...] | None = None,
    cache: Cache | str | os.PathLike | None = None,
    rebuild: bool = False,
    timing: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> StudyResults:
    """Train (or load) every model, predict the test split once each, and time them.

    Parameters
    ----------
    profile : str or Profile
        ``"full"`` (default) or ``"quick"`` (subsets, few epochs).
    dataset : str, path-like or Dataset
        ``"mnist"``, ``"digits"``, a directory of idx files, or a loaded Dataset.
    models : tuple of str, optional
        Subset of :func:`study_models` names; default all.
    cache : Cache or path-like, optional
    rebuild : bool
        Retrain and re-measure everything.
    timing : bool
        Run the latency sweep.
    progress : bool
        Progress bars on stderr.
    log : callable, optional
        Receives one line per step (default: print to stderr when progress).

    Returns
    -------
    StudyResults
    """
    import sys

    start = time.perf_counter()
    profile = get_profile(profile)
    if not isinstance(cache, Cache):
        cache = Cache(cache)
    if log is None:
        log = (lambda line: print(line, file=sys.stderr, flush=True)) if progress else (lambda line: None)
    if not isinstance(dataset, Dataset):
        dataset = load_dataset(dataset)
    dataset = dataset.subset(n_train=profile.n_train, n_test=profile.n_test, random_state=profile.seed)

    specs = {spec.name: spec for spec in study_models(models)}
    trained: dict[str, TrainedModel] = {}
    predictions: dict[str, TestPredictions] = {}
    for index, spec in enumerate(specs.values(), start=1):
        log(f"[{index}/{len(specs)}] {spec.label}: training or loading from cache")
        if spec.family == "knn":
            result = train_knn(
                dataset, spec.config, name=spec.name, select=spec.select, profile=profile,
                cache=cache, rebuild=rebuild, progress=progress,
            )
        else:
            result = train_neural_network(
                dataset, spec.config, name=spec.name, profile=profile, cache=cache, rebuild=rebuild, progress=progress
            )
        trained[spec.name] = result
        predictions[spec.name] = predict_test(result, dataset, cache=cache, rebuild=rebuild)
        state = "cached" if result.entry.hit else f"trained in {result.training_seconds:.1f} s"
        log(f"    {state}; test accuracy {np.mean(predictions[spec.name].labels == dataset.test_labels):.4f}")

    latency = None
    measured_at = None
    if timing:
        log("timing predictions (latency sweep)")
        latency, measured_at = _latency(trained, specs, dataset, profile, cache, progress, rebuild)
    seed_split = None
    if "knn_seed" in specs:
        log("seed study's split (random 80/20 of all images)")
        seed_split = _seed_split(dataset, profile, cache, rebuild)
    hardware = _hardware()
    hardware["latency_measured_at"] = measured_at
    return StudyResults(
        profile=profile,
        dataset=dataset,
        specs=specs,
        models=trained,
        predictions=predictions,
        latency=latency,
        seed_split=seed_split,
        hardware=hardware,
        seconds=time.perf_counter() - start,
    )
