"""lussi.figures: every figure of the study's results, drawn from plain results without pyplot."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

from lussi.analysis import compare_models, per_class_report
from lussi.confusion import Confusion
from lussi.figures import (
    plot_accuracy_intervals,
    plot_class_balance,
    plot_confusion,
    plot_k_sweep,
    plot_per_class,
    plot_training_history,
)
from lussi.plotting import model_colors




def test_plot_confusion(sk_digits, sk_predictions):
    _, labels = sk_digits
    confusion = Confusion.from_predictions(labels, sk_predictions["knn"])
    fig = plot_confusion(confusion)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2  # matrix + colour bar
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 100 and str(confusion.counts[0, 0]) in texts

    errors = plot_confusion(confusion, normalize="true", errors_only=True)
    texts = [t.get_text() for t in errors.axes[0].texts]
    assert texts.count("–") == 10
    assert all(t == "" or t == "–" or t.endswith("%") for t in texts)
    with pytest.raises(ValueError, match='normalize must be None or "true"'):
        plot_confusion(confusion, normalize="all")
    with pytest.raises(TypeError, match="Confusion.from_predictions"):
        plot_confusion(confusion.counts)


def test_plot_confusion_on_given_axes(sk_digits, sk_predictions):
    _, labels = sk_digits
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_confusion(Confusion.from_predictions(labels, sk_predictions["cnn"]), ax=ax) is fig


def test_plot_per_class(sk_digits, sk_predictions):
    _, labels = sk_digits
    table = per_class_report(labels, sk_predictions)
    colors = model_colors(["cnn", "knn"])
    fig = plot_per_class(table, metric="recall", colors=colors)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2 and all(len(c) == 10 for c in bars)
    assert [c.get_label() for c in bars] == ["knn", "cnn"]
    assert bars[1][0].get_facecolor()[:3] == pytest.approx(
        tuple(int(colors["cnn"][i : i + 2], 16) / 255 for i in (1, 3, 5))
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(i) for i in range(10)]
    with pytest.raises(ValueError, match=r"lacks columns \['accuracy'\]"):
        plot_per_class(table, metric="accuracy")


def test_plot_k_sweep():
    df = pd.DataFrame(
        {
            "k": [1, 3, 5] * 2,
            "accuracy": [0.9, 0.92, 0.91, 0.9, 0.93, 0.92],
            "weights": ["uniform"] * 3 + ["distance"] * 3,
        }
    )
    fig = plot_k_sweep(df)
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 2
    single = plot_k_sweep(df[df["weights"] == "uniform"].drop(columns="weights").assign(low=0.89, high=0.94))
    assert len(single.axes[0].lines) == 1 and len(single.axes[0].collections) == 1
    with pytest.raises(ValueError, match=r"lacks columns \['accuracy'\]"):
        plot_k_sweep(df.drop(columns="accuracy"))


def test_plot_training_history():
    histories = {
        "mlp": {
            "loss": [1.0, 0.5, 0.3],
            "accuracy": [0.6, 0.8, 0.9],
            "val_loss": [1.1, 0.6, 0.4],
            "val_accuracy": [0.6, 0.75, 0.85],
        },
        "cnn": {"loss": [0.8, 0.3], "sparse_categorical_accuracy": [0.7, 0.9]},
    }
    fig = plot_training_history(histories)
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 3 and len(acc_ax.lines) == 3
    assert {line.get_label() for line in acc_ax.lines} == {"mlp train", "mlp validation", "cnn train"}
    with pytest.raises(ValueError, match="'loss' list"):
        plot_training_history({"m": {"accuracy": [0.5]}})


def test_plot_accuracy_intervals(sk_predictions, sk_digits):
    _, labels = sk_digits
    table = compare_models(labels, sk_predictions)
    fig = plot_accuracy_intervals(table)
    ax = fig.axes[0]
    assert sum(isinstance(c, ErrorbarContainer) for c in ax.containers) == 2
    positions = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    assert positions["knn"] > positions["cnn"]  # first model on top
    assert "95% Wilson interval" in ax.get_xlabel()


def test_plot_class_balance(sk_digits):
    _, labels = sk_digits
    single = plot_class_balance(labels, [str(i) for i in range(10)])
    ax = single.axes[0]
    (bars,) = ax.containers
    assert [b.get_height() for b in bars] == list(np.bincount(labels, minlength=10))
    assert len(ax.lines) == 1  # uniform reference
    split = plot_class_balance({"train": labels[:1000], "test": labels[1000:]})
    heights = [b.get_height() for b in split.axes[0].containers[1]]
    assert sum(heights) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="must be a non-empty 1-D integer array"):
        plot_class_balance(labels.astype(float))
