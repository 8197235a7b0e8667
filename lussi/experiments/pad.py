"""Try it in the page: a pad where the reader draws a digit and the report's own models read it.

The networks in the page are the study's own trained networks, exported when
the report renders (:mod:`lussi.pad`). The tuned KNN's training set does not fit a
page, so the page runs a smaller KNN that :class:`lussi.models.knn.KNNClassifier`
reproduces exactly (raw pixels on a stratified sample of the training split), and
says which one; its test accuracy is computed here, once, and cached.
:data:`EXPERIMENT` declares it to the study; :func:`widget` is the report's cell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ..data import digit_classes
from ..visualize import html_block
from .base import Experiment, note

__all__ = ["EXPERIMENT", "PadResult", "facts", "widget"]

# Bump to recompute the cached page KNN.
VERSION = 1
# The page converts drawings to MNIST's 28x28 (lussi.picture's conversion, in JavaScript).
PAD_IMAGE_SHAPE = (28, 28)


@dataclasses.dataclass(frozen=True, eq=False)
class PadResult:
    """The page's KNN (:class:`lussi.pad.PadKNN`: its sample, k, vote and test accuracy)."""

    knn: object

    SCHEMA = {"config": dict, "indices": list, "n_test": int}


def _skip(study) -> str | None:
    if not digit_classes(study.dataset) or tuple(study.dataset.image_shape) != PAD_IMAGE_SHAPE:
        return "the pad reads 28x28 digits"
    if not _networks(study):
        return "no network"
    return None


def _networks(study) -> dict:
    """Label -> fitted network of each of the study's networks, in the study's order."""
    return {study.label(name): trained.model for name, trained in study.models.items() if trained.family == "network"}


def _config():
    from ..pad import PadKNNConfig

    return PadKNNConfig()


def _run(study, cache, rebuild: bool):
    from ..models.train import library_versions
    from ..pad import PadKNN, fit_pad_knn
    from ..stages import Stage, run_stage

    dataset = study.dataset
    stage = Stage(
        "pad",
        lambda study: {"data": dataset.fingerprint, "config": _config().to_dict(), "versions": library_versions("knn"),
                       "version": VERSION},
        lambda study: fit_pad_knn(dataset.train_images, dataset.train_labels, dataset.test_images,
                                  dataset.test_labels, config=_config()),
        to_record=lambda knn: knn.to_record(),
        from_record=lambda record: PadKNN.from_record(record, dataset.train_images, dataset.train_labels),
        schema=PadResult.SCHEMA,
    )
    knn, seconds = run_stage(stage, study, cache, rebuild)
    return PadResult(knn), seconds


EXPERIMENT = Experiment("pad", "the drawing pad's KNN (a sample of the training split, scored on test)", None, None,
                        PadResult, skip=_skip, run=_run, cost=5)


def facts(study) -> dict | None:
    """What the pad's text says: the networks it runs and exactly which KNN, with its test accuracy."""
    result = study.result("pad")
    if result is None:
        return None
    knn = result.knn
    return {"networks": list(_networks(study)), "knn": knn.describe(), "knn_accuracy": knn.test_accuracy,
            "knn_n_train": len(knn.labels), "knn_k": knn.config.n_neighbors, "n_test": knn.n_test,
            "tuned_label": study.label(study.headline[0]), "tuned_accuracy": study.accuracy(study.headline[0]).accuracy}


@html_block
def widget(study, networks: Mapping[str, object] | None = None) -> str:
    """The pad: draw a digit, see the 28x28 the models see, each network's top classes and the KNN's neighbours."""
    from ..pad import pad_html

    result = study.result("pad")
    if result is None:
        return note("The drawing pad needs 28×28 digits and a network; it is left out of this rendering.")
    return pad_html(dict(networks or _networks(study)), result.knn)


