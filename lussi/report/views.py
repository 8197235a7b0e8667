"""What each report cell of the core comparison shows: a study's results as figures, tables and HTML.

Each function takes a :class:`~lussi.study.StudyResults` and returns a
matplotlib Figure, an HTML string or Markdown, by calling :mod:`lussi.analysis`
and :mod:`lussi.visualize` / :mod:`lussi.figures`; ``report.qmd`` cells are one call each.
The analyses beyond the core comparison have their views in their own modules
(:mod:`lussi.experiments`).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from .. import figures, visualize
from ..experiments.base import colors, note as _note
from ..formats import count, megabytes, pct, pvalue, seconds
from ..visualize import HtmlBlock
from ..visualize import html_block as _html_block
from .facts import summary_facts
from .text import render_text

__all__ = [
    "HtmlBlock",
    "accuracy_figure",
    "accuracy_table",
    "architecture_table",
    "auc_table",
    "class_balance",
    "colors",
    "confused_pairs",
    "confusion_figure",
    "digit_matrix",
    "disagreement_gallery",
    "error_explanations",
    "k_sweep_figure",
    "k_sweep_table",
    "mcnemar_table",
    "misclassified_gallery",
    "one_vs_rest_figure",
    "per_class_figure",
    "per_class_heading",
    "per_class_table",
    "reproducibility_table",
    "sample_grid",
    "size_table",
    "text",
    "training_curves",
]


def text(study, name: str, **context) -> str:
    """Markdown of template ``name`` fed by :func:`summary_facts`."""
    return render_text(name, _facts(study), **context)


def _facts(study) -> dict:
    # summary_facts runs McNemar and every model's analysis: once per study, not once per template.
    facts = getattr(study, "_report_facts", None)
    if facts is None:
        facts = study._report_facts = summary_facts(study)
    return facts


# --------------------------------------------------------------------------- data


@_html_block
def digit_matrix(study, index: int = 0) -> HtmlBlock:
    """The pixel matrix (values printed) of training image ``index``."""
    ds = study.dataset
    label = ds.class_names[int(ds.train_labels[index])]
    return visualize.digit_matrix_html(
        ds.train_images[index], label=label, caption=f"training image #{index} of {ds.name}"
    )


@_html_block
def sample_grid(study, per_class: int = 10) -> HtmlBlock:
    """A grid of training digits, one row per class."""
    ds = study.dataset
    return visualize.digit_grid_html(
        ds.train_images, ds.train_labels, per_class=per_class, class_names=ds.class_names,
        random_state=study.profile.seed,
    )


def class_balance(study):
    """Share of each class in the training and test splits."""
    ds = study.dataset
    return figures.plot_class_balance({"train": ds.train_labels, "test": ds.test_labels}, ds.class_names)


# --------------------------------------------------------------------------- method


def _sweeps(study) -> pd.DataFrame:
    frames = []
    for name, trained in study.models.items():
        if trained.sweep:
            frame = pd.DataFrame(trained.sweep)
            frame["model"] = study.label(name)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["k", "accuracy", "weights", "model"])


def _recipe(study, name: str) -> str:
    """The trained model's configuration (k as chosen on validation) in words."""
    return study.models[name].config.describe()


@_html_block
def ladder_table(study) -> HtmlBlock:
    """Each family's ladder, seed configuration -> corrected method -> tuned: recipe, accuracy, training time."""
    rows = []
    # Stable sort: families in the order the ladder meets them (KNN rungs first), each in the study's ladder order.
    families = list(dict.fromkeys(trained.family for trained in study.models.values()))
    for name, trained in sorted(study.models.items(), key=lambda item: families.index(item[1].family)):
        rows.append({
            "family": trained.model.family_label,
            "stage": study.specs[name].stage,
            "model": study.label(name),
            "recipe": _recipe(study, name),
            "validation": trained.validation_accuracy,
            "test": study.accuracy(name).accuracy,
            "training": seconds(trained.training_seconds),
        })
    return visualize.styled_table(pd.DataFrame(rows), percent_columns=["validation", "test"], precision=4)


def k_sweep_figure(study, name: str | None = None):
    """Validation accuracy against k (both vote weightings) for one KNN model (default: raw-pixel KNN)."""
    name = name or ("knn" if "knn" in study.models else study.best("knn"))
    sweep = pd.DataFrame(study.models[name].sweep)
    fig = figures.plot_k_sweep(sweep)
    fig.axes[0].set_title(f"{study.label(name)}: validation accuracy by k")
    return fig


