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

import numpy as np

from . import interrupts
from . import progress as progress_module
from .cache import Cache
from .config import Profile, get_profile
from .data import Dataset, load_dataset
from .models.train import TestPredictions, TrainedModel, predict_test, train_model
from .progress import log

__all__ = ["ModelSpec", "StudyResults", "compute_extras", "run_study", "study_models"]


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
    cost : float
        Typical seconds to train it and predict the test split on a 2-core machine with an empty cache
        (``benchmarks/first_report.py``): only what the overall progress line estimates the time left from.
    """

    name: str
    label: str
    stage: str
    config: object
    select: bool = True
    cost: float = 30.0


def study_models(names: tuple[str, ...] | None = None) -> list[ModelSpec]:
    """The study's models, optionally only ``names``, in ladder order."""
    from .models.knn import baseline_knn_config, seed_knn_config, tuned_knn_config
    from .models.network import cnn_config, seed_mlp_config

    specs = [
        ModelSpec("knn_seed", "KNN (seed: scaled, k=3)", "seed", seed_knn_config(), select=False, cost=9),
        ModelSpec("knn", "KNN (raw pixels, validated k)", "corrected", baseline_knn_config(3), cost=17),
        ModelSpec("knn_tuned", "KNN (tuned)", "tuned", tuned_knn_config(), cost=34),
        ModelSpec("mlp", "MLP (seed)", "seed", seed_mlp_config(), cost=36),
        ModelSpec("cnn", "CNN", "tuned", cnn_config(), cost=340),
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
    hardware : dict
        The machine (see :func:`lussi.timing.hardware_info`), with ``latency_measured_at``.
    seconds : float
        Wall time of :func:`run_study`.
    results : dict of str to result
        Each computed experiment's result by name (:mod:`lussi.experiments`): ``latency``, ``seedsplit``
        and, with extras, ``robustness``, ``denoise``, ``learning``, ``drawn`` and ``real``. Read one
        with :meth:`result`.
    experiments : dict of str to dict
        Per experiment run or skipped: ``computed`` (bool), ``seconds`` (cold computation time) and,
        when it cannot apply to this study, ``reason``.
    """

    profile: Profile
    dataset: Dataset
    specs: dict[str, ModelSpec]
    models: dict[str, TrainedModel]
    predictions: dict[str, TestPredictions]
    hardware: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    results: dict[str, object] = dataclasses.field(default_factory=dict)
    experiments: dict[str, dict] = dataclasses.field(default_factory=dict)

    # ------------------------------------------------------------------ lookups

    def result(self, name: str):
        """The result of experiment ``name`` (see :mod:`lussi.experiments`), or None when it was not computed."""
        return self.results.get(name)

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
        from .confusion import Confusion

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


def compute_extras(study: StudyResults, *, cache: Cache, rebuild: bool = False, steps=None) -> StudyResults:
    """``study`` with the results of the declared extras (:data:`lussi.experiments.EXTRAS`), cached.

    Each runs through the cached-stage runner, in order; ``study`` itself is left unchanged.

    Parameters
    ----------
    study : StudyResults
    cache : Cache
    rebuild : bool

    Returns
    -------
    StudyResults
        A copy of ``study`` with the extras' results and their ``experiments`` entries (computed or why not).
    """
    from .experiments import EXTRAS, run_experiments

    return run_experiments(study, EXTRAS, cache=cache, rebuild=rebuild, steps=steps)


def _train_all(specs: dict, dataset: Dataset, profile: Profile, cache: Cache, rebuild: bool, steps):
    """Train (or load) each spec's model and predict the test split once with it: ``(models, predictions)``."""
    trained: dict[str, TrainedModel] = {}
    predictions: dict[str, TestPredictions] = {}
    for spec in specs.values():
        interrupts.check()
        steps.start(f"{spec.label}: training or loading from cache")
        result = train_model(
            dataset, spec.config, name=spec.name, select=spec.select, profile=profile,
            cache=cache, rebuild=rebuild,
        )
        trained[spec.name] = result
        predictions[spec.name] = predict_test(result, dataset, cache=cache, rebuild=rebuild)
        state = "cached" if result.entry.hit else f"trained in {result.training_seconds:.1f} s"
        log.info("    %s; test accuracy %.4f", state, np.mean(predictions[spec.name].labels == dataset.test_labels))
    return trained, predictions


def _core(timing: bool) -> list:
    """The core experiments a study runs: the latency sweep only when ``timing``."""
    from .experiments import CORE, latency

    return [module for module in CORE if timing or module is not latency]


def _step_costs(specs: dict, timing: bool, extras: bool) -> list[tuple[str, float]]:
    """Every step of a run and its typical cold cost: the models, then the experiments, in the order they run."""
    from .experiments import EXTRAS

    modules = _core(timing) + (list(EXTRAS) if extras else [])
    return ([(spec.label, spec.cost) for spec in specs.values()]
            + [(module.EXPERIMENT.name, module.EXPERIMENT.cost) for module in modules])


def _core_experiments(study: StudyResults, cache: Cache, *, rebuild: bool, timing: bool, steps) -> StudyResults:
    """``study`` with the core experiments (:data:`lussi.experiments.CORE`; the latency sweep only when
    ``timing``) and the hardware filled in."""
    from .experiments import run_experiments
    from .timing import hardware_info

    study = run_experiments(study, _core(timing), cache=cache, rebuild=rebuild, steps=steps)
    measured = study.result("latency")
    hardware = {**hardware_info(), "latency_measured_at": measured.measured_at if measured else None}
    return dataclasses.replace(study, hardware=hardware)


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
        Progress on stderr: one line per step (through the ``lussi`` logger) and bars.

    Returns
    -------
    StudyResults
    """
    with progress_module.showing(progress):
        return _run_study(profile, dataset=dataset, models=models, cache=cache, rebuild=rebuild, timing=timing,
                          extras=extras)


def _run_study(profile, *, dataset, models, cache, rebuild: bool, timing: bool, extras: bool) -> StudyResults:
    start = time.perf_counter()
    profile = get_profile(profile)
    if not isinstance(cache, Cache):
        cache = Cache(cache)
    cache.clean_temporary()  # leftovers of killed builds (never of a build another process is running)
    if not isinstance(dataset, Dataset):
        dataset = load_dataset(dataset)
    dataset = dataset.subset(n_train=profile.n_train, n_test=profile.n_test, random_state=profile.seed)

    specs = {spec.name: spec for spec in study_models(models)}
    steps = progress_module.Steps(_step_costs(specs, timing, extras))
    trained, predictions = _train_all(specs, dataset, profile, cache, rebuild, steps)
    study = StudyResults(profile=profile, dataset=dataset, specs=specs, models=trained, predictions=predictions)
    study = _core_experiments(study, cache, rebuild=rebuild, timing=timing, steps=steps)
    if extras:
        study = compute_extras(study, cache=cache, rebuild=rebuild, steps=steps)
    steps.done()
    return dataclasses.replace(study, seconds=time.perf_counter() - start)
