"""Compare classifiers on the same test set: accuracy intervals, paired tests, per-class scores, mistakes.

Confusion matrices are :class:`lussi.confusion.Confusion`.

Every function takes integer label arrays (``y_true`` and one or more predictions,
each an int array of shape (n,)) and returns plain data: a small frozen dataclass,
an ndarray or a tidy :class:`pandas.DataFrame`. Drawing and HTML live in
:mod:`lussi.visualize`; nothing here prints or plots.

Examples
--------
>>> import numpy as np
>>> y = np.array([0, 1, 1, 2])
>>> accuracy_interval(y, np.array([0, 1, 2, 2])).n_correct
3
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .validation import check_labels

__all__ = [
    "AccuracyInterval",
    "McNemarResult",
    "accuracy_interval",
    "check_label_pair",
    "compare_models",
    "disagreements",
    "mcnemar_test",
    "misclassified",
    "per_class_report",
    "resolve_labels",
]

# Below this many discordant pairs the chi-square approximation is poor, so the
# exact binomial test is used (the usual rule of thumb, e.g. statsmodels' advice).
MCNEMAR_EXACT_BELOW = 25


# --------------------------------------------------------------------------- validation


def check_label_pair(y_true, y_pred, pred_name: str = "y_pred") -> tuple[np.ndarray, np.ndarray]:
    y_true = check_labels(y_true, "y_true")
    y_pred = check_labels(y_pred, pred_name)
    if y_pred.shape != y_true.shape:
        raise ValueError(
            f"{pred_name} has {y_pred.size} labels but y_true has {y_true.size}; "
            "predictions must be made on the same test set"
        )
    return y_true, y_pred


def _check_predictions(y_true, predictions) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if not isinstance(predictions, Mapping) or len(predictions) == 0:
        raise ValueError(
            "predictions must be a non-empty dict mapping model name -> predicted labels, "
            f"got {type(predictions).__name__}"
        )
    y_true = check_labels(y_true, "y_true")
    checked = {}
    for name, pred in predictions.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"model names must be non-empty strings, got {name!r}")
        checked[name] = check_label_pair(y_true, pred, f"predictions[{name!r}]")[1]
    return y_true, checked


def resolve_labels(arrays, labels, class_names) -> tuple[np.ndarray, tuple[str, ...]]:
    """Choose the label set and one display name per label.

    Without ``labels``, ``class_names`` implies ``labels = 0..len(class_names)-1`` (the
    Dataset convention), so a class missing from a small test subset keeps its row.
    """
    if labels is None:
        if class_names is not None:
            labels = np.arange(len(class_names))
        else:
            labels = np.unique(np.concatenate(arrays))
    labels = check_labels(labels, "labels")
    if np.unique(labels).size != labels.size:
        raise ValueError(f"labels must be unique, got {labels.tolist()}")
    if class_names is None:
        class_names = tuple(str(label) for label in labels)
    else:
        class_names = tuple(str(name) for name in class_names)
        if len(class_names) != labels.size:
            raise ValueError(
                f"class_names has {len(class_names)} entries but there are {labels.size} "
                "labels; pass one name per label"
            )
    seen = np.unique(np.concatenate(arrays))
    unknown = np.setdiff1d(seen, labels)
    if unknown.size:
        raise ValueError(
            f"labels {unknown.tolist()} occur in the data but not in labels={labels.tolist()}; "
            "pass labels (or class_names) covering every class"
        )
    return labels, class_names


# --------------------------------------------------------------------------- accuracy


@dataclass(frozen=True)
class AccuracyInterval:
    """Accuracy with a Wilson score confidence interval.

    Attributes
    ----------
    accuracy : float
        Fraction of correct predictions.
    low, high : float
        Interval bounds, within [0, 1].
    n, n_correct : int
        Number of test samples and of correct predictions.
    confidence : float
        Confidence level of the interval, e.g. 0.95.
    """

    accuracy: float
    low: float
    high: float
    n: int
    n_correct: int
    confidence: float = 0.95

    @property
    def errors(self) -> int:
        """Number of wrong predictions."""
        return self.n - self.n_correct

    @classmethod
    def from_predictions(cls, y_true, y_pred, *, confidence: float = 0.95) -> AccuracyInterval:
        """Same as :func:`accuracy_interval`."""
        return accuracy_interval(y_true, y_pred, confidence=confidence)


def accuracy_interval(y_true, y_pred, *, confidence: float = 0.95) -> AccuracyInterval:
    """Accuracy of ``y_pred`` with a Wilson score confidence interval.

    Wilson rather than the normal (Wald) interval because accuracies near 1 make
    Wald too narrow and let it pass 1; Clopper-Pearson is needlessly conservative.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        True and predicted class labels.
    confidence : float, default 0.95
        Confidence level, strictly between 0 and 1.

    Returns
    -------
    AccuracyInterval
    """
    from scipy.stats import binomtest

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    y_true, y_pred = check_label_pair(y_true, y_pred)
    n = int(y_true.size)
    k = int(np.count_nonzero(y_true == y_pred))
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return AccuracyInterval(
        accuracy=k / n,
        low=float(ci.low),
        high=float(ci.high),
        n=n,
        n_correct=k,
        confidence=confidence,
    )


# --------------------------------------------------------------------------- McNemar


@dataclass(frozen=True)
class McNemarResult:
    """Paired comparison of two classifiers on the same samples.

    Attributes
    ----------
    only_a_correct, only_b_correct : int
        Discordant counts: samples only model A (resp. B) got right.
    statistic : float
        ``min(only_a_correct, only_b_correct)`` for the exact test; the
        continuity-corrected chi-square statistic otherwise.
    p_value : float
        Two-sided p-value in [0, 1].
    method : str
        ``"exact binomial"`` or ``"chi-square with continuity correction"``.
    """

    only_a_correct: int
    only_b_correct: int
    statistic: float
    p_value: float
    method: str

    @property
    def discordant(self) -> int:
        """Number of samples on which exactly one model is right."""
        return self.only_a_correct + self.only_b_correct


def mcnemar_test(y_true, pred_a, pred_b) -> McNemarResult:
    """McNemar's test: do two classifiers have the same error rate on these samples?

    Only the discordant samples (one model right, the other wrong) carry information.
    With fewer than 25 of them the exact binomial test (``scipy.stats.binomtest``,
    p = 0.5) is used, otherwise the chi-square approximation with continuity
    correction. The result is symmetric in ``pred_a`` and ``pred_b``.

    Parameters
    ----------
    y_true, pred_a, pred_b : array-like of int, shape (n,)
        True labels and the two models' predictions.

    Returns
    -------
    McNemarResult
    """
    from scipy.stats import binomtest, chi2

    y_true, pred_a = check_label_pair(y_true, pred_a, "pred_a")
    pred_b = check_label_pair(y_true, pred_b, "pred_b")[1]
    right_a = pred_a == y_true
    right_b = pred_b == y_true
    b = int(np.count_nonzero(right_a & ~right_b))
    c = int(np.count_nonzero(~right_a & right_b))
    if b + c == 0:
        return McNemarResult(b, c, 0.0, 1.0, "exact binomial")
    if b + c < MCNEMAR_EXACT_BELOW:
        p = binomtest(min(b, c), b + c, 0.5).pvalue
        return McNemarResult(b, c, float(min(b, c)), float(min(p, 1.0)), "exact binomial")
    stat = (abs(b - c) - 1) ** 2 / (b + c)
    return McNemarResult(
        b, c, float(stat), float(chi2.sf(stat, df=1)), "chi-square with continuity correction"
    )


# --------------------------------------------------------------------------- per class


def per_class_report(
    y_true,
    predictions: Mapping[str, np.ndarray],
    *,
    labels=None,
    class_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Precision, recall and F1 per class and model, as a tidy table.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        True labels.
    predictions : dict of str -> array-like of int, shape (n,)
        Predicted labels per model name.
    labels : array-like of int, optional
        Classes to report, in order. Defaults to ``range(len(class_names))`` when
        ``class_names`` is given, else every label seen.
    class_names : sequence of str, optional
        Display name per entry of ``labels`` (e.g. ``Dataset.class_names``).

    Returns
    -------
    DataFrame
        One row per (model, class) with columns ``digit`` (class name), ``model``,
        ``precision``, ``recall``, ``f1``, ``support``; classes a model never predicts
        get precision 0.
    """
    from sklearn.metrics import precision_recall_fscore_support

    y_true, predictions = _check_predictions(y_true, predictions)
    labels, class_names = resolve_labels([y_true, *predictions.values()], labels, class_names)
    frames = []
    for name, pred in predictions.items():
        p, r, f, s = precision_recall_fscore_support(y_true, pred, labels=labels, zero_division=0)
        frames.append(
            pd.DataFrame(
                {
                    "digit": list(class_names),
                    "model": name,
                    "precision": p,
                    "recall": r,
                    "f1": f,
                    "support": s.astype(np.int64),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def misclassified(y_true, y_pred) -> np.ndarray:
    """Indices of the samples ``y_pred`` gets wrong.

    Returns
    -------
    ndarray of int64, shape (n_errors,)
        Increasing positions into ``y_true``.
    """
    y_true, y_pred = check_label_pair(y_true, y_pred)
    return np.flatnonzero(y_true != y_pred).astype(np.int64)


_RESERVED_COLUMNS = ("index", "true", "right")


def disagreements(y_true, predictions: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Samples on which the models do not all predict the same label.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
    predictions : dict of str -> array-like of int, shape (n,)
        At least two models.

    Returns
    -------
    DataFrame
        One row per disagreement, in sample order, with columns ``index`` (position
        in ``y_true``), ``true``, one column per model holding its prediction, and
        ``right``: the comma-separated names of the models that are right, or
        ``"none"``.
    """
    y_true, predictions = _check_predictions(y_true, predictions)
    if len(predictions) < 2:
        raise ValueError(f"disagreements needs at least two models, got {list(predictions)}")
    clash = [name for name in predictions if name in _RESERVED_COLUMNS]
    if clash:
        raise ValueError(f"model names {clash} clash with columns {list(_RESERVED_COLUMNS)}; rename them")
    stacked = np.stack(list(predictions.values()))
    idx = np.flatnonzero((stacked != stacked[0]).any(axis=0))
    correct = stacked[:, idx] == y_true[idx]
    names = np.array(list(predictions), dtype=object)
    right = [", ".join(names[col]) or "none" for col in correct.T]
    table = pd.DataFrame({"index": idx.astype(np.int64), "true": y_true[idx]})
    for name, pred in predictions.items():
        table[name] = pred[idx]
    table["right"] = right
    return table


def compare_models(
    y_true, predictions: Mapping[str, np.ndarray], *, confidence: float = 0.95
) -> pd.DataFrame:
    """One summary row per model: accuracy with its Wilson interval and error count.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
    predictions : dict of str -> array-like of int, shape (n,)
    confidence : float, default 0.95

    Returns
    -------
    DataFrame
        Columns ``model``, ``accuracy``, ``low``, ``high``, ``errors``, ``n``, in the
        order of ``predictions``; ``attrs["confidence"]`` records the level.
    """
    y_true, predictions = _check_predictions(y_true, predictions)
    rows = []
    for name, pred in predictions.items():
        ci = accuracy_interval(y_true, pred, confidence=confidence)
        rows.append(
            {
                "model": name,
                "accuracy": ci.accuracy,
                "low": ci.low,
                "high": ci.high,
                "errors": ci.errors,
                "n": ci.n,
            }
        )
    table = pd.DataFrame(rows)
    table.attrs["confidence"] = confidence
    return table
