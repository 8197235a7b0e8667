import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_recall_fscore_support

from lussi.analysis import (
    AccuracyInterval,
    McNemarResult,
    accuracy_interval,
    compare_models,
    disagreements,
    mcnemar_test,
    misclassified,
    per_class_report,
)


def _with_correct(k, n):
    """y_true of n zeros and a prediction right on the first k."""
    y = np.zeros(n, dtype=np.int64)
    pred = np.ones(n, dtype=np.int64)
    pred[:k] = 0
    return y, pred


# --------------------------------------------------------------------------- accuracy_interval


def test_accuracy_interval_matches_hand_computed_wilson():
    # Wilson, 90/100, z = 1.95996: centre (0.9 + z²/200) / (1 + z²/100) = 0.88520,
    # half-width z * sqrt(0.0009 + z²/40000) / (1 + z²/100) = 0.05957.
    result = accuracy_interval(*_with_correct(90, 100))
    assert isinstance(result, AccuracyInterval)
    assert (result.n, result.n_correct, result.errors) == (100, 90, 10)
    assert result.accuracy == pytest.approx(0.9)
    assert result.low == pytest.approx(0.82563, abs=1e-4)
    assert result.high == pytest.approx(0.94477, abs=1e-4)


def test_accuracy_interval_contains_estimate_and_stays_in_unit_range(labels_and_preds):
    y, a, _ = labels_and_preds
    for pred in (a, y):
        result = accuracy_interval(y, pred)
        assert 0 <= result.low <= result.accuracy <= result.high <= 1
    perfect = accuracy_interval(y, y)
    assert perfect.high == pytest.approx(1.0) and perfect.low < 1.0


def test_accuracy_interval_wider_at_higher_confidence():
    narrow = accuracy_interval(*_with_correct(90, 100), confidence=0.8)
    wide = accuracy_interval(*_with_correct(90, 100), confidence=0.99)
    assert wide.low < narrow.low and wide.high > narrow.high
    assert AccuracyInterval.from_predictions(*_with_correct(90, 100), confidence=0.8) == narrow


@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [
        (np.zeros(3, int), np.zeros(4, int), "has 4 labels but y_true has 3"),
        (np.zeros((2, 2), int), np.zeros((2, 2), int), r"y_true must be a 1-D array.*\(2, 2\)"),
        (np.zeros(0, int), np.zeros(0, int), "y_true is empty"),
        (np.zeros(3, int), np.zeros(3, float), "must hold integer class labels, got dtype float64"),
    ],
)
def test_invalid_labels_raise(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        accuracy_interval(y_true, y_pred)


def test_accuracy_interval_rejects_bad_confidence():
    with pytest.raises(ValueError, match="confidence must be strictly between 0 and 1"):
        accuracy_interval([0, 1], [0, 1], confidence=95)


# --------------------------------------------------------------------------- McNemar


def _discordant(only_a, only_b, both=5):
    """Labels where exactly ``only_a`` samples only A gets right, ``only_b`` only B."""
    n = only_a + only_b + both
    y = np.zeros(n, dtype=np.int64)
    a = np.zeros(n, dtype=np.int64)
    b = np.zeros(n, dtype=np.int64)
    b[:only_a] = 1
    a[only_a : only_a + only_b] = 1
    return y, a, b


def test_mcnemar_exact_known_case():
    # 1 vs 9 discordant: two-sided binomial p = 2 * (1 + 10) / 2**10.
    result = mcnemar_test(*_discordant(1, 9))
    assert isinstance(result, McNemarResult)
    assert (result.only_a_correct, result.only_b_correct, result.discordant) == (1, 9, 10)
    assert result.method == "exact binomial"
    assert result.statistic == 1
    assert result.p_value == pytest.approx(22 / 1024)


def test_mcnemar_chi_square_known_case():
    # 30 vs 10: (|30 - 10| - 1)² / 40 = 9.025; chi-square(1) survival = erfc(sqrt(x / 2)).
    result = mcnemar_test(*_discordant(30, 10))
    assert result.method == "chi-square with continuity correction"
    assert result.statistic == pytest.approx(9.025)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(9.025 / 2)))


