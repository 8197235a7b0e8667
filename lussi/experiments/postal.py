"""Postal codes: what a digit's accuracy means for a five-digit code.

A sorting machine reads whole codes, and a code is right only when all of its
digits are. Codes are composed from the test digits by a seeded draw
(:func:`compose_codes`): each pass over the digits shuffles them and cuts the
shuffle into codes, so a digit appears at most once per pass, never twice in one
code, and in at most as many codes as there are passes (the bound, computed as
the fewest passes that give :data:`N_CODES` codes: 10 for 10,000 test digits).

A model may hand a code to a person: its confidence in a code is that of the code's
least confident digit, and it sorts the code itself when that is at least a
threshold. The threshold is chosen on codes composed in the same way from the
validation digits (:mod:`lussi.experiments.validation_scores`): the largest share
sorted whose validation codes are at most 1 in 1,000 wrong
(:func:`lussi.experiments.selective.choose_threshold`).

Codes share digits, so they are not independent draws and a binomial interval over
codes would be too narrow. The intervals of whole-code accuracy and of the share
sorted are percentile bootstraps over the test digits (:data:`N_BOOT` resamples):
each resample draws the digits with replacement and fills the same code layout
with them. That bootstrap cannot put the error rate of the sorted codes above 0
when none of them is wrong (no resample has one either), which is the usual case
at this target; its interval is instead the Wilson interval of the error rate ``q``
of the test digits at or above the threshold, carried to codes as
``1 - (1 - q) ** LENGTH`` (a sorted code is wrong when any of its digits is, and
its digits are drawn independently of one another).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pandas as pd

from .. import progress
from .base import Experiment, colors, figure_of, table_of
from .selective import (
    TARGET,
    choose_threshold,
    columns_frame,
    columns_record,
    confidence,
    model_row,
    plot_risk_coverage,
    risk_coverage,
    wilson,
)
from .validation_scores import EXPERIMENT as VALIDATION
from .validation_scores import result_of

__all__ = ["EXPERIMENT", "LENGTH", "N_BOOT", "N_CODES", "PostalResult", "code_scores", "compose_codes", "facts",
           "figure", "postal_from_scores", "table", "uses_needed"]

VERSION = 1
N_CODES = 20_000
LENGTH = 5
N_BOOT = 1000
LEVEL = 0.95
POINT_COLUMNS = ["model", "digit_accuracy", "independent_accuracy", "code_accuracy", "code_accuracy_low",
                 "code_accuracy_high", "threshold", "validation_coverage", "validation_risk", "n", "decided", "errors",
                 "coverage", "coverage_low", "coverage_high", "risk", "risk_low", "risk_high", "confidence_levels"]


def uses_needed(n_digits: int, *, n_codes: int = N_CODES, length: int = LENGTH) -> int:
    """Passes over ``n_digits`` digits (so uses of each) that :func:`compose_codes` needs for ``n_codes`` codes."""
    per_pass = n_digits // length
    if per_pass < 1:
        raise ValueError(f"need at least {length} digits to compose a code, got {n_digits}")
    return -(-n_codes // per_pass)


def compose_codes(n_digits: int, *, n_codes: int = N_CODES, length: int = LENGTH, max_uses: int | None = None,
                  random_state=0) -> np.ndarray:
    """Indices of the digits of ``n_codes`` codes of ``length`` digits, drawn from ``n_digits`` digits.

    Each pass shuffles the digits and cuts the shuffle into codes (the last
    ``n_digits % length`` digits of a pass sit it out), so no digit appears twice in
    a code, nor in more codes than there are passes.

    Parameters
    ----------
    n_digits : int
        Digits of the split the codes are made of.
    n_codes, length : int
    max_uses : int, optional
        Most codes a digit may appear in; default :func:`uses_needed` (the fewest that suffice).
    random_state : int, sequence of int or None
        Seed of the draw (same seed, same codes).

    Returns
    -------
    ndarray of shape (n_codes, length), int64
    """
    needed = uses_needed(n_digits, n_codes=n_codes, length=length)
    max_uses = needed if max_uses is None else max_uses
    if needed > max_uses:
        raise ValueError(f"{n_codes:,} codes of {length} digits need each of {n_digits:,} digits in up to "
                         f"{needed} codes, more than max_uses={max_uses}")
    rng = np.random.default_rng(random_state)
    usable = (n_digits // length) * length
    passes = [rng.permutation(n_digits)[:usable].reshape(-1, length) for _ in range(needed)]
    return np.concatenate(passes)[:n_codes].astype(np.int64)


def code_scores(codes: np.ndarray, confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    """Per code: its least confident digit's confidence, and whether all its digits are right."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    return confidence[codes].min(axis=1), correct[codes].all(axis=1)


