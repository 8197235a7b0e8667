"""lussi.confusion: the confusion matrix, its normalised shares and most frequent mistakes."""

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from lussi.confusion import Confusion


def test_confusion_counts_equal_sklearn(labels_and_preds):
    y, a, _ = labels_and_preds
    confusion = Confusion.from_predictions(y, a)
    np.testing.assert_array_equal(confusion.counts, confusion_matrix(y, a))
    assert confusion.counts.dtype == np.int64
    assert confusion.class_names == tuple(str(i) for i in range(10))
    assert confusion.n_classes == 10
    np.testing.assert_array_equal(confusion.support, np.bincount(y, minlength=10))
    assert confusion.to_frame().loc["3", "3"] == confusion.counts[3, 3]


def test_confusion_normalized_and_errors_only(labels_and_preds):
    y, a, _ = labels_and_preds
    confusion = Confusion.from_predictions(y, a)
    np.testing.assert_allclose(confusion.row_normalized().sum(axis=1), 1.0)
    errors = confusion.errors_only()
    assert np.all(np.diag(errors) == 0)
    assert errors.sum() == np.count_nonzero(y != a)
    assert np.all(np.diag(confusion.counts) > 0)  # errors_only returned a copy


def test_most_confused_ordering():
    # true 1 -> 7 three times (of 4), true 4 -> 9 three times (of 10), true 4 -> 1 once.
    y = np.array([1, 1, 1, 1] + [4] * 10 + [7, 9])
    pred = np.array([7, 7, 7, 1] + [9, 9, 9, 1] + [4] * 6 + [7, 9])
    names = [f"d{i}" for i in range(10)]
    top = Confusion.from_predictions(y, pred, class_names=names).most_confused()
    assert list(top.columns) == ["true", "predicted", "count", "share_of_true_class"]
    assert list(zip(top["true"], top["predicted"], strict=True)) == [("d1", "d7"), ("d4", "d9"), ("d4", "d1")]
    assert list(top["count"]) == [3, 3, 1]
    np.testing.assert_allclose(top["share_of_true_class"], [0.75, 0.3, 0.1])
    assert len(Confusion.from_predictions(y, pred).most_confused(top=1)) == 1
    with pytest.raises(ValueError, match="top must be a positive integer"):
        Confusion.from_predictions(y, pred).most_confused(top=0)


def test_confusion_from_estimator_uses_predict():
    class Fake:
        def predict(self, images):
            return np.zeros(len(images), dtype=np.int64)

    confusion = Confusion.from_estimator(Fake(), np.zeros((3, 8, 8), np.uint8), np.array([0, 1, 1]))
    np.testing.assert_array_equal(confusion.counts, [[1, 0], [2, 0]])


def test_confusion_validates_shape():
    with pytest.raises(ValueError, match="counts must be a square 2-D array"):
        Confusion(counts=np.zeros((2, 3)), labels=np.arange(2))
