"""The report's numbers: plain facts distilled from a :class:`~lussi.study.StudyResults`.

Every figure the report's prose quotes comes from :func:`summary_facts`, so the
text changes when the results change and a test can compare the rendered
summary with the computed values.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SIGNIFICANCE_LEVEL", "curve_pair", "extras_facts", "summary_facts"]

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


def _latency_facts(study, a: str, b: str) -> list[dict]:
    """Per batch size: median per-image time of models a and b, and which is faster."""
    if study.latency is None:
        return []
    table = study.latency
    rows = []
    label_a, label_b = study.label(a), study.label(b)
    for batch_size in sorted(table["batch_size"].unique()):
        at = table[(table["batch_size"] == batch_size)]
        ra, rb = at[at["model"] == label_a], at[at["model"] == label_b]
        if ra.empty or rb.empty:
            continue
        ma, mb = float(ra["median_s"].iloc[0]), float(rb["median_s"].iloc[0])
        if not (math.isfinite(ma) and math.isfinite(mb)):
            continue
        winner = a if ma <= mb else b
        rows.append(
            {
                "batch_size": int(batch_size),
                "a_ms": 1000 * ma,
                "b_ms": 1000 * mb,
                "a_per_image_ms": 1000 * ma / batch_size,
                "b_per_image_ms": 1000 * mb / batch_size,
                "winner": winner,
                "winner_label": study.label(winner),
                "ratio": max(ma, mb) / min(ma, mb) if min(ma, mb) > 0 else float("inf"),
                "a_path": str(ra["call_path"].iloc[0]) if "call_path" in ra else "",
                "b_path": str(rb["call_path"].iloc[0]) if "call_path" in rb else "",
            }
        )
    return rows


def curve_pair(study) -> tuple[str, str] | None:
    """(KNN, network) compared by the learning-curve text: the headline models when both have a curve.

    Falls back to the raw-pixel KNN and the seed MLP (the models every profile
    trains at several sizes); None when the study has no learning curve.
    """
    table = study.learning
    if table is None or table.empty:
        return None
    sizes = table.groupby("model")["n_train"].nunique().to_dict()
    knn, net = study.headline
    knn = knn if sizes.get(knn, 0) > 1 else "knn"
    net = net if sizes.get(net, 0) > 1 else "mlp"
    return (knn, net) if knn in sizes and net in sizes else None


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


def _drawn_facts(study) -> dict:
    info = study.extras.get("drawn", {})
    if study.drawn_predictions is None:
        return {"applicable": False, "reason": info.get("reason", "not computed"),
                "class_names": list(study.dataset.class_names)}
    from ..handwriting.drawn import drawn_digits_accuracy

    table = study.drawn_predictions
    accuracy = drawn_digits_accuracy(table)
    overall = {name: float(accuracy.loc["all", name]) for name in accuracy.columns}
    best = max(overall, key=overall.get)
    knn, net = study.headline
    return {
        "applicable": True,
        "reason": None,
        "n": len(study.drawn.labels),
        "styles": list(dict.fromkeys(study.drawn.styles)),
        "per_style": int(len(study.drawn.labels) // max(1, len(set(study.drawn.styles)))),
        "accuracy": overall,
        "best": best,
        "knn": overall[knn],
        "net": overall[net],
        "by_style": {style: {name: float(accuracy.loc[style, name]) for name in accuracy.columns}
                     for style in accuracy.index if style != "all"},
    }


def _real_facts(study) -> dict:
    """The real handwriting set's numbers (:func:`lussi.realset.realset_facts`), or how to build it."""
    from .. import realset

    if study.real_predictions is None:
        return {"available": False, "build": realset.BUILD_COMMAND, "env": realset.ENV}
    return {"available": True, **realset.realset_facts(study.real_predictions, study.labels)}


def extras_facts(study) -> dict:
    """Facts of the sections beyond the seed study; None for each extra that was not computed.

    Returns
    -------
    dict
        ``labels`` (model name -> label), ``errors`` (AUCs of the headline pair),
        ``robustness`` (:func:`lussi.robustness.robustness_facts` of the headline
        pair), ``denoise`` (the denoiser's scores), ``learning``
        (:func:`lussi.learning.learning_facts`), ``drawn`` (drawn-digit
        accuracies, or ``applicable: False`` with a ``reason``), ``real`` (the real
        handwriting set's accuracies per kind, or ``available: False`` with how to
        build it) and ``extras_seconds``.
    """
    from ..learning import learning_facts
    from ..robustness import robustness_facts

    knn, net = study.headline
    robustness = None
    if study.robustness is not None and {knn, net} <= set(study.robustness["model"]):
        robustness = robustness_facts(study.robustness, knn, net)
    denoise = None
    if study.denoise is not None:
        d = study.denoise
        denoise = {key: getattr(d, key) for key in
                   ("mse_noisy", "mse_denoised", "psnr_noisy", "psnr_denoised", "n_train", "n_test", "n_neighbors")}
    pair = curve_pair(study)
    learning = learning_facts(study.learning, *pair) if pair else None
    return {
        "labels": study.labels,
        "errors": _error_facts(study, knn, net),
        "robustness": robustness,
        "denoise": denoise,
        "learning": learning,
        "drawn": _drawn_facts(study),
        "real": _real_facts(study),
        "extras_seconds": {name: info.get("seconds", 0.0) for name, info in study.extras.items()},
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
    speed = _latency_facts(study, knn, net)
    size_winner = knn if a["disk_bytes"] <= b["disk_bytes"] else net
    memory_winner = knn if a["memory_bytes"] <= b["memory_bytes"] else net
    single = next((row for row in speed if row["batch_size"] == 1), None)
    largest = speed[-1] if speed else None

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
        if study.seed_split:
            seed["seed_split_accuracy"] = study.seed_split["accuracy"]
            seed["seed_split_n_test"] = study.seed_split["n_test"]
            seed["seed_split_from_test"] = study.seed_split["test_from_original_test_split"]
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