def _bootstrap(codes, confidence, correct, threshold: float, *, n_boot: int, level: float, random_state) -> dict:
    """Percentile intervals of whole-code accuracy and of the share sorted, resampling the digits."""
    rng = np.random.default_rng(random_state)
    draws = np.empty((n_boot, 2))
    for b in progress.bar(range(n_boot), desc="postal-code bootstrap", total=n_boot, leave=False):
        code_conf, code_correct = code_scores(rng.integers(0, len(correct), len(correct))[codes], confidence, correct)
        draws[b] = code_correct.mean(), np.mean(code_conf >= threshold)
    low, high = np.percentile(draws, [50 * (1 - level), 50 * (1 + level)], axis=0)
    return {f"{key}_{end}": float(v[i]) for i, key in enumerate(("code_accuracy", "coverage"))
            for end, v in (("low", low), ("high", high))}


def _risk_interval(confidence, correct, threshold: float, *, length: int, level: float) -> dict:
    """Interval of the sorted codes' error rate: the Wilson interval of the digits above the threshold, per code."""
    above = np.asarray(confidence) >= threshold
    low, high = wilson(int(np.sum(above & ~np.asarray(correct))), int(above.sum()), level)
    return {"risk_low": 1 - (1 - low) ** length, "risk_high": 1 - (1 - high) ** length}


def _share_and_risk(code_confidence, code_correct, threshold: float) -> tuple[float, float]:
    """Share of codes sorted at ``threshold`` and the share of those wrong (NaN when none is sorted)."""
    sorted_ = code_confidence >= threshold
    return float(sorted_.mean()), float(np.mean(~code_correct[sorted_])) if sorted_.any() else float("nan")


def _test_point(threshold: float, codes, probabilities, correct, *, n_boot: int, level: float, random_state):
    """``(one model's test figures at threshold, its code-level risk-coverage curve)``."""
    digit_confidence = confidence(probabilities)
    code_confidence, code_correct = code_scores(codes, digit_confidence, correct)
    coverage, risk = _share_and_risk(code_confidence, code_correct, threshold)
    sorted_ = code_confidence >= threshold
    curve = risk_coverage(code_confidence, code_correct)
    length, accuracy = codes.shape[1], float(np.mean(correct))
    return {
        "digit_accuracy": accuracy, "independent_accuracy": accuracy ** length,
        "code_accuracy": float(code_correct.mean()), "threshold": threshold, "n": len(codes),
        "decided": int(sorted_.sum()), "errors": int(np.sum(sorted_ & ~code_correct)), "coverage": coverage,
        "risk": risk, "confidence_levels": len(curve),
        **_bootstrap(codes, digit_confidence, correct, threshold, n_boot=n_boot, level=level,
                     random_state=random_state),
        **_risk_interval(digit_confidence, correct, threshold, length=length, level=level),
    }, curve


