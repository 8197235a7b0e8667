"""The study's cached stages, declared as data and run by :func:`lussi.stages.run_stage`.

Each stage's inputs are exactly what its result depends on; the cache key is built
from them, so an entry's name and key only change when one of them does.

:data:`EXTRAS` is the declared list of the optional analyses that
:func:`lussi.study.compute_extras` runs in order. Adding an analysis means adding
its stage and one :class:`Extra` here.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

from .stages import Stage, run_stage, table_stage

__all__ = ["EXTRAS", "EXTRAS_VERSION", "Extra", "LATENCY", "SEED_SPLIT", "digit_classes"]

EXTRAS_VERSION = 1


def _model_keys(study, names=None) -> dict:
    return {name: study.models[name].entry.key for name in (names or study.models)}


# --------------------------------------------------------------------------- latency


def _latency_inputs(study) -> dict:
    from .timing import hardware_info

    hardware, profile = hardware_info(), study.profile
    return {
        "models": _model_keys(study),
        "batch_sizes": list(profile.latency_batch_sizes),
        "budget": profile.latency_budget_s,
        "cpu": hardware.get("cpu_model"),
        "cores": hardware.get("logical_cores"),
        "data": study.dataset.fingerprint,
    }


def _latency_compute(study, progress: bool):
    from .timing import latency_sweep

    fns = {study.label(name): (t.model.predict, t.model.call_path(1)) for name, t in study.models.items()}
    profile = study.profile
    sweep = latency_sweep(fns, study.dataset.test_images, batch_sizes=profile.latency_batch_sizes,
                          time_budget=profile.latency_budget_s, progress=progress, random_state=profile.seed)
    return sweep, time.time()


def _latency_from_record(record: dict):
    import pandas as pd

    return pd.DataFrame(record["latency"]), record["measured_at"]


# Latency sweep of every model, cached per (models, hardware, profile): timing is the slow part of a render.
# Result: (tidy sweep DataFrame, time.time() of the measurement).
LATENCY = Stage(
    "latency", _latency_inputs, _latency_compute,
    to_record=lambda result: {"latency": result[0].to_dict(orient="records"), "measured_at": result[1]},
    from_record=_latency_from_record, schema={"latency": list, "measured_at": float}, timed=False,
)


# --------------------------------------------------------------------------- the seed study's split


def _seed_split_inputs(study) -> dict:
    from .models.knn import seed_knn_config

    return {"data": study.dataset.fingerprint, "config": seed_knn_config().to_dict(), "seed": study.profile.seed}


def _seed_split_compute(study, progress: bool) -> dict:
    from sklearn.model_selection import train_test_split

    from .models.knn import KNNClassifier, seed_knn_config

    dataset, seed = study.dataset, study.profile.seed
    images = np.concatenate([dataset.train_images, dataset.test_images])
    labels = np.concatenate([dataset.train_labels, dataset.test_labels])
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.2, random_state=seed)
    model = KNNClassifier.from_config(seed_knn_config()).fit(images[train_idx], labels[train_idx])
    predicted = model.predict(images[test_idx])
    return {
        "accuracy": float(np.mean(predicted == labels[test_idx])),
        "n_train": int(len(train_idx)),
        "n_test": int(len(test_idx)),
        "test_from_original_test_split": int(np.sum(test_idx >= len(dataset.train_labels))),
    }


# The seed study's method as it was run: StandardScaler + k=3 on a random 80/20 split of train+test pooled.
# Shown next to the same pipeline on the standard split, to make visible why the method changed; it is a
# reproduction of the seed, not a model of this study.
SEED_SPLIT = Stage(
    "seedsplit", _seed_split_inputs, _seed_split_compute, to_record=dict, from_record=dict, timed=False,
    schema={"accuracy": float, "n_train": int, "n_test": int, "test_from_original_test_split": int},
)


# --------------------------------------------------------------------------- robustness


def _robustness_plan(study):
    """(model names, test subset, perturbations) of the robustness table."""
    from .robustness import default_perturbations

    profile, dataset = study.profile, study.dataset
    names = list(study.models) if profile.robustness_models == "all" else list(dict.fromkeys(study.headline))
    subset = dataset.subset(n_test=min(profile.robustness_n_test, len(dataset.test_labels)), random_state=profile.seed)
    return names, subset, default_perturbations(dataset.image_shape)


def _robustness_inputs(study) -> dict:
    names, subset, perturbations = _robustness_plan(study)
    return {
        "models": _model_keys(study, names),
        "data": study.dataset.fingerprint,
        "perturbations": [[p.name, p.level] for p in perturbations],
        "n_test": len(subset.test_labels),
        "seed": study.profile.seed,
        "version": EXTRAS_VERSION,
    }


def _robustness_compute(study, progress: bool):
    from .robustness import robustness_table

    names, subset, perturbations = _robustness_plan(study)
    return robustness_table({name: study.models[name].model.predict for name in names}, subset.test_images,
                            subset.test_labels, perturbations=perturbations, random_state=study.profile.seed,
                            progress=progress)


# Accuracy of the chosen models on perturbed copies of (a stratified subset of) the test split.
ROBUSTNESS = table_stage("robustness", _robustness_inputs, _robustness_compute)


# --------------------------------------------------------------------------- the KNN denoiser


def _denoise_options(study) -> dict:
    profile = study.profile
    return {"n_train": profile.denoise_n_train, "n_test": profile.denoise_n_test, "n_show": 10, "n_neighbors": 5}


def _denoise_inputs(study) -> dict:
    from .models.train import library_versions

    return {"data": study.dataset.fingerprint, **_denoise_options(study), "seed": study.profile.seed,
            "versions": library_versions("knn"), "version": EXTRAS_VERSION}


def _denoise_compute(study, progress: bool):
    from .robustness import denoise_demo

    dataset = study.dataset
    return denoise_demo(dataset.train_images, dataset.test_images, **_denoise_options(study),
                        random_state=study.profile.seed)


def _denoise_from_record(record: dict):
    from .robustness import DenoiseResult

    return DenoiseResult.from_record(record)


# The KNN denoiser of the seed study's noise, trained on training pairs, scored on test images.
DENOISE = Stage(
    "denoise", _denoise_inputs, _denoise_compute, to_record=lambda result: result.to_record(),
    from_record=_denoise_from_record,
    schema={**{k: list for k in ("noisy", "denoised", "clean")},
            **{k: float for k in ("mse_noisy", "mse_denoised", "psnr_noisy", "psnr_denoised")}},
)


# --------------------------------------------------------------------------- learning curves


def _curve_models(study) -> dict[str, tuple[int, ...]]:
    """Models of the learning curve and the sizes each is trained at (the study adds the full split)."""
    profile = study.profile
    n_train = len(study.dataset.train_labels)
    plan = {"knn": profile.curve_sizes, "mlp": profile.curve_sizes, "cnn": profile.curve_cnn_sizes}
    return {
        name: tuple(sorted({int(n) for n in sizes if n < n_train}))
        for name, sizes in plan.items() if name in study.models and sizes
    }


def curve_stage(study, name: str, sizes: tuple[int, ...]) -> Stage:
    """The stage of model ``name``'s learning curve: fresh models trained on nested subsets of ``sizes``."""
    from .learning import learning_curve, model_factory
    from .models.train import library_versions
    from .timing import hardware_info

    profile, trained = study.profile, study.models[name]
    factory_material = {"config": trained.config.to_dict()}
    if trained.model.training_epochs is not None:  # trained in epochs: how many depends on the size
        factory_material.update(min_steps=profile.curve_min_steps, max_epochs=profile.curve_max_epochs,
                                sizes=list(sizes))
    factory = model_factory(trained.model, min_steps=profile.curve_min_steps, max_epochs=profile.curve_max_epochs,
                            sizes=sizes, validation_fraction=profile.validation_fraction)

    def inputs(study) -> dict:
        hardware = hardware_info()
        return {
            "data": study.dataset.fingerprint, "sizes": list(sizes), "factory": factory_material,
            "validation_fraction": profile.validation_fraction, "seed": profile.seed,
            "versions": library_versions(trained.family), "cpu": hardware.get("cpu_model"),
            "cores": hardware.get("logical_cores"), "version": EXTRAS_VERSION,
        }

    def compute(study, progress: bool):
        return learning_curve(study.dataset, sizes, {name: factory}, validation_fraction=profile.validation_fraction,
                              random_state=profile.seed, progress=progress)

    return table_stage(f"curve-{name}", inputs, compute)