def test_mcnemar_is_symmetric_and_p_in_unit_interval(labels_and_preds):
    y, a, b = labels_and_preds
    ab, ba = mcnemar_test(y, a, b), mcnemar_test(y, b, a)
    assert (ab.only_a_correct, ab.only_b_correct) == (ba.only_b_correct, ba.only_a_correct)
    assert ab.statistic == pytest.approx(ba.statistic)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert 0 <= ab.p_value <= 1
    assert ab.p_value < 0.01  # 85% vs 95% accurate on 500 samples is a real difference


def test_mcnemar_identical_models_has_p_one(labels_and_preds):
    y, a, _ = labels_and_preds
    result = mcnemar_test(y, a, a)
    assert result.discordant == 0 and result.p_value == 1.0
    balanced = mcnemar_test(*_discordant(4, 4))
    assert balanced.p_value == pytest.approx(1.0)


def test_mcnemar_validates_lengths():
    with pytest.raises(ValueError, match="pred_b has 2 labels but y_true has 3"):
        mcnemar_test([0, 1, 2], [0, 1, 2], [0, 1])


# --------------------------------------------------------------------------- per_class_report


def test_per_class_report_matches_sklearn(labels_and_preds):
    y, a, b = labels_and_preds
    table = per_class_report(y, {"knn": a, "cnn": b})
    assert list(table.columns) == ["digit", "model", "precision", "recall", "f1", "support"]
    assert len(table) == 20
    assert list(pd.unique(table["model"])) == ["knn", "cnn"]
    p, r, f, s = precision_recall_fscore_support(y, b, labels=np.arange(10), zero_division=0)
    cnn = table[table["model"] == "cnn"]
    np.testing.assert_allclose(cnn["precision"], p)
    np.testing.assert_allclose(cnn["recall"], r)
    np.testing.assert_allclose(cnn["f1"], f)
    np.testing.assert_array_equal(cnn["support"], s)
    assert list(cnn["digit"]) == [str(i) for i in range(10)]


def test_per_class_report_class_names_keep_missing_classes():
    y = np.array([0, 0, 1, 1])
    names = ("zero", "one", "two")
    table = per_class_report(y, {"m": np.array([0, 1, 1, 1])}, class_names=names)
    assert list(table["digit"]) == list(names)
    two = table.set_index("digit").loc["two"]
    assert two["support"] == 0 and two["f1"] == 0


def test_per_class_report_rejects_unknown_and_mismatched_labels():
    with pytest.raises(ValueError, match=r"labels \[5\] occur in the data but not in labels"):
        per_class_report([0, 1, 5], {"m": [0, 1, 1]}, labels=[0, 1])
    with pytest.raises(ValueError, match="class_names has 2 entries but there are 3 labels"):
        per_class_report([0, 1, 2], {"m": [0, 1, 2]}, labels=[0, 1, 2], class_names=["a", "b"])
    with pytest.raises(ValueError, match="predictions must be a non-empty dict"):
        per_class_report([0, 1], {})


# --------------------------------------------------------------------------- errors


def test_misclassified_and_disagreements():
    y = np.array([0, 1, 2, 3, 4])
    a = np.array([0, 1, 9, 3, 8])
    b = np.array([0, 7, 2, 3, 9])
    np.testing.assert_array_equal(misclassified(y, a), [2, 4])
    table = disagreements(y, {"knn": a, "cnn": b})
    assert list(table.columns) == ["index", "true", "knn", "cnn", "right"]
    assert list(table["index"]) == [1, 2, 4]
    assert list(table["right"]) == ["knn", "cnn", "none"]
    assert list(table["knn"]) == [1, 9, 8]


def test_disagreements_needs_two_distinct_models():
    with pytest.raises(ValueError, match="at least two models"):
        disagreements([0, 1], {"a": [0, 1]})
    with pytest.raises(ValueError, match="clash with columns"):
        disagreements([0, 1], {"true": [0, 1], "b": [1, 1]})


def test_compare_models_summary(labels_and_preds):
    y, a, b = labels_and_preds
    table = compare_models(y, {"knn": a, "cnn": b})
    assert list(table.columns) == ["model", "accuracy", "low", "high", "errors", "n"]
    assert list(table["model"]) == ["knn", "cnn"]
    assert table.loc[1, "errors"] == np.count_nonzero(b != y)
    assert table.loc[1, "accuracy"] == pytest.approx(np.mean(b == y))
    assert (table["low"] < table["accuracy"]).all() and (table["accuracy"] < table["high"]).all()
    assert table.attrs["confidence"] == 0.95
