"""Learning curves: nested subsets, the curve itself, crossover points and the plot."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lussi.data import load_digits_dataset
from lussi.experiments.learning import crossover_points, learning_facts, overtaking_size, plot_learning_curves
from lussi.learning import COLUMNS, curve_row, knn_factory, learning_curve, nested_order, nested_subsets, network_factory


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


# --------------------------------------------------------------------------- subsets


def test_nested_subsets_are_nested_and_stratified(digits):
    labels = digits.train_labels
    subsets = nested_subsets(labels, [50, 200, 700, 10**6], random_state=0)
    assert list(subsets) == [50, 200, 700]  # larger than the split: left out
    for small, large in ((50, 200), (200, 700)):
        assert set(subsets[small]) <= set(subsets[large])
    shares = np.bincount(labels) / len(labels)
    for size, idx in subsets.items():
        assert len(idx) == size and len(np.unique(idx)) == size
        counts = np.bincount(labels[idx], minlength=10)
        assert np.all(np.abs(counts - size * shares) <= 1.5)


def test_nested_order_is_a_seeded_permutation(digits):
    labels = digits.train_labels
    order = nested_order(labels, random_state=1)
    assert np.array_equal(np.sort(order), np.arange(len(labels)))
    np.testing.assert_array_equal(order, nested_order(labels, random_state=1))
    assert not np.array_equal(order, nested_order(labels, random_state=2))
    assert len(np.unique(labels[order[:10]])) == 10  # every class within the first 10


def test_nested_subsets_reject_bad_sizes(digits):
    with pytest.raises(ValueError, match="sizes must be positive integers"):
        nested_subsets(digits.train_labels, [0, 10])
    with pytest.raises(ValueError, match="sizes is empty"):
        nested_subsets(digits.train_labels, [])


# --------------------------------------------------------------------------- the curve


@pytest.mark.slow  # trains two tiny Keras networks (TensorFlow start-up included)
def test_learning_curve_with_knn_and_a_tiny_network(digits):
    from lussi.models.network import seed_mlp_config

    tiny = dataclasses.replace(seed_mlp_config(), hidden_units=(16,), epochs=1)
    factories = {
        "knn": knn_factory(),
        "mlp": network_factory(tiny, sizes=(300,)),  # only one size: the others are skipped
    }
    table = learning_curve(digits, [100, 300, 5000], factories)
    assert list(table.columns) == COLUMNS
    assert list(zip(table["model"], table["n_train"], strict=True)) == [("knn", 100), ("knn", 300), ("mlp", 300)]
    knn = table[table["model"] == "knn"].set_index("n_train")
    assert knn.loc[300, "accuracy"] > knn.loc[100, "accuracy"] > 0.7
    assert (knn["n_fit"] == knn.index).all()  # KNN fits the whole subset
    assert knn["epochs"].isna().all() and knn["validation_accuracy"].isna().all()
    mlp = table[table["model"] == "mlp"].iloc[0]
    assert mlp["n_fit"] == 270 and mlp["epochs"] == 1  # 10% held out for validation
    assert 0 <= mlp["validation_accuracy"] <= 1
    assert (table["low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["high"]).all()
    assert (table["train_seconds"] > 0).all() and (table["predict_seconds"] > 0).all()
    np.testing.assert_allclose(
        table["predict_ms_per_image"], 1000 * table["predict_seconds"] / len(digits.test_labels)
    )
    assert table.attrs["n_test"] == len(digits.test_labels)
    whole = learning_curve(digits, [300], {"mlp": factories["mlp"]}, validation_fraction=0)
    assert whole["n_fit"].iloc[0] == 300 and whole["epochs"].iloc[0] == 1
    assert np.isnan(whole["validation_accuracy"].iloc[0])
    # A row built from outside predictions has the same columns and the same numbers.
    knn_model = knn_factory()(300).fit(digits.train_images, digits.train_labels)
    row = curve_row("knn", 1437, digits.test_labels, knn_model.predict(digits.test_images),
                    train_seconds=0.1, predict_seconds=0.36)
    assert list(row) == COLUMNS and row["predict_ms_per_image"] == pytest.approx(1.0)
    assert 0.95 < row["accuracy"] <= 1 and np.isnan(row["epochs"])


def test_learning_curve_takes_any_factory_of_the_size_and_checks_input(digits):
    from lussi.models.knn import KNNClassifier

    table = learning_curve(digits, [200], {"knn1": lambda n_train: KNNClassifier(n_neighbors=1)})
    assert len(table) == 1 and table["accuracy"].iloc[0] > 0.8
    with pytest.raises(ValueError, match="factories must be a non-empty dict"):
        learning_curve(digits, [200], {})
    with pytest.raises(ValueError, match="exceeds the 1437 training images"):
        learning_curve(digits, [10**6], {"knn": knn_factory()})
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        learning_curve(digits, [200], {"knn": knn_factory()}, validation_fraction=1.0)


# --------------------------------------------------------------------------- crossover and plot


def _synthetic_table():
    sizes = [500, 1000, 2000, 5000, 10000]
    rows = []
    for n, knn, net in zip(sizes, [0.88, 0.91, 0.93, 0.95, 0.96], [0.80, 0.91, 0.95, 0.97, 0.95], strict=True):
        for model, accuracy, fit in (("knn", knn, 0.01 * n / 500), ("net", net, 2.0 * n / 500)):
            rows.append({"model": model, "n_train": n, "accuracy": accuracy, "low": accuracy - 0.01,
                         "high": accuracy + 0.01, "train_seconds": fit, "predict_seconds": 1.0,
                         "predict_ms_per_image": 0.1 if model == "net" else n / 1e4})
    return pd.DataFrame(rows)


def test_crossover_points():
    table = _synthetic_table()
    # net - knn: -, 0, +, +, -  -> ahead from 2000 on, behind again at 10000.
    assert crossover_points(table, "knn", "net") == [2000, 10000]
    assert crossover_points(table, "net", "knn") == [2000, 10000]
    assert crossover_points(table, "knn", "net", metric="train_seconds") == []
    assert crossover_points(table[table["n_train"] <= 1000], "knn", "net") == []
    with pytest.raises(ValueError, match="model 'cnn' is not in the table"):
        crossover_points(table, "knn", "cnn")


def test_overtaking_size_and_learning_facts():
    table = _synthetic_table()
    assert overtaking_size(table, "knn", "net") is None  # behind again at the largest size
    head = table[table["n_train"] <= 5000]
    assert overtaking_size(head, "knn", "net") == 2000
    assert overtaking_size(head, "net", "knn") is None
    facts = learning_facts(head, "knn", "net")
    assert facts["sizes"] == [500, 1000, 2000, 5000]
    assert facts["net_overtakes_at"] == 2000 and facts["crossovers"] == [2000]
    assert facts["knn_ahead_at"] == [500]
    assert facts["smallest"] == pytest.approx({
        "n_train": 500, "knn": 0.88, "net": 0.80, "knn_train_s": 0.01, "net_train_s": 2.0,
        "knn_predict_ms": 0.05, "net_predict_ms": 0.1,
    })
    assert facts["net_train_slower"] is True
    assert facts["knn_predict_slower_from"] == 2000  # 0.2 ms > 0.1 ms from 2000 on
    with pytest.raises(ValueError, match="must both be in the table"):
        overtaking_size(table, "knn", "cnn")


def test_plot_learning_curves_has_three_axes_with_one_line_per_model():
    from matplotlib.figure import Figure

    fig = plot_learning_curves(_synthetic_table(), colors={"net": "#123456"})
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert [line.get_label() for line in ax.get_lines()] == ["knn", "net"]
        assert ax.get_xscale() == "log"
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "log", "log"]
    assert fig.axes[0].get_lines()[1].get_color() == "#123456"
    with pytest.raises(ValueError, match="lacks columns"):
        plot_learning_curves(pd.DataFrame({"model": ["a"], "n_train": [1]}))
