"""Selective classification: the risk–coverage curve, the validation-only threshold, intervals, record, text."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from experiment_fakes import FakeStudy, network_probabilities, vote_shares

from lussi.experiments import selective
from lussi.report.text import render_text


def test_curve_counts_ties_together_and_coverage_rises():
    confidence = np.array([0.9, 0.9, 0.8, 0.7, 0.7, 0.7, 0.5])
    correct = np.array([True, False, True, True, True, False, False])
    curve = selective.risk_coverage(confidence, correct)
    assert curve["threshold"].tolist() == [0.9, 0.8, 0.7, 0.5]
    assert curve["decided"].tolist() == [2, 3, 6, 7]
    assert curve["errors"].tolist() == [1, 1, 2, 3]
    np.testing.assert_allclose(curve["risk"], [1 / 2, 1 / 3, 2 / 6, 3 / 7])


def test_curve_is_monotone_as_the_threshold_falls():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 3000)
    for proba in (network_probabilities(labels, rng, strength=2.0), vote_shares(labels, rng, right=0.7)):
        curve = selective.risk_coverage(selective.confidence(proba), proba.argmax(axis=1) == labels)
        assert np.all(np.diff(curve["threshold"]) < 0)
        assert np.all(np.diff(curve["coverage"]) > 0) and curve["coverage"].iloc[-1] == 1
        assert np.all(np.diff(curve["errors"]) >= 0)
        # Ordered by a confidence that tracks correctness, the error rate climbs overall.
        assert curve["risk"].iloc[-1] > curve["risk"].iloc[0]


def test_threshold_is_the_largest_coverage_within_the_target():
    confidence = np.array([0.99, 0.98, 0.97, 0.96, 0.6])
    correct = np.array([True, True, True, False, True])
    assert selective.choose_threshold(confidence, correct, target=0.0) == 0.97
    assert selective.choose_threshold(confidence, correct, target=0.25) == 0.6
    assert selective.choose_threshold([0.9, 0.8], [False, True], target=0.0) == np.inf
    with pytest.raises(ValueError, match="target must be"):
        selective.choose_threshold(confidence, correct, target=1.5)


def test_operating_point_has_wilson_intervals():
    point = selective.operating_point(0.95, [0.99, 0.97, 0.96, 0.5], [True, False, True, True])
    assert (point["decided"], point["errors"], point["n"]) == (3, 1, 4)
    low, high = selective.wilson(3, 4)
    assert point["coverage_low"] == pytest.approx(low) and point["coverage_high"] == pytest.approx(high)
    assert point["coverage_low"] < 0.75 < point["coverage_high"]
    nothing = selective.operating_point(np.inf, [0.9], [True])
    assert nothing["decided"] == 0 and np.isnan(nothing["risk"])


def _scores(study, y_test=None):
    y_test = study.y_test if y_test is None else y_test
    validation = {n: (study.validation.probabilities[n], study.validation.correct(n)) for n in study.models}
    test = {n: (p.probabilities, p.labels == y_test) for n, p in study.predictions.items()}
    return validation, test


def test_test_labels_never_choose_the_threshold(monkeypatch):
    study = FakeStudy()
    validation, test = _scores(study)
    shuffled = np.random.default_rng(5).permutation(study.y_test)
    chosen = selective.selective_from_scores(validation, test, target=0.01)
    other = selective.selective_from_scores(validation, _scores(study, shuffled)[1], target=0.01)
    assert other.points["threshold"].tolist() == chosen.points["threshold"].tolist()
    assert other.points["risk"].tolist() != chosen.points["risk"].tolist()  # the test labels do reach the report

    # The one choice sees validation scores only: a spy on it records what it is given.
    seen, choose = [], selective.choose_threshold
    monkeypatch.setattr(selective, "choose_threshold", lambda c, ok, **kw: seen.append((c, ok)) or choose(c, ok, **kw))
    selective.selective_from_scores(validation, test, target=0.01)
    assert len(seen) == len(validation)
    for (given, ok), (proba, correct) in zip(seen, validation.values(), strict=True):
        np.testing.assert_array_equal(given, proba.max(axis=1))
        assert ok is correct


def test_end_to_end_threshold_does_not_move_with_the_study_test_labels():
    study = FakeStudy()
    relabelled = FakeStudy(y_test=np.roll(study.y_test, 1))
    a, b = selective.compute(study), selective.compute(relabelled)
    assert a.points["threshold"].tolist() == b.points["threshold"].tolist()
    # Different validation labels do move it: the check above is not vacuous.
    other = FakeStudy(seed=3)
    assert other.result("selective").points["threshold"].tolist() != a.points["threshold"].tolist()


def test_knn_levels_are_counted_from_the_votes():
    study = FakeStudy()
    point = study.result("selective").point("knn")
    assert point["share_levels"] == len(np.unique(study.predictions["knn"].probabilities))
    assert point["share_levels"] <= 6 + 1  # k = 6 equal votes: 0, 1/6, ..., 1
    assert point["confidence_levels"] < 7 < study.result("selective").point("cnn")["confidence_levels"]
    curve = study.result("selective").curves.query("model == 'knn'")
    assert len(curve) == point["confidence_levels"]


def test_record_round_trip():
    result = FakeStudy().result("selective")
    record = json.loads(json.dumps(result.to_record()))
    back = selective.SelectiveResult.from_record(record)
    pd.testing.assert_frame_equal(back.curves, result.curves)
    pd.testing.assert_frame_equal(back.points, result.points)
    assert (back.target, back.level) == (result.target, result.level)


def test_figure_and_table_carry_every_model():
    study = FakeStudy()
    fig = selective.figure(study)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(text.startswith("KNN (tuned)") for text in legend) and any(text.startswith("CNN") for text in legend)
    html = selective.table(study)
    assert "KNN (tuned)" in html and "Wilson" in html


def test_text_quotes_the_facts():
    study = FakeStudy()
    facts = selective.facts(study)
    text = " ".join(render_text("selective", {"selective": facts}).split())  # line breaks are layout
    assert f"{100 * facts['net']['coverage']:.1f}%" in text
    assert f"1 in {facts['per']:,}" in text
    assert f"({facts['knn']['k'] + 1} values; {facts['knn']['share_levels']}" in text


def test_text_says_when_a_model_decides_nothing_or_cannot_abstain():
    facts = selective.facts(FakeStudy())
    single = {**facts["knn"], "k": 1, "confidence_levels": 1, "decided": 0, "top_share": 1.0, "top_risk": 0.02}
    text = " ".join(render_text("selective", {"selective": {**facts, "knn": single}}).split())
    assert "**KNN (tuned)** decides none" in text
    assert "With a single neighbour (k = 1)" in text
    assert "no threshold of this model reaches it" in text