@_html_block
def k_sweep_table(study) -> HtmlBlock:
    """Best validation setting of each swept KNN model."""
    rows = []
    for name, trained in study.models.items():
        if trained.sweep:
            rows.append(
                {
                    "model": study.label(name),
                    "chosen k": trained.config.n_neighbors,
                    "votes": trained.config.weights,
                    "validation accuracy": trained.validation_accuracy,
                    "settings tried": len(trained.sweep),
                    "tuning time": seconds(trained.tuning_seconds),
                }
            )
    return visualize.styled_table(pd.DataFrame(rows), percent_columns=["validation accuracy"], precision=4)


@_html_block
def architecture_table(study, name: str) -> HtmlBlock:
    """Layers of a network: output shape and parameter count."""
    model = study.models[name].model
    rows = [{"layer": layer, "output shape": str(shape), "parameters": params} for layer, shape, params in model.summary_table()]
    rows.append({"layer": "total", "output shape": "", "parameters": int(model.n_params)})
    return visualize.styled_table(pd.DataFrame(rows))


def training_curves(study):
    """Loss and accuracy per epoch of every network (training solid, validation dashed)."""
    histories = {
        study.label(n): t.history for n, t in study.models.items() if t.history
    }
    return figures.plot_training_history(histories, colors=colors(study))


# --------------------------------------------------------------------------- results


@_html_block
def accuracy_table(study) -> HtmlBlock:
    """Every model's test accuracy with its 95% interval, validation accuracy and errors."""
    table = study.accuracy_table()
    table.insert(1, "stage", [study.specs[n].stage for n in study.models])
    table["validation"] = [study.models[n].validation_accuracy for n in study.models]
    table = table.rename(columns={"low": "95% low", "high": "95% high"}).drop(columns=["n"])
    return visualize.styled_table(
        table, percent_columns=["accuracy", "95% low", "95% high", "validation"], precision=4,
        highlight_max=["accuracy"],
    )


def accuracy_figure(study):
    """Test accuracy of each model with its 95% interval."""
    return figures.plot_accuracy_intervals(study.accuracy_table(), colors=colors(study))


@_html_block
def mcnemar_table(study) -> HtmlBlock:
    """McNemar's test for every pair of models."""
    rows = []
    for a, b in itertools.combinations(study.models, 2):
        result = study.mcnemar(a, b)
        rows.append(
            {
                "model A": study.label(a),
                "model B": study.label(b),
                "only A right": result.only_a_correct,
                "only B right": result.only_b_correct,
                "p-value": pvalue(result.p_value),
                "test": result.method,
            }
        )
    return visualize.styled_table(pd.DataFrame(rows))



def per_class_heading(study, *, level: int = 2, detail: str = "") -> str:
    """The per-class section's Markdown heading, named by the data: "Per digit" for digits, "Per class" otherwise."""
    from ..data import digit_classes

    unit = "digit" if digit_classes(study.dataset) else "class"
    return f"{'#' * level} Per {unit}{detail}"


@_html_block
def per_class_table(study) -> HtmlBlock:
    """Per-digit precision, recall and F1 of the headline models side by side."""
    report = study.per_class()
    wide = report.pivot(index="digit", columns="model", values=["precision", "recall", "f1"])
    wide.columns = [f"{metric} · {model}" for metric, model in wide.columns]
    wide = wide.reset_index()
    order = {name: i for i, name in enumerate(study.dataset.class_names)}
    wide = wide.sort_values("digit", key=lambda s: s.map(order))
    return visualize.styled_table(wide, precision=4, highlight_max=[])


def per_class_figure(study, metric: str = "f1"):
    """Grouped bars of ``metric`` per digit for the headline models."""
    return figures.plot_per_class(study.per_class(), metric=metric, colors=colors(study))


def confusion_figure(study, name: str, kind: str = "counts"):
    """Confusion matrix of model ``name``: ``"counts"``, ``"normalized"`` (by true class) or ``"errors"``."""
    confusion = study.confusion(name)
    options = {"counts": {}, "normalized": {"normalize": "true"}, "errors": {"errors_only": True}}[kind]
    return figures.plot_confusion(confusion, title=f"{study.label(name)} ({kind})", **options)


@_html_block
def confused_pairs(study, top: int = 8) -> HtmlBlock:
    """The most frequent (true, predicted) mistakes of the headline models."""
    frames = []
    for name in study.headline:
        pairs = study.confusion(name).most_confused(top=top)
        pairs.insert(0, "model", study.label(name))
        frames.append(pairs)
    table = pd.concat(frames, ignore_index=True)
    return visualize.styled_table(table, percent_columns=["share_of_true_class"], precision=4)


