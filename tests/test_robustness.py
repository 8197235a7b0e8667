"""lussi.experiments.robustness: the robustness table, its facts, record and plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lussi.data import load_digits_dataset
from lussi.experiments.robustness import RobustnessResult, plot_robustness, robustness_facts, robustness_table
from lussi.perturbations import default_perturbations


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


def _nearest_neighbour_predict(dataset):
    from sklearn.neighbors import KNeighborsClassifier

    train = dataset.train_images.reshape(len(dataset.train_images), -1)
    model = KNeighborsClassifier(n_neighbors=3).fit(train, dataset.train_labels)
    return lambda images: model.predict(images.reshape(len(images), -1))


def test_robustness_table_columns_and_clean_level(digits):
    predict = _nearest_neighbour_predict(digits)
    calls = []

    def counting(images):
        calls.append(len(images))
        return predict(images)

    table = robustness_table(
        {"knn": counting, "constant": lambda x: np.zeros(len(x), dtype=np.int64)},
        digits.test_images, digits.test_labels,
    )
    assert list(table.columns) == ["perturbation", "level", "label", "model", "accuracy", "low", "high", "n"]
    clean = float(np.mean(predict(digits.test_images) == digits.test_labels))
    zero = table[(table["level"] == 0) & (table["model"] == "knn")]
    assert len(zero) == 4 and np.allclose(zero["accuracy"], clean)
    assert (table["low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["high"]).all()
    assert (table["n"] == len(digits.test_labels)).all()
    # The four clean sets are predicted once: 15 perturbations (8x8: shifts 0, 1) minus 3 duplicates.
    n_sets = len(default_perturbations(digits.image_shape)) - 3
    assert len(calls) == n_sets
    # Strong noise and rotation hurt a pixel-space KNN.
    worst = table[(table["model"] == "knn") & (table["perturbation"] == "gaussian noise")]
    assert worst["accuracy"].iloc[-1] < clean - 0.05


def test_robustness_facts(digits):
    predict = _nearest_neighbour_predict(digits)
    table = robustness_table(
        {"knn": predict, "constant": lambda x: np.zeros(len(x), dtype=np.int64)},
        digits.test_images, digits.test_labels,
    )
    facts = robustness_facts(table, "knn", "constant")
    assert [k["name"] for k in facts["kinds"]] == ["gaussian noise", "shift", "rotation", "seed noise"]
    noise = facts["kinds"][0]
    assert noise["label"] == "σ=128" and len(noise["levels"]) == 5
    assert noise["a_drop"] == pytest.approx(noise["a_clean"] - noise["a_worst"]) and noise["a_drop"] > 0.05
    assert noise["b_drop"] == 0  # a constant guess does not care about noise
    assert noise["more_robust"] == "constant"
    assert facts["n"] == len(digits.test_labels)
    with pytest.raises(ValueError, match="model 'cnn' is not in the table"):
        robustness_facts(table, "knn", "cnn")


def test_robustness_table_is_reproducible(digits):
    predict = _nearest_neighbour_predict(digits)
    args = ({"knn": predict}, digits.test_images[:100], digits.test_labels[:100])
    a = robustness_table(*args, random_state=5)
    b = robustness_table(*args, random_state=5)
    pd.testing.assert_frame_equal(a, b)


def test_robustness_table_rejects_bad_input(digits):
    with pytest.raises(ValueError, match="predict_fns must be a non-empty dict"):
        robustness_table({}, digits.test_images, digits.test_labels)
    with pytest.raises(ValueError, match="labels must be integers of shape"):
        robustness_table({"m": lambda x: x}, digits.test_images, digits.test_labels[:5])


def test_plot_robustness_has_one_axes_per_kind_and_one_line_per_model():
    from matplotlib.figure import Figure

    rows = []
    for kind, levels in (("gaussian noise", (0, 32, 64)), ("shift", (0, 1)), ("custom", (0, 5))):
        for model in ("knn", "cnn"):
            for level in levels:
                rows.append({"perturbation": kind, "level": float(level), "label": str(level), "model": model,
                             "accuracy": 0.9 - level / 1000, "low": 0.85, "high": 0.95, "n": 100})
    fig = plot_robustness(pd.DataFrame(rows), colors={"knn": "#000000"})
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert len(ax.get_lines()) == 2
    assert [ax.get_title() for ax in fig.axes] == ["Gaussian noise", "Shift", "Custom"]
    assert fig.axes[2].get_xlabel() == "level"
    assert fig.axes[0].get_lines()[0].get_color() == "#000000"
    with pytest.raises(ValueError, match="lacks columns"):
        plot_robustness(pd.DataFrame({"model": ["a"]}))


def test_robustness_result_round_trips_and_relabels(digits):
    predict = _nearest_neighbour_predict(digits)
    table = robustness_table({"nn": predict}, digits.test_images[:50], digits.test_labels[:50],
                             perturbations=default_perturbations((8, 8))[:2])
    result = RobustnessResult.from_record(RobustnessResult(table).to_record())
    pd.testing.assert_frame_equal(result.table, table, check_dtype=False)
    wide = result.wide(labels={"nn": "Nearest"})
    assert list(wide.columns) == ["perturbation", "strength", "Nearest"]

