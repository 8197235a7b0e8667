"""The study pipeline, facts and prose on scikit-learn's digits (fast)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from lussi.cache import Cache
from lussi.experiments import denoise, drawn, latency, learning, robustness
from lussi.experiments import real as real_experiment
from lussi.report import views
from lussi.report.facts import summary_facts
from lussi.report.text import pct, render_text
from lussi.study import run_study, study_models


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    cache = Cache(tmp_path_factory.mktemp("cache"))
    with pytest.MonkeyPatch.context() as patch:
        # Whether the real handwriting set is built here or not, this study runs without it (see test_realset).
        patch.setenv("LUSSI_HANDWRITING_SET", str(tmp_path_factory.mktemp("no-real-set")))
        return run_study("quick", dataset="digits", cache=cache, progress=False, extras=True)


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
    assert set(again.results) == {"latency", "seedsplit"}  # extras are opt-in
    assert all(p.cached for p in again.predictions.values())
    for name in study.names:
        np.testing.assert_array_equal(again.predicted(name), study.predicted(name))


def test_headline_is_chosen_by_validation_accuracy(study):
    knn, net = study.headline
    assert study.models[knn].family == "knn" and study.models[net].family == "network"
    knn_val = {n: t.validation_accuracy for n, t in study.models.items()
               if t.family == "knn" and t.validation_accuracy is not None}
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


def test_size_table_and_facts_quote_the_same_costs(study):
    sizes = study.model_sizes().set_index("model")
    facts = summary_facts(study)
    for name, trained in study.models.items():
        costs = study.costs(name)
        assert costs["disk_bytes"] == trained.size_bytes > 0 and costs["memory_bytes"] == trained.model.nbytes > 0
        assert costs["test_predict_seconds"] == study.predictions[name].seconds
        assert sizes.loc[study.label(name), list(costs)].to_dict() == costs
        for key in ("knn", "net"):
            if facts[key]["name"] == name:
                assert {k: facts[key][k] for k in costs} == costs


def test_summary_text_quotes_the_facts(study):
    facts = summary_facts(study)
    text = render_text("summary", facts)
    assert pct(facts["knn"]["accuracy"]) in text and pct(facts["net"]["accuracy"]) in text
    assert facts["recommendation"]["pick_label"] in text
    assert not re.search(r"\{\{|\}\}|\{%", text)
    for name in ("data", "method", "speed", "summary_slides", "handwriting", "errors", "robustness", "learning"):
        assert render_text(name, facts).strip()


def test_views_produce_html_and_figures(study):
    from matplotlib.figure import Figure

    knn, net = study.headline
    for html in (
        views.digit_matrix(study), views.sample_grid(study), views.k_sweep_table(study), views.accuracy_table(study),
        views.mcnemar_table(study), views.per_class_table(study), views.confused_pairs(study),
        views.misclassified_gallery(study, knn), views.disagreement_gallery(study), latency.table(study),
        views.size_table(study), views.reproducibility_table(study), views.architecture_table(study, "mlp"),
    ):
        assert isinstance(html, str) and "<" in html and "http" not in html
    for figure in (
        views.accuracy_figure(study), views.class_balance(study), views.k_sweep_figure(study),
        views.training_curves(study), views.per_class_figure(study), latency.figure(study),
        views.confusion_figure(study, knn, "counts"), views.confusion_figure(study, net, "errors"),
    ):
        assert isinstance(figure, Figure)


def test_ladder_table_lists_each_family_in_order_with_its_recipe(study):
    table = views.ladder_table(study)
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S) for row in rows]
    assert [c[2] for c in cells] == [study.label(n) for n in study.names]  # KNN rungs first, then networks
    assert [c[1] for c in cells] == [study.specs[n].stage for n in study.names]
    tuned = study.models["knn_tuned"].config
    # The recipe shows the k that validation chose, not the preset's.
    assert f"k={tuned.n_neighbors}," in cells[study.names.index("knn_tuned")][3]
    assert "gradient-direction maps" in cells[study.names.index("knn_tuned")][3]
    assert pct(study.accuracy("cnn").accuracy) in cells[study.names.index("cnn")][5]


# --------------------------------------------------------------------------- beyond the seed study


def test_extras_are_cached(study):
    cache = Cache(next(iter(study.models.values())).entry.path.parent)
    again = run_study("quick", dataset="digits", cache=cache, progress=False, extras=True, timing=False)
    pd.testing.assert_frame_equal(again.result("robustness").table, study.result("robustness").table)
    pd.testing.assert_frame_equal(again.result("learning").table.drop(columns=["train_seconds", "predict_seconds"]),
                                  study.result("learning").table.drop(columns=["train_seconds", "predict_seconds"]))
    np.testing.assert_array_equal(again.result("denoise").denoised, study.result("denoise").denoised)
    pd.testing.assert_frame_equal(again.result("drawn").table, study.result("drawn").table)
    from lussi.experiments import ALL

    assert set(study.experiments) == {module.EXPERIMENT.name for module in ALL}
    skipped = {name: info.get("reason") for name, info in study.experiments.items() if not info["computed"]}
    # scikit-learn's 8x8 digits: no pad (it reads 28x28), postal codes need 0-9 digits and get them; no real set here
    assert skipped == {"real": "no set", "pad": "the pad reads 28x28 digits"}
    assert study.experiments["real"] == {"computed": False, "seconds": 0.0, "reason": "no set"}
    assert study.result("real") is None and real_experiment.pictures(study) == ""


def test_robustness_level_zero_is_the_clean_test_accuracy(study):
    table = study.result("robustness").table
    assert set(table["model"]) == set(study.headline)
    assert (table["n"] == len(study.y_test)).all()  # digits' test split is smaller than the profile's subset
    for (kind, model), part in table.groupby(["perturbation", "model"]):
        clean = part.loc[part["level"].idxmin(), "accuracy"]
        assert clean == pytest.approx(np.mean(study.predicted(model) == study.y_test)), kind
    noisy = table[(table["perturbation"] == "gaussian noise")].groupby("model")["accuracy"]
    assert (noisy.last() <= noisy.first()).all()  # sigma 128 hurts every model


def test_learning_curve_ends_at_the_study_models(study):
    table = study.result("learning").table
    n_train = len(study.dataset.train_labels)
    assert set(table["model"]) == {"knn", "mlp"}  # the quick profile trains no CNN curve
    for name, part in table.groupby("model"):
        assert list(part["n_train"]) == sorted(part["n_train"]) and part["n_train"].iloc[-1] == n_train
        assert part["accuracy"].iloc[-1] == pytest.approx(np.mean(study.predicted(name) == study.y_test))
        assert set(part["n_train"].iloc[:-1]) == {n for n in study.profile.curve_sizes if n < n_train}
        assert ((part["low"] <= part["accuracy"]) & (part["accuracy"] <= part["high"])).all()
    facts = summary_facts(study)["learning"]
    assert facts["largest"]["n_train"] == n_train and facts["sizes"] == sorted(facts["sizes"])


def test_denoiser_reduces_the_error(study):
    d = study.result("denoise")
    assert d.mse_denoised < d.mse_noisy and d.psnr_denoised > d.psnr_noisy
    assert d.n_test == min(study.profile.denoise_n_test, len(study.y_test))
    assert d.noisy.shape == d.denoised.shape == d.clean.shape == (10, *study.dataset.image_shape)


def test_real_pictures_are_read_by_every_model_and_cached(study, tmp_path, monkeypatch):
    import dataclasses

    from test_realset import write_set

    from lussi.study import compute_extras

    monkeypatch.setenv("LUSSI_HANDWRITING_SET", str(write_set(tmp_path / "set")))
    cache = Cache(next(iter(study.models.values())).entry.path.parent)
    real = compute_extras(dataclasses.replace(study, experiments={}), cache=cache)
    table = real.result("real").table
    assert real.experiments["real"]["computed"] and real.result("real").directory == tmp_path / "set"
    assert len(table) == 4 * len(study.models) and set(table["model"]) == set(study.models)
    assert (table[table["refused"]]["predicted"] == -1).all() and table["refused"].sum() == len(study.models)
    again = compute_extras(dataclasses.replace(study, experiments={}), cache=cache)
    pd.testing.assert_frame_equal(again.result("real").table, table)
    facts = summary_facts(real)
    assert facts["real"]["available"] and facts["real"]["n"] == 4 and facts["real"]["refused"] == 1
    text = " ".join(render_text("handwriting", facts).split())
    assert "4 pictures of single digits" in text and "1 of the pictures was refused" in text
    assert "lussi-real-digits" in real_experiment.pictures(real)
    assert "build_set.py" in render_text("handwriting", summary_facts(study))  # without a set: how to build it


def test_drawn_digits_are_predicted_by_every_model(study):
    table, drawn_digits = study.result("drawn").table, study.result("drawn").drawn
    assert len(table) == len(drawn_digits.labels) * len(study.models)
    assert list(dict.fromkeys(drawn_digits.styles)) == list(study.profile.drawn_styles)
    assert drawn_digits.images.shape[1:] == study.dataset.image_shape
    for name, trained in study.models.items():
        rows = table[table["model"] == name]
        np.testing.assert_array_equal(rows["predicted"].to_numpy(), trained.model.predict(drawn_digits.images))
        np.testing.assert_array_equal(rows["correct"].to_numpy(), rows["predicted"].to_numpy() == drawn_digits.labels)
    facts = summary_facts(study)["drawn"]
    assert facts["applicable"]
    assert facts["accuracy"][name] == pytest.approx(table[table["model"] == name]["correct"].mean())


def test_auc_facts_match_sklearn(study):
    from sklearn.metrics import average_precision_score, roc_auc_score

    facts = summary_facts(study)["errors"]
    for key, name in zip(("knn", "net"), study.headline):
        proba = study.predictions[name].probabilities
        aucs = [roc_auc_score(study.y_test == c, proba[:, c]) for c in range(study.dataset.n_classes)]
        aps = [average_precision_score(study.y_test == c, proba[:, c]) for c in range(study.dataset.n_classes)]
        assert 0 <= min(aucs) and max(aucs) <= 1
        assert facts[key]["mean_roc_auc"] == pytest.approx(np.mean(aucs))
        assert facts[key]["worst_roc_auc"] == pytest.approx(min(aucs))
        assert facts[key]["worst_roc_class"] == study.dataset.class_names[int(np.argmin(aucs))]
        assert facts[key]["mean_average_precision"] == pytest.approx(np.mean(aps))
        assert facts[key]["errors"] == int(np.sum(study.predicted(name) != study.y_test))
    text = render_text("errors", summary_facts(study))
    assert str(round(facts["knn"]["mean_roc_auc"], 4)) in text


def test_extra_views(study):
    from matplotlib.figure import Figure

    knn, net = study.headline
    for html in (
        drawn.gallery(study), drawn.table(study), views.error_explanations(study, n=2),
        views.auc_table(study), robustness.table(study), denoise.gallery(study), learning.table(study),
    ):
        assert isinstance(html, str) and "<" in html and "http" not in html
    explained = views.error_explanations(study, n=2)
    assert explained.count('class="lussi-explanation"') == min(2, int(np.sum(study.predicted(knn) != study.y_test)))
    assert "<h1" not in explained and "<h2" not in explained  # fragments add nothing to the table of contents
    assert study.label(net) in drawn.table(study)
    for figure in (views.one_vs_rest_figure(study, "roc"), views.one_vs_rest_figure(study, "pr"),
                   robustness.figure(study), learning.figure(study)):
        assert isinstance(figure, Figure)
    legend = [t.get_text() for t in views.one_vs_rest_figure(study, "roc").axes[0].get_legend().get_texts()]
    assert len(legend) == study.dataset.n_classes and legend[0].startswith(study.dataset.class_names[0] + ":")