@_html_block
def misclassified_gallery(study, name: str, max_items: int = 40) -> HtmlBlock:
    """Test digits model ``name`` gets wrong, captioned true → predicted."""
    from ..analysis import misclassified

    ds = study.dataset
    predicted = study.predicted(name)
    idx = misclassified(ds.test_labels, predicted)[:max_items]
    if len(idx) == 0:
        return _note(f"{study.label(name)} gets every test image right.")
    captions = [f"{ds.class_names[ds.test_labels[i]]}→{ds.class_names[predicted[i]]}" for i in idx]
    return visualize.gallery_html(ds.test_images[idx], captions, max_items=max_items)


@_html_block
def disagreement_gallery(study, max_items: int = 40) -> HtmlBlock:
    """Test digits on which the headline models disagree, captioned true | KNN | network."""
    knn, net = study.headline
    ds = study.dataset
    a, b = study.predicted(knn), study.predicted(net)
    idx = np.flatnonzero(a != b)[:max_items]
    if len(idx) == 0:
        return _note("The two models give the same answer on every test image.")
    names = ds.class_names
    captions = [f"{names[ds.test_labels[i]]} | K{names[a[i]]} | N{names[b[i]]}" for i in idx]
    return visualize.gallery_html(ds.test_images[idx], captions, max_items=max_items)


# --------------------------------------------------------------------------- beyond the seed study


@_html_block
def error_explanations(study, n: int = 3) -> HtmlBlock:
    """The best KNN's first ``n`` test mistakes: nearest training digits and both headline models' top classes."""
    from .extras import error_explanations_html

    return error_explanations_html(study, n=n)


def _headline_probabilities(study) -> dict:
    return {study.label(name): study.predictions[name].probabilities for name in study.headline}


def one_vs_rest_figure(study, kind: str = "roc"):
    """Per-class one-vs-rest ROC (``"roc"``) or precision–recall (``"pr"``) curves of the headline models."""
    from .extras import plot_one_vs_rest

    return plot_one_vs_rest(study.y_test, _headline_probabilities(study), class_names=study.dataset.class_names,
                            kind=kind)


@_html_block
def auc_table(study) -> HtmlBlock:
    """ROC AUC and average precision per class of the headline models, side by side."""
    from .extras import auc_table as compute

    table = compute(study.y_test, _headline_probabilities(study), class_names=study.dataset.class_names)
    wide = table.pivot(index="digit", columns="model", values=["roc_auc", "average_precision"])
    names = {"roc_auc": "ROC AUC", "average_precision": "avg precision"}
    wide.columns = [f"{names[metric]} · {model}" for metric, model in wide.columns]
    order = {name: i for i, name in enumerate(study.dataset.class_names)}
    wide = wide.reset_index().sort_values("digit", key=lambda col: col.map(order)).rename(columns={"digit": "class"})
    return visualize.styled_table(wide, precision=4, highlight_max=[])


# --------------------------------------------------------------------------- speed


@_html_block
def size_table(study) -> HtmlBlock:
    """Memory, disk size, training and test-prediction time of each model."""
    table = study.model_sizes()
    table["memory"] = [megabytes(v) for v in table.pop("memory_bytes")]
    table["on disk"] = [megabytes(v) for v in table.pop("disk_bytes")]
    table["training"] = [seconds(v) for v in table.pop("training_seconds")]
    table["tuning"] = [seconds(v) if v else "—" for v in table.pop("tuning_seconds")]
    table["predict test set"] = [seconds(v) for v in table.pop("test_predict_seconds")]
    return visualize.styled_table(table)


# --------------------------------------------------------------------------- reproducibility


@_html_block
def reproducibility_table(study) -> HtmlBlock:
    """Versions, seeds, hardware and cache keys."""
    hw = study.hardware
    rows = [
        ("profile", study.profile.name),
        ("dataset", f"{study.dataset.name} (fingerprint {study.dataset.fingerprint})"),
        ("validation split", f"{pct(study.profile.validation_fraction, 0)} of training, seed {study.profile.seed}"),
        ("CPU", f"{hw.get('cpu_model')} — {hw.get('available_cores')} core(s) available"),
        ("memory", megabytes(hw.get("memory_total_bytes") or 0)),
        ("platform", hw.get("platform")),
        ("python", hw.get("python")),
    ]
    rows += [(package, version) for package, version in (hw.get("versions") or {}).items() if version]
    rows += [(f"cache key · {study.label(n)}", t.entry.key) for n, t in study.models.items()]
    rows.append(("test images", count(len(study.y_test))))
    return visualize.styled_table(pd.DataFrame(rows, columns=["item", "value"]))
