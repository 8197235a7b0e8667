"""Why the models err (one-vs-rest curves) and the whole report on a non-MNIST, non-digit idx dataset."""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import make_idx_dataset

from lussi.report.extras import auc_table, one_vs_rest_curves, plot_one_vs_rest

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("circle", "square", "triangle")


def _scores(n=200, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), y] += 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


def test_one_vs_rest_curves_match_sklearn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, proba = _scores()
    curves = one_vs_rest_curves(y, proba, class_names=CLASSES)
    assert list(curves) == list(CLASSES)
    for c, name in enumerate(CLASSES):
        assert curves[name]["roc_auc"] == pytest.approx(roc_auc_score(y == c, proba[:, c]))
        assert curves[name]["average_precision"] == pytest.approx(average_precision_score(y == c, proba[:, c]))
        assert curves[name]["fpr"][0] == 0 and curves[name]["tpr"][-1] == 1
    perfect = one_vs_rest_curves(y, np.eye(3)[y])
    assert all(curve["roc_auc"] == 1.0 for curve in perfect.values())


def test_auc_table_and_absent_classes():
    y, proba = _scores()
    table = auc_table(y, {"A": proba, "B": proba[:, ::-1]}, class_names=CLASSES)
    assert list(table.columns) == ["model", "digit", "roc_auc", "average_precision"]
    assert len(table) == 6 and table["roc_auc"].between(0, 1).all()
    a, b = (table[table["model"] == m].set_index("digit")["roc_auc"] for m in "AB")
    assert (a > 0.7).all() and b["circle"] < 0.5  # reversed scores rank circles last
    only_two = auc_table(y[y < 2], {"A": proba[y < 2]}, class_names=CLASSES)
    assert list(only_two["digit"]) == ["circle", "square"]  # a class absent from y_true has no curve


def test_inputs_are_checked():
    y, proba = _scores()
    with pytest.raises(ValueError, match=r"probabilities must have shape \(n, n_classes\) with n = 200"):
        one_vs_rest_curves(y, proba[:10])
    with pytest.raises(ValueError, match="kind must be 'roc' or 'pr'"):
        plot_one_vs_rest(y, {"A": proba}, kind="det")


def test_plot_has_one_curve_per_class():
    y, proba = _scores()
    for kind in ("roc", "pr"):
        fig = plot_one_vs_rest(y, {"A": proba, "B": proba}, class_names=CLASSES, kind=kind)
        assert len(fig.axes) == 2
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert [text.split(":")[0] for text in legend] == list(CLASSES)


# --------------------------------------------------------------------------- the report on another dataset


def _text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


@pytest.mark.slow
def test_report_renders_on_a_three_class_idx_dataset(tmp_path):
    from lussi.render import external_resources, render_report

    data = tmp_path / "shapes"
    # classes.txt is listed in SHA256SUMS: beside a checksum list, every file read must be.
    make_idx_dataset(data, n_train=90, n_test=30, n_classes=len(CLASSES), class_names=list(CLASSES))
    workdir = tmp_path / "report"
    workdir.mkdir()
    for name in ("report.qmd", "_quarto.yml"):
        shutil.copy(ROOT / name, workdir / name)
    old = os.environ.get("LUSSI_CACHE_DIR")
    os.environ["LUSSI_CACHE_DIR"] = str(tmp_path / "cache")  # the kernel inherits it
    try:
        result = render_report(
            workdir / "report.qmd", engine="builtin", params={"profile": "quick", "dataset": str(data)},
            progress=False,
        )
    finally:
        if old is None:
            os.environ.pop("LUSSI_CACHE_DIR")
        else:
            os.environ["LUSSI_CACHE_DIR"] = old
    article = result.outputs["html"].read_text()
    text = _text(article)
    assert external_resources(article) == []
    assert "Traceback" not in article
    for name in CLASSES:
        assert name in text
    assert "Yann LeCun" not in text and "MNIST (\"Modified NIST\")" not in text  # history only for MNIST
    assert "shapes" in text and "28×28 pixels" in text
    for section in ("Why the models err", "Your own handwriting", "Robustness", "Learning curves"):
        assert f">{section}<" in article or f">{section} <" in article, section
    assert "cannot be scored against them" in text  # handwriting says why it does not apply
    slides = result.outputs["revealjs"].read_text()
    assert "Traceback" not in slides and "Learning curves" in slides