def _full_split_points(study):
    """The learning curve's full-split point of each model: the study's model itself (same split, seed and
    epochs as a retrain would use)."""
    import pandas as pd

    from .learning import curve_row

    rows = []
    for name in _curve_models(study):
        trained, predictions = study.models[name], study.predictions[name]
        rows.append(curve_row(
            name, len(study.dataset.train_labels), study.dataset.test_labels, predictions.labels,
            train_seconds=trained.training_seconds, predict_seconds=predictions.seconds, n_fit=trained.n_fitted,
            epochs=trained.model.training_epochs, validation_accuracy=trained.validation_accuracy,
        ))
    return pd.DataFrame(rows)


def _learning(study, cache, rebuild: bool, progress: bool):
    """Learning curves: one cached stage per model, plus the study's own models as the full-split points."""
    import pandas as pd

    frames, seconds = [], 0.0
    for name, sizes in _curve_models(study).items():
        if sizes:
            table, took = run_stage(curve_stage(study, name, sizes), study, cache, rebuild, progress=progress)
            frames.append(table)
            seconds += took
    frames.append(_full_split_points(study))
    frames = [frame for frame in frames if not frame.empty]
    table = pd.concat(frames, ignore_index=True).sort_values(["model", "n_train"], ignore_index=True)
    return (table,), seconds


