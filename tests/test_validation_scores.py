"""Validation scores: a KNN refitted on the whole training split is scored by a copy fitted on the fit split."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from experiment_fakes import FakeStudy

from lussi.data import Split
from lussi.experiments import validation_scores
from lussi.models.knn import KNNClassifier


def _splits(seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(120) % 3
    images = rng.integers(0, 60, size=(120, 8, 8)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label: 2 * label + 3] = 200  # a learnable band per class, with noise around it
    return Split(images[:90], labels[:90]), Split(images[90:], labels[90:])


def test_a_knn_that_saw_validation_is_refitted_on_the_fit_split():
    fit, val = _splits()
    everything = KNNClassifier(n_neighbors=1).fit(np.concatenate([fit.images, val.images]),
                                                   np.concatenate([fit.labels, val.labels]))
    trained = SimpleNamespace(name="knn", model=everything)
    proba, refitted = validation_scores.score_validation(trained, fit, val)
    assert refitted
    # The study's model finds every validation image at distance 0; the scores come from a fit-split copy.
    expected = KNNClassifier(n_neighbors=1).fit(fit.images, fit.labels).predict_proba(val.images)
    np.testing.assert_array_equal(proba, expected)
    assert proba.dtype == np.float32


def test_a_model_that_monitored_validation_scores_it_as_it_is():
    fit, val = _splits()
    fixed = np.full((len(val), 3), 1 / 3, dtype=np.float32)
    model = SimpleNamespace(monitors_validation=True, classes_=np.arange(3), predict_proba=lambda images: fixed)
    proba, refitted = validation_scores.score_validation(SimpleNamespace(name="net", model=model), fit, val)
    assert not refitted and proba is not None
    np.testing.assert_array_equal(proba, fixed)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"probabilities\['a'\] must have shape"):
        validation_scores.ValidationScores(np.zeros(3, dtype=np.int64), {"a": np.zeros((2, 10))}, (), 5)


def test_record_round_trip_is_exact():
    scores = FakeStudy().validation
    back = validation_scores.ValidationScores.from_record(json.loads(json.dumps(scores.to_record())))
    np.testing.assert_array_equal(back.labels, scores.labels)
    for name, proba in scores.probabilities.items():
        np.testing.assert_array_equal(back.probabilities[name], proba)
        assert back.probabilities[name].dtype == np.float32
    assert (back.refit, back.n_fit) == (scores.refit, scores.n_fit)


def test_inputs_name_what_the_scores_depend_on():
    study = FakeStudy()
    key = validation_scores.inputs(study)
    assert key["models"] == {"knn": "knn-key", "cnn": "cnn-key"}
    assert key["data"] == study.dataset.fingerprint
    assert key["validation"] == {"fraction": 0.1, "seed": 0}


def test_result_of_is_the_study_result():
    study = FakeStudy()
    assert validation_scores.result_of(study, validation_scores.EXPERIMENT) is study.validation
    study._results.pop(validation_scores.EXPERIMENT.name)
    study._results[validation_scores.EXPERIMENT.name] = None
    assert validation_scores.result_of(study, validation_scores.EXPERIMENT) is None
