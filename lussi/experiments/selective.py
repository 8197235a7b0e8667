"""Selective classification: each model may hand a digit to a person when it is unsure.

A model decides a digit itself when its confidence (its largest class probability)
is at least a threshold, and abstains otherwise. Lowering the threshold decides
more digits (the *coverage*) at a higher error rate among the decided ones (the
*risk*). The threshold of each model is chosen on the validation split only
(:mod:`lussi.experiments.validation_scores`): the largest coverage whose
validation risk is at most the target (1 error in 1,000 decided digits). The test
split then says what that threshold buys: its coverage and risk, each with a 95%
Wilson interval. The threshold is fixed before the test set is read, so the
decided count and the errors among them are binomial given it.

A KNN's confidence is a vote share: with k neighbours and an equal vote it takes
at most k + 1 values (0, 1/k, ..., 1), and many digits share the top one. Its
risk–coverage curve has a point only at those levels, so the coverage jumps in
steps and the smallest coverage above 0 is the share of digits with a unanimous
vote; when those already err more often than the target, no threshold reaches
it. The levels are counted from the probabilities, never assumed.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pandas as pd

from .base import Experiment, colors, figure_of, table_of
from .validation_scores import EXPERIMENT as VALIDATION
from .validation_scores import result_of

__all__ = ["EXPERIMENT", "TARGET", "SelectiveResult", "choose_threshold", "columns_frame", "columns_record",
           "confidence", "facts", "figure", "model_row", "operating_point", "plot_risk_coverage", "risk_coverage",
           "selective_from_scores", "table", "wilson"]

VERSION = 1
# Errors among decided digits the operating point may make: 1 in 1,000.
TARGET = 0.001
LEVEL = 0.95
# Curves with at most this many points are drawn point by point, so their steps show.
STEP_POINTS = 60
POINT_COLUMNS = ["model", "threshold", "n_validation", "validation_coverage", "validation_risk", "n", "decided",
                 "errors", "coverage", "coverage_low", "coverage_high", "risk", "risk_low", "risk_high",
                 "share_levels", "confidence_levels", "top_level", "top_share", "top_risk"]


def confidence(probabilities) -> np.ndarray:
    """Largest class probability per row: ndarray of shape (n,), float64."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must have shape (n, n_classes), got {probabilities.shape}")
    return probabilities.max(axis=1).astype(np.float64)


