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
from typing import Callable

import numpy as np

from . import interrupts
from .cache import Cache
from .config import Profile, get_profile
from .data import Dataset, load_dataset
from .models.train import TestPredictions, TrainedModel, predict_test, train_model
from .stages import run_stage
from .study_stages import LATENCY, SEED_SPLIT, digit_classes

__all__ = ["ModelSpec", "StudyResults", "compute_extras", "digit_classes", "run_study", "study_models"]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model of the study.

    Attributes
    ----------
    name : str
        Identifier (``"knn_tuned"``).
    label : str
        Human name for tables and legends.
    stage : str
        Rung of the ladder: ``"seed"``, ``"corrected"`` or ``"tuned"``.
    config : KNNConfig or NetworkConfig
        Also says the kind of model (:func:`lussi.models.train.train_model`).
    select : bool
        For KNN: choose k and weights on the validation split.
    """

    name: str
    label: str
    stage: str
    config: object
    select: bool = True


def study_models(names: tuple[str, ...] | None = None) -> list[ModelSpec]:
    """The study's models, optionally only ``names``, in ladder order."""
    from .models.knn import baseline_knn_config, seed_knn_config, tuned_knn_config
    from .models.network import cnn_config, seed_mlp_config

    specs = [
        ModelSpec("knn_seed", "KNN (seed: scaled, k=3)", "seed", seed_knn_config(), select=False),
        ModelSpec("knn", "KNN (raw pixels, validated k)", "corrected", baseline_knn_config(3)),
        ModelSpec("knn_tuned", "KNN (tuned)", "tuned", tuned_knn_config()),
        ModelSpec("mlp", "MLP (seed)", "seed", seed_mlp_config()),
        ModelSpec("cnn", "CNN", "tuned", cnn_config()),
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
    robustness : DataFrame or None
        Accuracy under perturbations (see :func:`lussi.robustness.robustness_table`),
        ``model`` column holding model names; None when extras were not computed.
    denoise : DenoiseResult or None
        The KNN denoiser demonstration (see :func:`lussi.robustness.denoise_demo`).
    learning : DataFrame or None
        Learning curves (see :func:`lussi.learning.learning_curve`), ``model``
        column holding model names; each model's largest point is the study's own model.
    drawn : DrawnDigits or None
        Digits drawn by code and converted like MNIST; None when the classes are not the digits 0-9.
    drawn_predictions : DataFrame or None
        Every model's prediction of each drawn digit (see :func:`lussi.handwriting.drawn.predict_drawn_digits`).
    real_dir : Path or None
        The real handwriting set the study read (see :mod:`lussi.realset`); None when none is built.
    real_predictions : DataFrame or None
        Every model's answer on each real picture (see :func:`lussi.realset.predict_set`).
    extras : dict
        Per extra: ``computed`` (bool), ``seconds`` (cold computation time) and,
        when it cannot apply to this dataset, ``reason``.
    """

    profile: Profile
    dataset: Dataset
    specs: dict[str, ModelSpec]
    models: dict[str, TrainedModel]
    predictions: dict[str, TestPredictions]
    latency: object = None
    seed_split: dict | None = None
    hardware: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    robustness: object = None
    denoise: object = None
    learning: object = None
    drawn: object = None
    drawn_predictions: object = None
    real_dir: object = None
    real_predictions: object = None
    extras: dict = dataclasses.field(default_factory=dict)

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
        """The model of ``family`` (a model class's ``family``) with the highest VALIDATION accuracy (the test set picks nothing)."""
        candidates = [
            name for name, trained in self.models.items()
            if trained.family == family and trained.validation_accuracy is not None
        ]
        if not candidates:
            candidates = [name for name, trained in self.models.items() if trained.family == family]
        if not candidates:
            raise ValueError(f"the study has no {family} model")
        return max(candidates, key=lambda n: self.models[n].validation_accuracy or 0.0)

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

    def costs(self, name: str) -> dict:
        """What model ``name`` costs: bytes in memory and on disk, seconds to train, tune and predict the test split.

        The one source of these five figures, for :meth:`model_sizes` and the report's facts.
        """
        trained = self.models[name]
        return {
            "memory_bytes": int(trained.model.nbytes),
            "disk_bytes": int(trained.size_bytes),
            "training_seconds": trained.training_seconds,
            "tuning_seconds": trained.tuning_seconds,
            "test_predict_seconds": self.predictions[name].seconds,
        }

    def model_sizes(self):
        """DataFrame: model, family and :meth:`costs` (bytes in memory and on disk, seconds), one row per model."""
        import pandas as pd

        return pd.DataFrame([{"model": self.label(name), "family": trained.family, **self.costs(name)}
                             for name, trained in self.models.items()])


def compute_extras(study: StudyResults, *, cache: Cache, progress: bool = True, rebuild: bool = False,
                   log: Callable[[str], None] = lambda line: None) -> StudyResults:
    """``study`` with its robustness, denoising, learning-curve, drawn-digit and real-picture fields filled (cached).

    Runs the declared extras of :data:`lussi.study_stages.EXTRAS` in order, each
    through the cached-stage runner; ``study`` itself is left unchanged.

    Parameters
    ----------
    study : StudyResults
    cache : Cache
    progress : bool
    rebuild : bool
    log : callable

    Returns
    -------
    StudyResults
        A copy of ``study`` with the extras' fields and ``extras`` (computed or why not) set.
    """
    from .study_stages import EXTRAS

    skipped, computed = {}, {}
    for extra in EXTRAS:
        if extra.after is not None and extra.after in skipped:
            continue
        reason = extra.skip(study)
        if reason is not None:
            skipped[extra.name] = {"computed": False, "seconds": 0.0, "reason": reason}
            continue
        log(extra.describe(study))
        values, seconds = extra.run(study, cache, rebuild, progress)
        study = dataclasses.replace(study, **dict(zip(extra.fields, values, strict=True)))
        computed[extra.name] = {"computed": True, "seconds": seconds}
    return dataclasses.replace(study, extras={**study.extras, **skipped, **computed})


def _train_all(specs: dict, dataset: Dataset, profile: Profile, cache: Cache, rebuild: bool, progress: bool, log):
    """Train (or load) each spec's model and predict the test split once with it: ``(models, predictions)``."""
    trained: dict[str, TrainedModel] = {}
    predictions: dict[str, TestPredictions] = {}
    for index, spec in enumerate(specs.values(), start=1):
        interrupts.check()
        log(f"[{index}/{len(specs)}] {spec.label}: training or loading from cache")
        result = train_model(
            dataset, spec.config, name=spec.name, select=spec.select, profile=profile,
            cache=cache, rebuild=rebuild, progress=progress,
        )
        trained[spec.name] = result
        predictions[spec.name] = predict_test(result, dataset, cache=cache, rebuild=rebuild)
        state = "cached" if result.entry.hit else f"trained in {result.training_seconds:.1f} s"
        log(f"    {state}; test accuracy {np.mean(predictions[spec.name].labels == dataset.test_labels):.4f}")
    return trained, predictions


def _core_stages(study: StudyResults, cache: Cache, *, rebuild: bool, progress: bool, timing: bool,
                 log: Callable[[str], None]) -> StudyResults:
    """``study`` with its latency sweep (when ``timing``), the seed study's split and the hardware filled in."""
    from .timing import hardware_info

    latency, measured_at = None, None
    if timing:
        log("timing predictions (latency sweep)")
        (latency, measured_at), _ = run_stage(LATENCY, study, cache, rebuild, progress=progress)
    seed_split = None
    if "knn_seed" in study.specs:
        log("seed study's split (random 80/20 of all images)")
        seed_split, _ = run_stage(SEED_SPLIT, study, cache, rebuild)
    hardware = {**hardware_info(), "latency_measured_at": measured_at}
    return dataclasses.replace(study, latency=latency, seed_split=seed_split, hardware=hardware)


def run_study(
    profile: str | Profile = "full",
    *,
    dataset: str | os.PathLike | Dataset = "mnist",
    models: tuple[str, ...] | None = None,
    cache: Cache | str | os.PathLike | None = None,
    rebuild: bool = False,
    timing: bool = True,
    extras: bool = False,
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
    extras : bool
        Also compute (or load) robustness, the KNN denoiser, learning curves and
        drawn digits (:func:`compute_extras`); sized by the profile.
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
    cache.clean_temporary()  # leftovers of killed builds (never of a build another process is running)
    if log is None:
        log = (lambda line: print(line, file=sys.stderr, flush=True)) if progress else (lambda line: None)
    if not isinstance(dataset, Dataset):
        dataset = load_dataset(dataset)
    dataset = dataset.subset(n_train=profile.n_train, n_test=profile.n_test, random_state=profile.seed)

    specs = {spec.name: spec for spec in study_models(models)}
    trained, predictions = _train_all(specs, dataset, profile, cache, rebuild, progress, log)
    study = StudyResults(profile=profile, dataset=dataset, specs=specs, models=trained, predictions=predictions)
    study = _core_stages(study, cache, rebuild=rebuild, progress=progress, timing=timing, log=log)
    if extras:
        study = compute_extras(study, cache=cache, progress=progress, rebuild=rebuild, log=log)
    return dataclasses.replace(study, seconds=time.perf_counter() - start)
