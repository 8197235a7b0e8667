"""Why the models err: one-vs-rest precision–recall and ROC curves, and explained mistakes.

Computed from a study's cached test probabilities (no model is re-run, except
the KNN's neighbour search for the few mistakes it explains); drawn with
matplotlib without pyplot, like :mod:`lussi.visualize`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["auc_table", "error_explanations_html", "one_vs_rest_curves", "plot_one_vs_rest"]


def _check(y_true, probabilities) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or len(probabilities) != len(y_true):
        raise ValueError(
            f"probabilities must have shape (n, n_classes) with n = {len(y_true)} labels, got {probabilities.shape}"
        )
    return y_true, probabilities


def one_vs_rest_curves(y_true, probabilities, *, class_names: Sequence[str] | None = None) -> dict:
    """ROC and precision–recall curve of each class against the rest.

    Parameters
    ----------
    y_true : ndarray of shape (n,), int
    probabilities : ndarray of shape (n, n_classes)
        Scores of each class (softmax, or a KNN's vote shares).
    class_names : sequence of str, optional

    Returns
    -------
    dict of str to dict
        Per class name: ``fpr``, ``tpr``, ``roc_auc``, ``precision``,
        ``recall``, ``average_precision``. Classes absent from ``y_true`` are
        left out (their curves are undefined).
    """
    from sklearn.metrics import (
        auc,
        average_precision_score,
        precision_recall_curve,
        roc_curve,
    )

    y_true, probabilities = _check(y_true, probabilities)
    names = list(class_names) if class_names is not None else [str(c) for c in range(probabilities.shape[1])]
    curves = {}
    for c, name in enumerate(names):
        positive = y_true == c
        if not positive.any() or positive.all():
            continue
        fpr, tpr, _ = roc_curve(positive, probabilities[:, c])
        precision, recall, _ = precision_recall_curve(positive, probabilities[:, c])
        curves[str(name)] = {
            "fpr": fpr, "tpr": tpr, "roc_auc": float(auc(fpr, tpr)),
            "precision": precision, "recall": recall,
            "average_precision": float(average_precision_score(positive, probabilities[:, c])),
        }
    return curves


def auc_table(y_true, probabilities: dict, *, class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """ROC AUC and average precision per class and model.

    Parameters
    ----------
    y_true : ndarray of shape (n,), int
    probabilities : dict of str to ndarray of shape (n, n_classes)
        Model label to test-set probabilities.
    class_names : sequence of str, optional

    Returns
    -------
    DataFrame
        Columns ``model``, ``digit`` (class name), ``roc_auc``, ``average_precision``.
    """
    rows = []
    for model, proba in probabilities.items():
        for name, curve in one_vs_rest_curves(y_true, proba, class_names=class_names).items():
            rows.append({"model": model, "digit": name, "roc_auc": curve["roc_auc"],
                         "average_precision": curve["average_precision"]})
    return pd.DataFrame(rows, columns=["model", "digit", "roc_auc", "average_precision"])


def plot_one_vs_rest(y_true, probabilities: dict, *, class_names: Sequence[str] | None = None, kind: str = "roc"):
    """One panel per model, one curve per class: ROC (``kind="roc"``) or precision–recall (``"pr"``).

    Parameters
    ----------
    y_true : ndarray of shape (n,), int
    probabilities : dict of str to ndarray of shape (n, n_classes)
    class_names : sequence of str, optional
    kind : {"roc", "pr"}

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if kind not in ("roc", "pr"):
        raise ValueError(f"kind must be 'roc' or 'pr', got {kind!r}")
    fig = Figure(figsize=(4.2 * max(1, len(probabilities)), 4.4), layout="constrained")
    axes = fig.subplots(1, max(1, len(probabilities)), squeeze=False)[0]
    for ax, (model, proba) in zip(axes, probabilities.items()):
        curves = one_vs_rest_curves(y_true, proba, class_names=class_names)
        for i, (name, curve) in enumerate(curves.items()):
            colour = f"C{i % 10}"
            if kind == "roc":
                ax.plot(curve["fpr"], curve["tpr"], color=colour, lw=1.2, label=f"{name}: {curve['roc_auc']:.4f}")
            else:
                ax.step(curve["recall"], curve["precision"], where="post", color=colour, lw=1.2,
                        label=f"{name}: {curve['average_precision']:.4f}")
        if kind == "roc":
            ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls=":")
            ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"{model}\nROC (AUC per class)")
            # Good models hug the top-left corner; a log x-axis shows where they differ.
            ax.set_xscale("symlog", linthresh=1e-3)
            ax.set_xlim(0, 1)
        else:
            ax.set(xlabel="recall", ylabel="precision", title=f"{model}\nprecision–recall (average precision)")
            ax.set_xlim(0, 1.01)
        ax.legend(fontsize=7, ncols=2, loc="lower right" if kind == "roc" else "lower left")
        ax.grid(alpha=0.3)
    return fig


def error_explanations_html(study, *, n: int = 3, knn: str | None = None, net: str | None = None) -> str:
    """Test digits the KNN gets wrong, each with its nearest training digits and both models' top classes.

    Parameters
    ----------
    study : StudyResults
    n : int, default 3
        Mistakes to explain (the first ones in test order where both models are shown).
    knn, net : str, optional
        Model names; default the study's headline pair.

    Returns
    -------
    str
        HTML fragments of :func:`lussi.handwriting.explain.explain_html` (no headings).
    """
    import html

    from ..analysis import misclassified
    from ..handwriting.explain import explain_html
    from ..handwriting.predictions import Prediction

    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    head_knn, head_net = study.headline
    knn, net = knn or head_knn, net or head_net
    ds = study.dataset
    wrong = misclassified(ds.test_labels, study.predicted(knn))[:n]
    if len(wrong) == 0:
        return f"<p>{html.escape(study.label(knn))} makes no mistake on the test set.</p>"
    parts = []
    for i in wrong:
        row = {}
        for name in (knn, net):
            proba = study.predictions[name].probabilities[i]
            order = [int(c) for c in np.argsort(-proba, kind="stable")[:3] if proba[c] > 0] or [int(proba.argmax())]
            row[name] = Prediction(int(study.predicted(name)[i]), tuple((c, float(proba[c])) for c in order))
        true = ds.class_names[int(ds.test_labels[i])]
        parts.append(explain_html(
            ds.test_images[i], study.models[knn].model, train_images=ds.train_images, train_labels=ds.train_labels,
            class_names=ds.class_names, predictions=row, model_labels=study.labels, knn_label=study.label(knn),
            title=f"Test image #{int(i)}, true class {true}", full_page=False,
        ))
    return "".join(parts)
