"""The report's numbers: plain facts distilled from a :class:`~lussi.study.StudyResults`.

Every figure the report's prose quotes comes from :func:`summary_facts`, so the
text changes when the results change and a test can compare the rendered
summary with the computed values.
"""

from __future__ import annotations

import numpy as np

from ..experiments import latency, seed_split

__all__ = ["SIGNIFICANCE_LEVEL", "extras_facts", "summary_facts"]

SIGNIFICANCE_LEVEL = 0.05


def _model_facts(study, name: str) -> dict:
    trained = study.models[name]
    spec = study.specs[name]
    interval = study.accuracy(name)
    return {
        "name": name,
        "label": spec.label,
        "family": trained.family,
        "stage": spec.stage,
        "accuracy": interval.accuracy,
        "low": interval.low,
        "high": interval.high,
        "errors": interval.errors,
        "n_test": interval.n,
        "validation_accuracy": trained.validation_accuracy,
        **study.costs(name),
        "config": trained.config.to_dict(),
        "cache_key": trained.entry.key,
    }


def _error_facts(study, knn: str, net: str) -> dict:
    from .extras import auc_table

    y = study.y_test
    table = auc_table(y, {name: study.predictions[name].probabilities for name in (knn, net)},
                      class_names=study.dataset.class_names)
    out = {"n_test": len(y)}
    for key, name in (("knn", knn), ("net", net)):
        part = table[table["model"] == name]
        worst = part.sort_values("roc_auc", kind="stable").iloc[0]
        worst_ap = part.sort_values("average_precision", kind="stable").iloc[0]
        out[key] = {
            "name": name,
            "mean_roc_auc": float(part["roc_auc"].mean()),
            "mean_average_precision": float(part["average_precision"].mean()),
            "worst_roc_class": str(worst["digit"]),
            "worst_roc_auc": float(worst["roc_auc"]),
            "worst_ap_class": str(worst_ap["digit"]),
            "worst_ap": float(worst_ap["average_precision"]),
            "errors": int(np.sum(study.predicted(name) != y)),
            # A KNN's vote shares take few values, so many images tie at the same score.
            "distinct_scores": len(np.unique(study.predictions[name].probabilities)),
        }
    knn_wrong = study.predicted(knn) != y
    out["knn_wrong_net_right"] = int(np.sum(knn_wrong & (study.predicted(net) == y)))
    out["both_wrong"] = int(np.sum(knn_wrong & (study.predicted(net) != y)))
    return out


def extras_facts(study) -> dict:
    """Facts of the sections beyond the seed study: each experiment's ``facts`` under its name.

    Returns
    -------
    dict
        ``labels`` (model name -> label), ``errors`` (AUCs of the headline pair), and per experiment of
        :data:`lussi.experiments.EXTRAS` its facts (None, or ``applicable``/``available: False`` with a
        reason, when it was not computed), plus ``extras_seconds``.
    """
    from ..experiments import EXTRAS

    knn, net = study.headline
    return {
        "labels": study.labels,
        "errors": _error_facts(study, knn, net),
        **{module.EXPERIMENT.name: module.facts(study) for module in EXTRAS},
        "extras_seconds": {name: info.get("seconds", 0.0) for name, info in study.experiments.items()},
    }


def summary_facts(study) -> dict:
    """Everything the executive summary states, as plain numbers and names.

    Parameters
    ----------
    study : StudyResults

    Returns
    -------
    dict
        ``dataset``, ``models`` (per model), ``knn`` / ``net`` (the headline
        pair: best of each family by validation accuracy), ``accuracy``,
        ``training``, ``speed`` (per batch size), ``size``, ``seed`` and
        ``recommendation`` sections.
    """
    knn, net = study.headline
    models = {name: _model_facts(study, name) for name in study.models}
    a, b = models[knn], models[net]
    test = study.mcnemar(knn, net)
    accuracy_winner = knn if a["accuracy"] > b["accuracy"] else net
    significant = test.p_value < SIGNIFICANCE_LEVEL
    train_winner = knn if a["training_seconds"] <= b["training_seconds"] else net
    speed_facts = latency.facts(study)
    speed = speed_facts["speed"]
    size_winner = knn if a["disk_bytes"] <= b["disk_bytes"] else net
    memory_winner = knn if a["memory_bytes"] <= b["memory_bytes"] else net
    single, largest = speed_facts["single"], speed_facts["largest_batch"]

    # The recommendation follows from the numbers: accuracy first when the
    # difference is significant, otherwise one-image speed, then size.
    if significant:
        pick, reason = accuracy_winner, "accuracy"
    elif single is not None:
        pick, reason = single["winner"], "latency"
    else:
        pick, reason = size_winner, "size"
    other = net if pick == knn else knn

    described = study.dataset.describe()
    counts = np.asarray(described["train_class_counts"])
    seed = {}
    if "knn_seed" in models:
        seed["standard_split_accuracy"] = models["knn_seed"]["accuracy"]
        seed.update(seed_split.facts(study))
    if "knn" in models:
        seed["corrected_accuracy"] = models["knn"]["accuracy"]
        seed["corrected_k"] = models["knn"]["config"].get("n_neighbors")
        seed["corrected_weights"] = models["knn"]["config"].get("weights")

    return {
        **extras_facts(study),
        "dataset": {
            **{k: v for k, v in described.items() if not k.endswith("class_counts")},
            "largest_class": study.dataset.class_names[int(counts.argmax())],
            "smallest_class": study.dataset.class_names[int(counts.argmin())],
            "largest_count": int(counts.max()),
            "smallest_count": int(counts.min()),
        },
        "profile": study.profile.name,
        "validation_fraction": study.profile.validation_fraction,
        "random_seed": study.profile.seed,
        "hardware": study.hardware,
        "models": models,
        "knn": a,
        "net": b,
        "accuracy": {
            "winner": accuracy_winner,
            "winner_label": models[accuracy_winner]["label"],
            "loser_label": models[net if accuracy_winner == knn else knn]["label"],
            "difference_points": 100 * abs(a["accuracy"] - b["accuracy"]),
            "error_difference": abs(a["errors"] - b["errors"]),
            "error_ratio": max(a["errors"], b["errors"]) / max(1, min(a["errors"], b["errors"])),
            "p_value": test.p_value,
            "method": test.method,
            "significant": significant,
            "level": SIGNIFICANCE_LEVEL,
            "only_knn_correct": test.only_a_correct,
            "only_net_correct": test.only_b_correct,
        },
        "training": {
            "winner": train_winner,
            "winner_label": models[train_winner]["label"],
            "ratio": max(a["training_seconds"], b["training_seconds"])
            / max(1e-9, min(a["training_seconds"], b["training_seconds"])),
        },
        "speed": speed,
        "single": single,
        "largest_batch": largest,
        "size": {
            "winner": size_winner,
            "winner_label": models[size_winner]["label"],
            "memory_winner": memory_winner,
            "memory_winner_label": models[memory_winner]["label"],
        },
        "seed": seed,
        "recommendation": {
            "pick": pick,
            "pick_label": models[pick]["label"],
            "other_label": models[other]["label"],
            "reason": reason,
        },
    }
