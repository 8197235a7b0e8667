"""A confusion matrix with its labels: counts, normalised shares, the most frequent mistakes.

Build one from predictions (or an estimator); :func:`lussi.figures.plot_confusion`
draws it. The label rules are those of :mod:`lussi.analysis`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .analysis import check_label_pair, resolve_labels

__all__ = ["Confusion"]


# eq=False: comparing arrays with == is ambiguous; compare .counts explicitly.
@dataclass(frozen=True, eq=False)
class Confusion:
    """A confusion matrix with its labels; rows are true classes, columns predictions.

    Build it with :meth:`from_predictions` (or :meth:`from_estimator`); draw it with
    :func:`lussi.figures.plot_confusion`.

    Attributes
    ----------
    counts : ndarray of int64, shape (n_classes, n_classes)
        ``counts[i, j]`` = number of samples of class ``labels[i]`` predicted as ``labels[j]``.
    labels : ndarray of int64, shape (n_classes,)
    class_names : tuple of str, length n_classes
    """

    counts: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...] = field(default=())

    def __post_init__(self):
        counts = np.asarray(self.counts)
        if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
            raise ValueError(f"counts must be a square 2-D array, got shape {counts.shape}")
        if counts.shape[0] != len(self.labels):
            raise ValueError(
                f"counts is {counts.shape[0]}x{counts.shape[1]} but there are {len(self.labels)} labels"
            )
        names = self.class_names or tuple(str(label) for label in self.labels)
        if len(names) != len(self.labels):
            raise ValueError(f"class_names has {len(names)} entries but there are {len(self.labels)} labels")
        object.__setattr__(self, "counts", counts.astype(np.int64, copy=False))
        object.__setattr__(self, "labels", np.asarray(self.labels, dtype=np.int64))
        object.__setattr__(self, "class_names", tuple(str(n) for n in names))

    @classmethod
    def from_predictions(
        cls, y_true, y_pred, *, labels=None, class_names: Sequence[str] | None = None
    ) -> Confusion:
        """Count (true, predicted) pairs with :func:`sklearn.metrics.confusion_matrix`.

        Parameters
        ----------
        y_true, y_pred : array-like of int, shape (n,)
        labels : array-like of int, optional
            Class order; see :func:`per_class_report`.
        class_names : sequence of str, optional
            Display name per label.
        """
        from sklearn.metrics import confusion_matrix

        y_true, y_pred = check_label_pair(y_true, y_pred)
        labels, class_names = resolve_labels([y_true, y_pred], labels, class_names)
        counts = confusion_matrix(y_true, y_pred, labels=labels)
        return cls(counts=counts, labels=labels, class_names=class_names)

    @classmethod
    def from_estimator(
        cls, model, images, y_true, *, labels=None, class_names: Sequence[str] | None = None
    ) -> Confusion:
        """Predict ``images`` with ``model.predict`` and hand off to :meth:`from_predictions`."""
        return cls.from_predictions(y_true, model.predict(images), labels=labels, class_names=class_names)

    @property
    def n_classes(self) -> int:
        return int(self.labels.size)

    @property
    def support(self) -> np.ndarray:
        """True samples per class, int64 of shape (n_classes,)."""
        return self.counts.sum(axis=1)

    def row_normalized(self) -> np.ndarray:
        """Counts divided by each true class's support (rows sum to 1; empty rows stay 0).

        Returns
        -------
        ndarray of float64, shape (n_classes, n_classes)
        """
        support = self.support[:, None].astype(np.float64)
        return np.divide(self.counts, support, out=np.zeros(self.counts.shape), where=support > 0)

    def errors_only(self) -> np.ndarray:
        """Counts with the diagonal zeroed, so the colour scale shows only mistakes.

        Returns
        -------
        ndarray of int64, shape (n_classes, n_classes)
        """
        errors = self.counts.copy()
        np.fill_diagonal(errors, 0)
        return errors

    def most_confused(self, top: int = 10) -> pd.DataFrame:
        """The most frequent (true, predicted) mistakes.

        Parameters
        ----------
        top : int, default 10
            Maximum number of rows.

        Returns
        -------
        DataFrame
            Columns ``true``, ``predicted`` (class names), ``count`` and
            ``share_of_true_class`` (count / support of the true class), sorted by
            count, descending, ties broken by share then class order. Only pairs with
            at least one mistake appear.
        """
        if top < 1:
            raise ValueError(f"top must be a positive integer, got {top}")
        errors = self.errors_only()
        shares = self.row_normalized()
        i, j = np.nonzero(errors)
        table = pd.DataFrame(
            {
                "true": [self.class_names[a] for a in i],
                "predicted": [self.class_names[b] for b in j],
                "count": errors[i, j].astype(np.int64),
                "share_of_true_class": shares[i, j],
                "_i": i,
                "_j": j,
            }
        )
        table = table.sort_values(
            ["count", "share_of_true_class", "_i", "_j"],
            ascending=[False, False, True, True],
            kind="stable",
        )
        return table.drop(columns=["_i", "_j"]).head(top).reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """Counts as a DataFrame indexed by true class name, columns predicted class name."""
        index = pd.Index(self.class_names, name="true")
        columns = pd.Index(self.class_names, name="predicted")
        return pd.DataFrame(self.counts, index=index, columns=columns)


# --------------------------------------------------------------------------- errors