def postal_from_scores(validation: dict, test: dict, *, n_codes: int = N_CODES, length: int = LENGTH,
                       target: float = TARGET, n_boot: int = N_BOOT, level: float = LEVEL,
                       random_state: int = 0) -> PostalResult:
    """Compose codes from each split's digits, choose each model's threshold on validation codes, measure test.

    Parameters
    ----------
    validation, test : dict of str to (probabilities, correct)
        Per model: digit probabilities of shape (n, n_classes) and whether the top class
        is right, shape (n,). Only ``validation`` is used to choose a threshold.
    n_codes, length : int
    target : float
        Largest share of wrong codes among those sorted automatically, on validation.
    n_boot : int
    level : float
    random_state : int
        Seeds the two draws of codes and the bootstrap.

    Returns
    -------
    PostalResult
    """
    n_val, n_test = (len(next(iter(split.values()))[1]) for split in (validation, test))
    val_codes = compose_codes(n_val, n_codes=n_codes, length=length, random_state=random_state)
    test_codes = compose_codes(n_test, n_codes=n_codes, length=length, random_state=random_state)
    points, curves = [], []
    for name, (val_proba, val_correct) in validation.items():
        threshold = choose_threshold(*code_scores(val_codes, confidence(val_proba), val_correct), target=target)
        point, curve = _test_point(threshold, test_codes, *test[name], n_boot=n_boot, level=level,
                                   random_state=random_state)
        val_coverage, val_risk = _share_and_risk(*code_scores(val_codes, confidence(val_proba), val_correct),
                                                 threshold)
        points.append({"model": name, **point, "validation_coverage": val_coverage, "validation_risk": val_risk})
        curves.append(curve[["threshold", "decided", "errors"]].assign(model=name, n=n_codes))
    return PostalResult(
        length=length, n_codes=n_codes, target=target, level=level, n_boot=n_boot,
        n_digits={"validation": n_val, "test": n_test},
        max_uses={"validation": int(np.bincount(val_codes.ravel()).max()),
                  "test": int(np.bincount(test_codes.ravel()).max())},
        points=pd.DataFrame(points)[POINT_COLUMNS],
        curves=pd.concat(curves, ignore_index=True)[["model", "threshold", "decided", "errors", "n"]])


@dataclasses.dataclass(frozen=True)
class PostalResult:
    """Whole-code accuracy and the share of codes sorted automatically, per model.

    Attributes
    ----------
    length, n_codes : int
    target, level : float
    n_boot : int
    n_digits, max_uses : dict of str to int
        Per split (``"validation"``, ``"test"``): digits the codes were made of, and the
        most codes any one digit appears in.
    points : DataFrame
        One row per model, columns :data:`POINT_COLUMNS` (``*_low``/``*_high``: intervals, see the module docstring).
    curves : DataFrame
        Code-level test risk–coverage curves: ``model``, ``threshold``, ``decided``, ``errors``, ``n``.
    """

    length: int
    n_codes: int
    target: float
    level: float
    n_boot: int
    n_digits: dict
    max_uses: dict
    points: pd.DataFrame
    curves: pd.DataFrame

    SCHEMA: ClassVar[dict] = {"length": int, "n_codes": int, "target": float, "level": float, "n_boot": int,
                              "n_digits": dict, "max_uses": dict, "points": dict, "curves": dict}

    def to_record(self) -> dict:
        from ..stages import records

        return {"length": int(self.length), "n_codes": int(self.n_codes), "target": float(self.target),
                "level": float(self.level), "n_boot": int(self.n_boot),
                "n_digits": {k: int(v) for k, v in self.n_digits.items()},
                "max_uses": {k: int(v) for k, v in self.max_uses.items()},
                "points": records(self.points), "curves": columns_record(self.curves)}

    @classmethod
    def from_record(cls, record: dict) -> PostalResult:
        from ..stages import frame

        scalars = {key: record[key] for key in ("length", "n_codes", "n_boot")}
        return cls(**{k: int(v) for k, v in scalars.items()}, target=float(record["target"]),
                   level=float(record["level"]), n_digits=dict(record["n_digits"]), max_uses=dict(record["max_uses"]),
                   points=frame(record["points"]), curves=columns_frame(record["curves"]))

    def point(self, name: str) -> dict:
        """Model ``name``'s row of :attr:`points` as a dict."""
        return model_row(self.points, name)

    def plot(self, *, labels=None, colors=None, ax=None):
        """Code-level risk against the share of codes sorted automatically (test)."""
        return plot_risk_coverage(self.curves, self.points, target=self.target, labels=labels, colors=colors,
                                  unit="codes", ax=ax)

    def to_frame(self, labels=None) -> pd.DataFrame:
        """Per model: digit and whole-code accuracy, share sorted automatically, wrong per 1,000 sorted."""
        labels, p = labels or {}, self.points

        def share(column):
            return [f"{v:.1%} ({lo:.1%}–{hi:.1%})" for v, lo, hi in
                    p[[column, f"{column}_low", f"{column}_high"]].to_numpy()]

        interval = f"{self.level:.0%} bootstrap"
        digits = f"{self.level:.0%}, from the digits"
        return pd.DataFrame({
            "model": [labels.get(m, m) for m in p["model"]],
            "digit accuracy": [f"{v:.2%}" for v in p["digit_accuracy"]],
            f"whole-code accuracy ({interval})": share("code_accuracy"),
            f"accuracy^{self.length} (independent digits)": [f"{v:.1%}" for v in p["independent_accuracy"]],
            f"sorted automatically ({interval})": share("coverage"),
            f"wrong per 1,000 sorted ({digits})": [
                "–" if np.isnan(v) else f"{1000 * v:.2f} ({1000 * lo:.2f}–{1000 * hi:.2f})"
                for v, lo, hi in p[["risk", "risk_low", "risk_high"]].to_numpy()],
        })

    def to_html(self, labels=None) -> str:
        from ..visualize import styled_table

        return styled_table(self.to_frame(labels))


