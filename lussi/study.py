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

from . import interrupts
from .cache import Cache
from .config import Profile, get_profile
from .data import Dataset, load_dataset
from .models.train import TestPredictions, TrainedModel, predict_test, train_model

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
            fns[specs[name].label] = (trained.model.predict, trained.model.call_path(1))
        sweep = latency_sweep(
            fns,
            dataset.test_images,
            batch_sizes=profile.latency_batch_sizes,
            time_budget=profile.latency_budget_s,
            progress=progress,
            random_state=profile.seed,
        )
        return {"latency": sweep.to_dict(orient="records"), "measured_at": time.time()}

    entry = cache.get_or_build("latency", material, build, rebuild=rebuild,
                               schema={"latency": list, "measured_at": float})
    return pd.DataFrame(entry.record["latency"]), entry.record["measured_at"]


def _seed_split(dataset: Dataset, profile: Profile, cache: Cache, rebuild: bool) -> dict:
    """The seed study's method as it was run: StandardScaler + k=3 on a random 80/20 split of train+test pooled.

    Shown next to the same pipeline on the standard split, to make visible why the
    method changed; it is a reproduction of the seed, not a model of this study.
    """
    from sklearn.model_selection import train_test_split

    from .models.knn import KNNClassifier, seed_knn_config

    config = seed_knn_config()
    material = {"data": dataset.fingerprint, "config": config.to_dict(), "seed": profile.seed}

    def build(directory: Path) -> dict:
        images = np.concatenate([dataset.train_images, dataset.test_images])
        labels = np.concatenate([dataset.train_labels, dataset.test_labels])
        train_idx, test_idx = train_test_split(
            np.arange(len(labels)), test_size=0.2, random_state=profile.seed
        )
        model = KNNClassifier.from_config(config).fit(images[train_idx], labels[train_idx])
        predicted = model.predict(images[test_idx])
        return {
            "accuracy": float(np.mean(predicted == labels[test_idx])),
            "n_train": int(len(train_idx)),
            "n_test": int(len(test_idx)),
            "test_from_original_test_split": int(np.sum(test_idx >= len(dataset.train_labels))),
        }

    schema = {"accuracy": float, "n_train": int, "n_test": int, "test_from_original_test_split": int}
    return cache.get_or_build("seedsplit", material, build, rebuild=rebuild, schema=schema).record


# --------------------------------------------------------------------------- extras

EXTRAS_VERSION = 1
# What a cached table record holds (see _records); anything else is discarded and rebuilt.
TABLE_RECORD = {"table": {"columns": list, "records": list}, "seconds": float}


def _records(table) -> dict:
    """A DataFrame as JSON-ready records with its column order (the cache's JSON sorts keys)."""
    return {"columns": [str(c) for c in table.columns], "records": table.to_dict(orient="records")}


def _frame(stored: dict):
    import pandas as pd

    return pd.DataFrame(stored["records"], columns=stored["columns"])


def _robustness(study: StudyResults, cache: Cache, progress: bool, rebuild: bool):
    """Accuracy of the chosen models on perturbed copies of (a stratified subset of) the test split."""

    from .robustness import default_perturbations, robustness_table

    profile, dataset = study.profile, study.dataset
    names = list(study.models) if profile.robustness_models == "all" else list(dict.fromkeys(study.headline))
    subset = dataset.subset(n_test=min(profile.robustness_n_test, len(dataset.test_labels)), random_state=profile.seed)
    perturbations = default_perturbations(dataset.image_shape)
    material = {
        "models": {name: study.models[name].entry.key for name in names},
        "data": dataset.fingerprint,
        "perturbations": [[p.name, p.level] for p in perturbations],
        "n_test": len(subset.test_labels),
        "seed": profile.seed,
        "version": EXTRAS_VERSION,
    }

    def build(directory: Path) -> dict:
        start = time.perf_counter()
        table = robustness_table(
            {name: study.models[name].model.predict for name in names}, subset.test_images, subset.test_labels,
            perturbations=perturbations, random_state=profile.seed, progress=progress,
        )
        return {"table": _records(table), "seconds": time.perf_counter() - start}

    entry = cache.get_or_build("robustness", material, build, rebuild=rebuild, schema=TABLE_RECORD)
    return _frame(entry.record["table"]), float(entry.record["seconds"])


