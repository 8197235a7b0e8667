"""Calibration: ECE and its binning, temperature scaling, the isotonic map, record, figure and text."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from experiment_fakes import FakeStudy
from scipy.special import softmax

from lussi.experiments import calibration
from lussi.report.text import render_text


def test_ece_of_a_hand_computed_case():
    # Ten bins: 0.95, 0.95 (one right) | 0.55 (right) | 0.25 (wrong).
    # ECE = 2/4 * |0.5 - 0.95| + 1/4 * |1 - 0.55| + 1/4 * |0 - 0.25| = 0.225 + 0.1125 + 0.0625 = 0.4.
    ece = calibration.expected_calibration_error([0.95, 0.95, 0.55, 0.25], [True, False, True, False], n_bins=10)
    assert ece == pytest.approx(0.4, abs=1e-6)
    bins = calibration.reliability_table([0.95, 0.95, 0.55, 0.25], [True, False, True, False], n_bins=10)
    assert bins["count"].tolist() == [0, 0, 1, 0, 0, 1, 0, 0, 0, 2]
    assert calibration.expected_calibration_error([1.0, 0.0], [True, False], n_bins=15) == 0.0


def test_a_vote_share_on_an_edge_falls_in_the_bin_it_closes():
    shares = np.array([2 / 3, 1 / 5, 1.0, 0.0], dtype=np.float32)
    bins = calibration.reliability_table(shares, [True] * 4, n_bins=15)
    filled = bins[bins["count"] > 0]
    # (lower, upper] bins: 2/3 closes bin 9 (0.6, 0.667], 1/5 closes bin 2 (0.133, 0.2]; 0 goes to bin 0.
    assert filled["bin"].tolist() == [0, 2, 9, 14]


@pytest.mark.parametrize("true_temperature", [0.5, 2.0])
def test_temperature_scaling_recovers_a_known_temperature(true_temperature):
    rng = np.random.default_rng(0)
    logits = 3 * rng.normal(size=(20000, 10))
    labels = np.array([rng.choice(10, p=p) for p in softmax(logits / true_temperature, axis=1)])
    found = calibration.fit_temperature(softmax(logits, axis=1).astype(np.float32), labels)
    assert found == pytest.approx(true_temperature, rel=0.05)


def test_temperature_scaling_keeps_the_predicted_class():
    proba = softmax(np.random.default_rng(1).normal(size=(50, 10)), axis=1)
    np.testing.assert_array_equal(calibration.temperature_scale(proba, 2.5).argmax(axis=1), proba.argmax(axis=1))


def test_isotonic_map_is_monotone_and_fits_validation():
    study = FakeStudy()
    proba, labels = study.validation.probabilities["knn"], study.validation.labels
    calibrator = calibration.fit_calibrator("isotonic", proba, labels)
    assert np.all(np.diff(calibrator.y) >= 0)
    correct = proba.argmax(axis=1) == labels
    before = calibration.expected_calibration_error(proba.max(axis=1), correct)
    after = calibration.expected_calibration_error(calibrator.confidence(proba), correct)
    assert after <= before
    with pytest.raises(ValueError, match="method must be"):
        calibration.fit_calibrator("platt", proba, labels)


def test_study_calibration_uses_each_family_method():
    result = FakeStudy().result("calibration")
    assert {name: c.method for name, c in result.calibrators.items()} == {"knn": "isotonic", "cnn": "temperature"}
    assert set(result.bins["stage"]) == {"before", "after"}
    assert all(0 <= result.ece(name, stage) <= 1 for name in ("knn", "cnn") for stage in ("before", "after"))


def test_record_round_trip():
    result = FakeStudy().result("calibration")
    back = calibration.CalibrationResult.from_record(json.loads(json.dumps(result.to_record())))
    assert back.calibrators == result.calibrators
    pd.testing.assert_frame_equal(back.bins, result.bins)
    pd.testing.assert_frame_equal(back.validation_ece, result.validation_ece)
    assert back.n_bins == result.n_bins


def test_figure_table_and_text():
    study = FakeStudy()
    fig = calibration.figure(study)
    assert [ax.get_title() for ax in fig.axes] == ["KNN (tuned): isotonic", "CNN: temperature"]
    assert "ECE" in calibration.table(study)
    facts = calibration.facts(study)
    text = " ".join(render_text("calibration", {"calibration": facts}).split())  # line breaks are layout
    assert f"T = {facts['net']['temperature']:.3f}" in text
    assert f"{100 * facts['knn']['ece_after']:.2f}%" in text
    assert f"{facts['n_bins']} equal-width bins" in text