# --------------------------------------------------------------------------- drawn digits and real pictures


def digit_classes(dataset) -> bool:
    """Whether the dataset's classes are the digits 0-9 in order (what drawn digits can be scored against)."""
    return tuple(dataset.class_names) == tuple(str(d) for d in range(10))


def _drawn(study, cache, rebuild: bool, progress: bool):
    """Digits drawn by code, converted like the dataset's images and predicted by every model."""
    from .handwriting.drawn import drawn_digits, predict_drawn_digits
    from .picture import fingerprint

    profile = study.profile
    options = {"styles": list(profile.drawn_styles), "seed": profile.seed, "size": study.dataset.image_shape[0]}
    # Drawing is deterministic and takes about a second, so the drawings are redrawn rather than stored.
    drawn = drawn_digits(styles=tuple(options["styles"]), seed=profile.seed, size=options["size"])
    stage = table_stage(
        "drawn",
        lambda study: {"models": _model_keys(study), **options, "conversion": fingerprint(), "version": EXTRAS_VERSION},
        lambda study, progress: predict_drawn_digits(drawn, {name: t.model for name, t in study.models.items()}),
    )
    table, seconds = run_stage(stage, study, cache, rebuild, progress=progress)
    return (drawn, table), seconds


def _real(study, cache, rebuild: bool, progress: bool):
    """Every model's answer on each real picture of the set :func:`lussi.realset.find_set` finds."""
    from . import picture, realset

    directory = realset.find_set()
    size = study.dataset.image_shape[0]
    stage = table_stage(
        "realset",
        lambda study: {"models": _model_keys(study), "set": realset.set_fingerprint(directory),
                       "conversion": picture.fingerprint(), "size": size},
        lambda study, progress: realset.predict_set(realset.convert_set(realset.read_labels(directory), size=size),
                                                    {name: t.model for name, t in study.models.items()}),
    )
    table, seconds = run_stage(stage, study, cache, rebuild, progress=progress)
    return (directory, table), seconds


def _drawn_skip(study) -> str | None:
    h, w = study.dataset.image_shape
    return "classes" if not digit_classes(study.dataset) else "shape" if h != w else None


def _real_skip(study) -> str | None:
    from .realset import find_set

    return "no set" if find_set() is None else None


def _single(stage: Stage):
    """An :attr:`Extra.run` that runs one stage whose result fills one field."""
    def run(study, cache, rebuild: bool, progress: bool):
        result, seconds = run_stage(stage, study, cache, rebuild, progress=progress)
        return (result,), seconds

    return run


@dataclasses.dataclass(frozen=True)
class Extra:
    """One optional analysis of the study (see :func:`lussi.study.compute_extras`).

    Attributes
    ----------
    name : str
        Its key in :attr:`StudyResults.extras`.
    fields : tuple of str
        The :class:`StudyResults` fields its result fills, in the order ``run`` returns them.
    describe : callable
        ``describe(study) -> str``: the line logged before it runs.
    run : callable
        ``run(study, cache, rebuild, progress) -> (values of fields, seconds)``.
    skip : callable
        ``skip(study) -> reason or None``: why it cannot apply to this study.
    after : str, optional
        Another extra's name: when that one is skipped, this one is left out entirely.
    """

    name: str
    fields: tuple[str, ...]
    describe: Callable[[object], str]
    run: Callable
    skip: Callable[[object], str | None] = lambda study: None
    after: str | None = None


EXTRAS = (
    Extra("robustness", ("robustness",), lambda s: "robustness to noise, shifts and rotations", _single(ROBUSTNESS)),
    Extra("denoise", ("denoise",), lambda s: "KNN denoiser", _single(DENOISE)),
    Extra("learning", ("learning",), lambda s: "learning curves", _learning),
    Extra("drawn", ("drawn", "drawn_predictions"), lambda s: "digits drawn by code", _drawn, skip=_drawn_skip),
    Extra("real", ("real_dir", "real_predictions"), lambda s: f"real pictures of handwriting ({_real_dir()})",
          _real, skip=_real_skip, after="drawn"),
)


def _real_dir():
    from .realset import find_set

    return find_set()