def _denoise(study: StudyResults, cache: Cache, rebuild: bool):
    """The KNN denoiser of the seed study's noise, trained on training pairs, scored on test images."""
    from .models.train import library_versions
    from .robustness import DenoiseResult, denoise_demo

    profile, dataset = study.profile, study.dataset
    options = {"n_train": profile.denoise_n_train, "n_test": profile.denoise_n_test, "n_show": 10, "n_neighbors": 5}
    material = {"data": dataset.fingerprint, **options, "seed": profile.seed,
                "versions": library_versions("knn"), "version": EXTRAS_VERSION}

    def build(directory: Path) -> dict:
        start = time.perf_counter()
        result = denoise_demo(dataset.train_images, dataset.test_images, **options, random_state=profile.seed)
        return {**result.to_record(), "seconds": time.perf_counter() - start}

    schema = {"seconds": float, **{k: list for k in ("noisy", "denoised", "clean")},
              **{k: float for k in ("mse_noisy", "mse_denoised", "psnr_noisy", "psnr_denoised")}}
    record = dict(cache.get_or_build("denoise", material, build, rebuild=rebuild, schema=schema).record)
    seconds = float(record.pop("seconds"))
    return DenoiseResult.from_record(record), seconds


def _curve_models(study: StudyResults) -> dict[str, tuple[int, ...]]:
    """Models of the learning curve and the sizes each is trained at (the study adds the full split)."""
    profile = study.profile
    n_train = len(study.dataset.train_labels)
    plan = {"knn": profile.curve_sizes, "mlp": profile.curve_sizes, "cnn": profile.curve_cnn_sizes}
    return {
        name: tuple(sorted({int(n) for n in sizes if n < n_train}))
        for name, sizes in plan.items() if name in study.models and sizes
    }


def _learning(study: StudyResults, cache: Cache, progress: bool, rebuild: bool):
    """Learning curves: fresh models on nested subsets, plus the study's own model as the full-split point."""
    import pandas as pd

    from .learning import curve_row, learning_curve, model_factory
    from .models.train import library_versions
    from .timing import hardware_info

    profile, dataset = study.profile, study.dataset
    hardware = hardware_info()
    frames, seconds = [], 0.0
    for name, sizes in _curve_models(study).items():
        trained = study.models[name]
        if not sizes:
            continue
        factory_material = {"config": trained.config.to_dict()}
        if trained.model.training_epochs is not None:  # trained in epochs: how many depends on the size
            factory_material.update(min_steps=profile.curve_min_steps, max_epochs=profile.curve_max_epochs,
                                    sizes=list(sizes))
        factory = model_factory(trained.model, min_steps=profile.curve_min_steps, max_epochs=profile.curve_max_epochs,
                                sizes=sizes, validation_fraction=profile.validation_fraction)
        material = {
            "data": dataset.fingerprint, "sizes": list(sizes), "factory": factory_material,
            "validation_fraction": profile.validation_fraction, "seed": profile.seed,
            "versions": library_versions(trained.family), "cpu": hardware.get("cpu_model"),
            "cores": hardware.get("logical_cores"), "version": EXTRAS_VERSION,
        }

        def build(directory: Path, sizes=sizes, factory=factory, name=name) -> dict:
            start = time.perf_counter()
            table = learning_curve(dataset, sizes, {name: factory}, validation_fraction=profile.validation_fraction,
                                   random_state=profile.seed, progress=progress)
            return {"table": _records(table), "seconds": time.perf_counter() - start}

        entry = cache.get_or_build(f"curve-{name}", material, build, rebuild=rebuild, schema=TABLE_RECORD)
        frames.append(_frame(entry.record["table"]))
        seconds += float(entry.record["seconds"])
    # The full-split point is the study's model itself: same split, seed and epochs as a retrain would use.
    rows = []
    for name in _curve_models(study):
        trained, predictions = study.models[name], study.predictions[name]
        rows.append(curve_row(
            name, len(dataset.train_labels), dataset.test_labels, predictions.labels,
            train_seconds=trained.training_seconds, predict_seconds=predictions.seconds,
            n_fit=trained.n_fitted,
            epochs=trained.model.training_epochs, validation_accuracy=trained.validation_accuracy,
        ))
    frames.append(pd.DataFrame(rows))
    frames = [frame for frame in frames if not frame.empty]
    table = pd.concat(frames, ignore_index=True).sort_values(["model", "n_train"], ignore_index=True)
    return table, seconds