# --------------------------------------------------------------------------- the study


def _skip(study) -> str | None:
    from ..data import digit_classes

    return None if digit_classes(study.dataset) else "classes"


def inputs(study) -> dict:
    """The cache key: the validation scores' key and how codes are composed and scored."""
    return {"validation_scores": VALIDATION.inputs(study), "n_codes": N_CODES, "length": LENGTH, "target": TARGET,
            "n_boot": N_BOOT, "level": LEVEL, "seed": study.profile.seed, "version": VERSION}


def compute(study) -> PostalResult:
    scores = result_of(study, VALIDATION)
    validation = {name: (scores.probabilities[name], scores.correct(name)) for name in study.models}
    test = {name: (study.predictions[name].probabilities, study.predictions[name].labels == study.y_test)
            for name in study.models}
    return postal_from_scores(validation, test, n_codes=N_CODES, length=LENGTH, target=TARGET, n_boot=N_BOOT,
                              level=LEVEL, random_state=study.profile.seed)


def facts(study) -> dict | None:
    """Numbers of ``postal.md.j2``: how codes were made, and per model its code accuracy and share sorted."""
    if _skip(study):
        return None
    result = result_of(study, EXPERIMENT)
    if result is None:
        return None
    knn, net = study.headline
    models = {name: {**result.point(name), "label": study.label(name)} for name in study.models}
    return {"length": result.length, "n_codes": result.n_codes, "target": result.target,
            "per": round(1 / result.target), "level": result.level, "n_boot": result.n_boot,
            "n_digits": result.n_digits, "max_uses": result.max_uses, "knn": models[knn], "net": models[net],
            "models": models}


def figure(study):
    """View: code-level risk–coverage curves of every model (test)."""
    return figure_of(study, EXPERIMENT.name, colors=colors(study))


def table(study):
    """View: whole-code accuracy and the share sorted automatically per model (an HTML block)."""
    return table_of(study, EXPERIMENT.name)


EXPERIMENT = Experiment(
    name="postal",
    describe="postal codes: whole-code accuracy and codes sorted automatically at 1 wrong in 1,000",
    inputs=inputs,
    compute=compute,
    result=PostalResult,
    skip=_skip,
    after=VALIDATION.name,
    cost=15,
)
