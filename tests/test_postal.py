"""Postal codes: seeded composition with bounded reuse, code scores, validation-only threshold, record, text."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from experiment_fakes import FakeStudy

from lussi.experiments import postal, selective
from lussi.report.text import render_text


@pytest.fixture(scope="module")
def fake_study():
    """One synthetic study for the module, its postal codes bootstrapped 100 times (not 1,000) to stay quick."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(postal, "N_BOOT", 100)
        study = FakeStudy()
        study.result("postal")
        yield study


def test_same_seed_same_codes_and_bounded_reuse():
    codes = postal.compose_codes(1003, n_codes=2000, random_state=7)
    np.testing.assert_array_equal(codes, postal.compose_codes(1003, n_codes=2000, random_state=7))
    assert not np.array_equal(codes, postal.compose_codes(1003, n_codes=2000, random_state=8))
    assert codes.shape == (2000, 5) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < 1003
    bound = postal.uses_needed(1003, n_codes=2000)
    assert bound == -(-2000 // (1003 // 5))
    assert np.bincount(codes.ravel()).max() <= bound
    assert all(len(set(code)) == 5 for code in codes.tolist())  # no digit twice in one code


def test_the_default_bound_for_mnist_test_digits():
    assert postal.uses_needed(10_000) * 10_000 >= 5 * postal.N_CODES
    codes = postal.compose_codes(10_000, random_state=0)
    assert len(codes) == postal.N_CODES
    assert np.bincount(codes.ravel(), minlength=10_000).max() == postal.uses_needed(10_000)


def test_a_bound_too_small_is_refused():
    with pytest.raises(ValueError, match="more than max_uses=2"):
        postal.compose_codes(100, n_codes=100, max_uses=2)
    with pytest.raises(ValueError, match="at least 5 digits"):
        postal.compose_codes(4, n_codes=1)


def test_code_scores_take_the_least_confident_digit_and_need_every_digit():
    codes = np.array([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
    confidence = np.array([0.9, 0.8, 0.99, 0.7, 0.95, 0.5])
    correct = np.array([True, True, True, True, True, False])
    code_confidence, code_correct = postal.code_scores(codes, confidence, correct)
    np.testing.assert_array_equal(code_confidence, [0.7, 0.5])
    np.testing.assert_array_equal(code_correct, [True, False])


def _splits(study, y_test):
    validation = {n: (study.validation.probabilities[n], study.validation.correct(n)) for n in study.models}
    test = {n: (p.probabilities, p.labels == y_test) for n, p in study.predictions.items()}
    return validation, test


def test_threshold_comes_from_validation_codes_only(monkeypatch):
    study = FakeStudy()
    validation, test = _splits(study, study.y_test)
    options = {"n_codes": 2000, "n_boot": 20, "target": 0.01}
    chosen = postal.postal_from_scores(validation, test, **options)
    relabelled = postal.postal_from_scores(validation, _splits(study, np.roll(study.y_test, 3))[1], **options)
    assert relabelled.points["threshold"].tolist() == chosen.points["threshold"].tolist()
    assert relabelled.points["code_accuracy"].tolist() != chosen.points["code_accuracy"].tolist()

    seen, choose = [], postal.choose_threshold
    monkeypatch.setattr(postal, "choose_threshold", lambda c, ok, **kw: seen.append(len(c)) or choose(c, ok, **kw))
    postal.postal_from_scores(validation, test, **options)
    assert seen == [options["n_codes"]] * len(validation)  # validation codes: the test ones are not passed


def test_study_result_is_consistent(fake_study):
    study = fake_study
    result = study.result("postal")
    assert result.n_digits == {"validation": 1000, "test": 2000}
    assert result.max_uses["test"] <= postal.uses_needed(2000)
    for name in study.models:
        point = result.point(name)
        assert point["code_accuracy_low"] <= point["code_accuracy"] <= point["code_accuracy_high"]
        assert point["code_accuracy"] <= point["digit_accuracy"]
        if point["decided"]:
            assert point["risk_low"] <= point["risk"] <= point["risk_high"]
    assert selective.risk_coverage is postal.risk_coverage  # one curve, shared with selective classification


def test_record_round_trip(fake_study):
    result = fake_study.result("postal")
    back = postal.PostalResult.from_record(json.loads(json.dumps(result.to_record())))
    pd.testing.assert_frame_equal(back.points, result.points)
    pd.testing.assert_frame_equal(back.curves, result.curves)
    assert (back.n_digits, back.max_uses, back.n_codes, back.length) == (
        result.n_digits, result.max_uses, result.n_codes, result.length)


def test_figure_table_and_texts(fake_study):
    study = fake_study
    assert "codes" in postal.figure(study).axes[0].get_xlabel()
    assert "whole-code accuracy" in postal.table(study)
    facts = postal.facts(study)
    text = " ".join(render_text("postal", {"postal": facts}).split())  # line breaks are layout
    assert f"{facts['n_codes']:,} codes of {facts['length']} digits" in text
    assert f"at most {facts['max_uses']['test']} codes" in text


def test_summary_sentence_quotes_both_analyses(fake_study):
    study = fake_study
    context = {"selective": selective.facts(study), "postal": postal.facts(study)}
    summary = " ".join(render_text("practice_summary", context).split())
    for name in ("selective", "postal"):
        for model in ("net", "knn"):
            assert f"{100 * context[name][model]['coverage']:.1f}%" in summary
    assert summary.strip().endswith(".") and summary.strip().count(". ") == 0  # one sentence
    no_codes = render_text("practice_summary", {**context, "postal": None})
    assert "postal" not in no_codes