def digit_classes(dataset: Dataset) -> bool:
    """Whether the dataset's classes are the digits 0-9 in order (what drawn digits can be scored against)."""
    return tuple(dataset.class_names) == tuple(str(d) for d in range(10))


def _drawn(study: StudyResults, cache: Cache, rebuild: bool):
    """Digits drawn by code, converted like the dataset's images and predicted by every model."""

    from .handwriting.drawn import drawn_digits, predict_drawn_digits
    from .picture import fingerprint

    profile, dataset = study.profile, study.dataset
    size = dataset.image_shape[0]
    options = {"styles": list(profile.drawn_styles), "seed": profile.seed, "size": size}
    material = {"models": {name: t.entry.key for name, t in study.models.items()}, **options,
                "conversion": fingerprint(), "version": EXTRAS_VERSION}
    # Drawing is deterministic and takes about a second, so the drawings are redrawn rather than stored.
    drawn = drawn_digits(styles=tuple(options["styles"]), seed=profile.seed, size=size)

    def build(directory: Path) -> dict:
        start = time.perf_counter()
        table = predict_drawn_digits(drawn, {name: t.model for name, t in study.models.items()})
        return {"table": _records(table), "seconds": time.perf_counter() - start}

    entry = cache.get_or_build("drawn", material, build, rebuild=rebuild, schema=TABLE_RECORD)
    return drawn, _frame(entry.record["table"]), float(entry.record["seconds"])


def compute_extras(study: StudyResults, *, cache: Cache, progress: bool = True, rebuild: bool = False,
                   log: Callable[[str], None] = lambda line: None) -> StudyResults:
    """Fill ``study``'s robustness, denoising, learning-curve, drawn-digit and real-picture fields (cached).

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
        ``study`` itself, updated.
    """
    extras = {}
    log("robustness to noise, shifts and rotations")
    study.robustness, extras["robustness"] = _robustness(study, cache, progress, rebuild)
    log("KNN denoiser")
    study.denoise, extras["denoise"] = _denoise(study, cache, rebuild)
    log("learning curves")
    study.learning, extras["learning"] = _learning(study, cache, progress, rebuild)
    h, w = study.dataset.image_shape
    if not digit_classes(study.dataset):
        study.extras["drawn"] = {"computed": False, "seconds": 0.0, "reason": "classes"}
    elif h != w:
        study.extras["drawn"] = {"computed": False, "seconds": 0.0, "reason": "shape"}
    else:
        log("digits drawn by code")
        study.drawn, study.drawn_predictions, extras["drawn"] = _drawn(study, cache, rebuild)
        from . import realset

        study.real_dir = realset.find_set()
        if study.real_dir is None:
            study.extras["real"] = {"computed": False, "seconds": 0.0, "reason": "no set"}
        else:
            log(f"real pictures of handwriting ({study.real_dir})")
            study.real_predictions, extras["real"] = realset.run(study, study.real_dir, cache, rebuild)
    for name, seconds in extras.items():
        study.extras[name] = {"computed": True, "seconds": seconds}
    return study


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
    study = StudyResults(
        profile=profile,
        dataset=dataset,
        specs=specs,
        models=trained,
        predictions=predictions,
        latency=latency,
        seed_split=seed_split,
        hardware=hardware,
    )
    if extras:
        compute_extras(study, cache=cache, progress=progress, rebuild=rebuild, log=log)
    study.seconds = time.perf_counter() - start
    return study