def _check(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    if confidence.ndim != 1 or confidence.shape != correct.shape or not len(confidence):
        raise ValueError(f"confidence and correct must be non-empty arrays of shape (n,), got "
                         f"{confidence.shape} and {correct.shape}")
    return confidence, correct


def risk_coverage(confidence, correct) -> pd.DataFrame:
    """Coverage and risk of deciding every digit whose confidence is at least each observed level.

    Written with numpy because scikit-learn has no public risk–coverage curve (its
    ``_binary_clf_curve`` does the same cumulative counting, privately).

    Parameters
    ----------
    confidence : ndarray of shape (n,)
    correct : ndarray of shape (n,), bool

    Returns
    -------
    DataFrame
        One row per distinct confidence level, highest first: ``threshold``,
        ``decided`` and ``errors`` (digits with confidence >= threshold, and the wrong
        ones among them), ``coverage`` (decided / n) and ``risk`` (errors / decided).
        Coverage rises strictly down the rows; digits tied at a level are decided together.
    """
    confidence, correct = _check(confidence, correct)
    levels, inverse = np.unique(confidence, return_inverse=True)
    decided = np.cumsum(np.bincount(inverse, minlength=len(levels))[::-1])
    errors = np.cumsum(np.bincount(inverse, weights=~correct, minlength=len(levels))[::-1]).round().astype(np.int64)
    return pd.DataFrame({"threshold": levels[::-1], "decided": decided.astype(np.int64), "errors": errors,
                         "coverage": decided / len(confidence), "risk": errors / decided})


def choose_threshold(confidence, correct, *, target: float = TARGET) -> float:
    """The threshold of largest coverage whose risk is at most ``target``; ``inf`` (decide nothing) if none.

    Give it validation data only: it is the one choice of this analysis.
    """
    if not 0 <= target < 1:
        raise ValueError(f"target must be in [0, 1), got {target}")
    curve = risk_coverage(confidence, correct)
    allowed = curve[curve["risk"] <= target]
    return float(allowed["threshold"].iloc[-1]) if len(allowed) else float("inf")


def wilson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` trials (NaNs when ``n`` is 0)."""
    from scipy.stats import binomtest

    if n == 0:
        return float("nan"), float("nan")
    interval = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(interval.low), float(interval.high)


def operating_point(threshold: float, confidence, correct, *, level: float = LEVEL) -> dict:
    """Coverage and risk of deciding the digits with confidence >= ``threshold``, with Wilson intervals.

    Returns
    -------
    dict
        ``threshold``, ``n``, ``decided``, ``errors``, ``coverage`` (``coverage_low``,
        ``coverage_high``) and ``risk`` (``risk_low``, ``risk_high``; NaN when nothing is decided).
    """
    confidence, correct = _check(confidence, correct)
    decided = confidence >= threshold
    n, k, errors = len(confidence), int(decided.sum()), int((decided & ~correct).sum())
    coverage_low, coverage_high = wilson(k, n, level)
    risk_low, risk_high = wilson(errors, k, level)
    return {"threshold": float(threshold), "n": n, "decided": k, "errors": errors, "coverage": k / n,
            "coverage_low": coverage_low, "coverage_high": coverage_high,
            "risk": errors / k if k else float("nan"), "risk_low": risk_low, "risk_high": risk_high}


def _levels(probabilities, confidence) -> dict:
    """How coarse a model's scores are: distinct probability values, confidence levels, the top level's share."""
    top = confidence == confidence.max()
    return {"share_levels": len(np.unique(probabilities)), "confidence_levels": len(np.unique(confidence)),
            "top_level": float(confidence.max()), "top_share": float(top.mean())}


def selective_from_scores(validation: dict, test: dict, *, target: float = TARGET,
                          level: float = LEVEL) -> SelectiveResult:
    """Choose each model's threshold on ``validation``, then measure it and the whole curve on ``test``.

    Parameters
    ----------
    validation, test : dict of str to (probabilities, correct)
        Per model: probabilities of shape (n, n_classes) and whether its top class is
        right, shape (n,). Only ``validation`` is used to choose a threshold.
    target : float
        Largest risk allowed on validation.
    level : float
        Confidence level of the test intervals.

    Returns
    -------
    SelectiveResult
    """
    points, curves = [], []
    for name, (val_proba, val_correct) in validation.items():
        val_confidence = confidence(val_proba)
        threshold = choose_threshold(val_confidence, val_correct, target=target)
        chosen = operating_point(threshold, val_confidence, val_correct, level=level)
        test_proba, test_correct = test[name]
        test_confidence = confidence(test_proba)
        curve = risk_coverage(test_confidence, test_correct)
        curves.append(curve[["threshold", "decided", "errors"]].assign(model=name, n=len(test_confidence)))
        shape = _levels(test_proba, test_confidence)
        points.append({"model": name, "n_validation": chosen["n"], "validation_coverage": chosen["coverage"],
                       "validation_risk": chosen["risk"],
                       **operating_point(threshold, test_confidence, test_correct, level=level), **shape,
                       "top_risk": float(curve["risk"].iloc[0])})
    curves = pd.concat(curves, ignore_index=True)[["model", "threshold", "decided", "errors", "n"]]
    return SelectiveResult(target=target, level=level, curves=curves, points=pd.DataFrame(points)[POINT_COLUMNS])


def columns_record(table: pd.DataFrame) -> dict:
    """A DataFrame as column lists with their order: compact JSON for long curves."""
    return {"columns": [str(c) for c in table.columns], "data": [table[c].tolist() for c in table.columns]}


def columns_frame(record: dict) -> pd.DataFrame:
    """The DataFrame of :func:`columns_record`."""
    return pd.DataFrame(dict(zip(record["columns"], record["data"], strict=True)), columns=record["columns"])


def plot_risk_coverage(curves: pd.DataFrame, points: pd.DataFrame, *, target: float, labels=None, colors=None,
                       unit: str = "digits", ax=None):
    """Risk against coverage, one curve per model, with the validation-chosen operating point on test.

    ``curves`` has ``model``, ``decided``, ``errors`` and ``n``; ``points`` one row per
    model with ``coverage``, ``risk`` and ``confidence_levels``. Returns the Figure.
    """
    from .. import plotting

    fig, ax = plotting.figure_and_axes(ax, figsize=(7.5, 5.2))
    names = list(dict.fromkeys(curves["model"]))
    labels = labels or {name: name for name in names}
    colours = plotting.colors_for([labels[n] for n in names], colors)
    for name in names:
        curve, point = curves[curves["model"] == name], points.set_index("model").loc[name]
        colour, steps = colours[labels[name]], len(curve) <= STEP_POINTS
        ax.plot(curve["decided"] / curve["n"], curve["errors"] / curve["decided"], color=colour, lw=1.4,
                marker="o" if steps else None, ms=4,
                label=f"{labels[name]} ({int(point['confidence_levels']):,} confidence levels)")
        if point["decided"] > 0:
            ax.plot([point["coverage"]], [point["risk"]], marker="*", ms=13, color=colour, mec="black", mew=0.6)
    ax.axhline(target, color="#555", lw=0.9, ls="--", label=f"target: {target:g} of decided {unit} wrong")
    # Linear below the target and logarithmic above it: the curves differ by orders of magnitude.
    ax.set_yscale("symlog", linthresh=target)
    ax.set_xlim(0, 1.01)
    ax.set_ylim(bottom=0)
    # Below the axes: the curves fill both the left (few errors) and the right (full coverage) of the plot.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2)
    ax.grid(alpha=0.3)
    plotting.finish(ax, title="Test risk against coverage (★: the threshold chosen on validation)",
                    xlabel=f"coverage: share of {unit} the model decides itself",
                    ylabel=f"risk: share of decided {unit} wrong")
    return fig


@dataclasses.dataclass(frozen=True)
class SelectiveResult:
    """Risk–coverage curves on test and each model's validation-chosen operating point.

    Attributes
    ----------
    target : float
        Largest validation risk allowed.
    level : float
        Confidence level of the Wilson intervals.
    curves : DataFrame
        Test curves: ``model``, ``threshold``, ``decided``, ``errors``, ``n`` (one row per confidence level).
    points : DataFrame
        One row per model, columns :data:`POINT_COLUMNS`: the chosen ``threshold``, its
        validation coverage and risk, its test coverage and risk with intervals, and
        the coarseness of the model's scores (``share_levels`` distinct probability values,
        ``confidence_levels`` distinct confidences, ``top_level`` the highest, ``top_share``
        of digits at it and ``top_risk`` their error rate: the curve's first point).
    """

    target: float
    level: float
    curves: pd.DataFrame
    points: pd.DataFrame

    SCHEMA: ClassVar[dict] = {"target": float, "level": float, "curves": {"columns": list, "data": list},
                              "points": dict}

    def to_record(self) -> dict:
        from ..stages import records

        return {"target": float(self.target), "level": float(self.level), "curves": columns_record(self.curves),
                "points": records(self.points)}

    @classmethod
    def from_record(cls, record: dict) -> SelectiveResult:
        from ..stages import frame

        return cls(target=float(record["target"]), level=float(record["level"]),
                   curves=columns_frame(record["curves"]), points=frame(record["points"]))

    def point(self, name: str) -> dict:
        """Model ``name``'s operating point, as a dict of :data:`POINT_COLUMNS`."""
        return model_row(self.points, name)

    def plot(self, *, labels=None, colors=None, ax=None):
        """The risk–coverage figure (see :func:`plot_risk_coverage`)."""
        return plot_risk_coverage(self.curves, self.points, target=self.target, labels=labels, colors=colors, ax=ax)

    def to_frame(self, labels=None) -> pd.DataFrame:
        """The operating points as a display table (text cells)."""
        return _display(self.points, labels or {}, level=self.level, unit="digits")

    def to_html(self, labels=None) -> str:
        from ..visualize import styled_table

        return styled_table(self.to_frame(labels))


def model_row(table: pd.DataFrame, name: str) -> dict:
    """Model ``name``'s row as a dict of Python values, each column keeping its type (a row Series would not)."""
    rows = table[table["model"] == name].to_dict(orient="records")
    if not rows:
        raise KeyError(f"no row for model {name!r}")
    return rows[0]


def _display(points: pd.DataFrame, labels: dict, *, level: float, unit: str) -> pd.DataFrame:
    """Operating points as text: share decided and wrong per 1,000 decided, with their intervals."""
    def share(value, low, high):
        return f"{value:.1%} ({low:.1%}–{high:.1%})"

    def per_thousand(value, low, high):
        return "–" if np.isnan(value) else f"{1000 * value:.2f} ({1000 * low:.2f}–{1000 * high:.2f})"

    interval = f"{level:.0%} Wilson"
    return pd.DataFrame({
        "model": [labels.get(m, m) for m in points["model"]],
        "threshold (validation)": [f"{t:.4f}" if np.isfinite(t) else "none: decides nothing"
                                   for t in points["threshold"]],
        f"validation: {unit} decided": [f"{v:.1%}" for v in points["validation_coverage"]],
        f"test: {unit} decided ({interval})": [share(*r) for r in
                                              points[["coverage", "coverage_low", "coverage_high"]].to_numpy()],
        f"test: wrong per 1,000 decided ({interval})": [per_thousand(*r) for r in
                                                        points[["risk", "risk_low", "risk_high"]].to_numpy()],
        "confidence levels (test)": [f"{int(v):,}" for v in points["confidence_levels"]],
    })


# --------------------------------------------------------------------------- the study


def _scores(study) -> tuple[dict, dict]:
    """``(validation, test)`` of :func:`selective_from_scores` for every model of ``study``."""
    scores = result_of(study, VALIDATION)
    validation = {name: (scores.probabilities[name], scores.correct(name)) for name in study.models}
    test = {name: (study.predictions[name].probabilities, study.predictions[name].labels == study.y_test)
            for name in study.models}
    return validation, test


def inputs(study) -> dict:
    """The cache key: the validation scores' key (models, data, split) and the target."""
    return {"validation_scores": VALIDATION.inputs(study), "target": TARGET, "level": LEVEL, "version": VERSION}


def compute(study) -> SelectiveResult:
    validation, test = _scores(study)
    return selective_from_scores(validation, test, target=TARGET, level=LEVEL)


def _vote(config) -> dict:
    """A KNN's ``k`` and ``weights`` (None for other models): what makes its vote shares coarse."""
    described = config.to_dict()
    return {"k": described.get("n_neighbors"), "weights": described.get("weights")}


def facts(study) -> dict:
    """Numbers of ``selective.md.j2``: the headline pair's operating points, every model's, the target."""
    result = result_of(study, EXPERIMENT)
    if result is None:
        return None
    knn, net = study.headline
    models = {name: {**result.point(name), "label": study.label(name), **_vote(study.models[name].config)}
              for name in study.models}
    return {"target": result.target, "per": round(1 / result.target), "level": result.level,
            "interval": "Wilson", "knn": models[knn], "net": models[net], "models": models,
            "n_validation": int(result.points["n_validation"].iloc[0]), "n_test": int(result.points["n"].iloc[0])}


def figure(study):
    """View: the test risk–coverage curves of every model."""
    return figure_of(study, EXPERIMENT.name, colors=colors(study))


def table(study):
    """View: each model's validation-chosen operating point on test (an HTML block)."""
    return table_of(study, EXPERIMENT.name)


EXPERIMENT = Experiment(
    name="selective",
    describe="selective classification: the share of digits decided at 1 error in 1,000",
    inputs=inputs,
    compute=compute,
    result=SelectiveResult,
    after=VALIDATION.name,
    cost=2,
)
