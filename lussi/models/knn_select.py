"""Choosing k and the vote of a KNN pipeline on a validation split.

:func:`sweep_knn` scores every (k, weights) from one neighbour search;
:func:`select_knn` keeps the best (ties: smaller k, then the earlier vote).
The study (:func:`lussi.models.train.train_knn`) and the benchmarks choose
with the same :func:`select_knn`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .knn import WEIGHTS, KNNClassifier, KNNConfig

__all__ = ["best_setting", "select_knn", "sweep_knn"]


def sweep_knn(base_config: KNNConfig, fit_images, fit_labels, val_images, val_labels, *,
              ks=tuple(range(1, 11)), weights=WEIGHTS):
    """Validation accuracy of every (k, weights) for one preprocessing pipeline.

    Neighbours are searched once, for ``max(ks)``, and every (k, weights) is
    scored from prefixes of that list.

    Parameters
    ----------
    base_config : KNNConfig
        Pipeline settings; its ``n_neighbors`` and ``weights`` are ignored.
    fit_images : array-like of shape (n_fit, height, width) or (n_fit, height*width)
    fit_labels : ndarray of shape (n_fit,)
    val_images : array-like of shape (n_val, height, width) or (n_val, height*width)
    val_labels : ndarray of shape (n_val,)
    ks : sequence of int, default 1..10
    weights : sequence of {"uniform", "distance"}

    Returns
    -------
    pandas.DataFrame
        Columns ``k``, ``weights``, ``accuracy``; one row per combination, in
        ``ks`` x ``weights`` order.
    """
    import pandas as pd

    ks = [int(k) for k in ks]
    weights = list(weights)
    if not ks or min(ks) <= 0:
        raise ValueError(f"ks must be a non-empty sequence of positive integers, got {ks}")
    bad = [w for w in weights if w not in WEIGHTS]
    if not weights or bad:
        raise ValueError(f"weights must be a non-empty subset of {WEIGHTS}, got {weights}")
    k_max = max(ks)
    model = KNNClassifier.from_config(dataclasses.replace(base_config, n_neighbors=k_max))
    model.fit(fit_images, fit_labels)
    val_labels = np.asarray(val_labels)
    squared, rows = model._neighbours(val_images, k_max)
    if val_labels.shape != (len(squared),):
        raise ValueError(f"val_labels has shape {val_labels.shape} for {len(squared)} validation images")
    records = []
    for k in ks:
        for w in weights:
            proba = model._proba_from_neighbours(squared[:, :k], rows[:, :k], w)
            predicted = model.classes_[np.argmax(proba, axis=1)]
            records.append({"k": k, "weights": w, "accuracy": float(np.mean(predicted == val_labels))})
    return pd.DataFrame.from_records(records, columns=["k", "weights", "accuracy"])


def select_knn(base_config: KNNConfig, fit_images, fit_labels, val_images, val_labels, *,
               ks=tuple(range(1, 11)), weights=WEIGHTS):
    """Best (k, weights) on validation for one pipeline.

    Ties go to the smaller k, then to the earlier entry of ``weights``.

    Returns
    -------
    config : KNNConfig
        ``base_config`` with the chosen ``n_neighbors`` and ``weights``.
    table : pandas.DataFrame
        The :func:`sweep_knn` table.
    """
    table = sweep_knn(base_config, fit_images, fit_labels, val_images, val_labels, ks=ks, weights=weights)
    k, vote = best_setting(table, weights)
    return dataclasses.replace(base_config, n_neighbors=k, weights=vote), table


def best_setting(table, weights=WEIGHTS) -> tuple[int, str]:
    """``(k, weights)`` of the best row of a :func:`sweep_knn` table: highest accuracy, then smaller k, then earlier vote."""
    order = {w: i for i, w in enumerate(weights)}
    ranked = table.assign(_w=table["weights"].map(order)).sort_values(
        ["accuracy", "k", "_w"], ascending=[False, True, True], kind="stable")
    best = ranked.iloc[0]
    return int(best["k"]), str(best["weights"])
