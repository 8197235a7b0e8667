"""The study pipeline, facts and prose on scikit-learn's digits (fast)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lussi.cache import Cache
from lussi.report import views
from lussi.report.facts import summary_facts
from lussi.report.text import pct, render_text
from lussi.study import run_study, study_models


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    cache = Cache(tmp_path_factory.mktemp("cache"))
    return run_study("quick", dataset="digits", cache=cache, progress=False)


def test_every_model_trained_and_predicted_once(study):
    assert study.names == [spec.name for spec in study_models()]
    for name, trained in study.models.items():
        predictions = study.predictions[name]
        assert predictions.labels.shape == study.y_test.shape
        np.testing.assert_allclose(predictions.probabilities.sum(axis=1), 1.0, atol=1e-4)
        np.testing.assert_array_equal(predictions.labels, predictions.probabilities.argmax(axis=1))
        assert trained.size_bytes > 0 and trained.model.nbytes > 0
    again = run_study("quick", dataset="digits", cache=Cache(next(iter(study.models.values())).entry.path.parent),
                      progress=False)
    assert all(t.entry.hit for t in again.models.values())
    assert all(p.cached for p in again.predictions.values())
    for name in study.names:
        np.testing.assert_array_equal(again.predicted(name), study.predicted(name))


def test_headline_is_chosen_by_validation_accuracy(study):
    knn, net = study.headline
    assert study.models[knn].family == "knn" and study.models[net].family == "network"
    knn_val = {n: t.record["validation_accuracy"] for n, t in study.models.items()
               if t.family == "knn" and t.record.get("validation_accuracy") is not None}
    assert knn == max(knn_val, key=knn_val.get)


def test_facts_agree_with_predictions(study):
    facts = summary_facts(study)
    knn, net = study.headline
    assert facts["knn"]["accuracy"] == pytest.approx(np.mean(study.predicted(knn) == study.y_test))
    assert facts["net"]["errors"] == int(np.sum(study.predicted(net) != study.y_test))
    better = knn if facts["knn"]["accuracy"] > facts["net"]["accuracy"] else net
    assert facts["accuracy"]["winner"] == better
    assert facts["recommendation"]["pick"] in (knn, net)
    assert [row["batch_size"] for row in facts["speed"]] == list(study.profile.latency_batch_sizes)
    for row in facts["speed"]:
        faster = knn if row["a_ms"] <= row["b_ms"] else net
        assert row["winner"] == faster


def test_summary_text_quotes_the_facts(study):
    facts = summary_facts(study)
    text = render_text("summary", facts)
    assert pct(facts["knn"]["accuracy"]) in text and pct(facts["net"]["accuracy"]) in text
    assert facts["recommendation"]["pick_label"] in text
    assert not re.search(r"\{\{|\}\}|\{%", text)
    for name in ("data", "method", "speed", "summary_slides"):
        assert render_text(name, facts).strip()


def test_views_produce_html_and_figures(study):
    from matplotlib.figure import Figure

    knn, net = study.headline
    for html in (
        views.digit_matrix(study), views.sample_grid(study), views.k_sweep_table(study), views.accuracy_table(study),
        views.mcnemar_table(study), views.per_class_table(study), views.confused_pairs(study),
        views.misclassified_gallery(study, knn), views.disagreement_gallery(study), views.latency_table(study),
        views.size_table(study), views.reproducibility_table(study), views.architecture_table(study, "mlp"),
    ):
        assert isinstance(html, str) and "<" in html and "http" not in html
    for figure in (
        views.accuracy_figure(study), views.class_balance(study), views.k_sweep_figure(study),
        views.training_curves(study), views.per_class_figure(study), views.latency_figure(study),
        views.confusion_figure(study, knn, "counts"), views.confusion_figure(study, net, "errors"),
    ):
        assert isinstance(figure, Figure)
