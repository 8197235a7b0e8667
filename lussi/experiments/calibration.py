"""Calibration: does a model's confidence say how often it is right?

For each headline model (best KNN, best network) this measures, on the test split,
the reliability of its top-class confidence, before and after a calibration fitted
on the validation split only (:mod:`lussi.experiments.validation_scores`):

- **networks: temperature scaling** (Guo et al., 2017). The logits are the log
  probabilities (a softmax output determines its logits up to a constant, which the
  softmax ignores); one temperature ``T`` divides them, chosen to minimise the
  validation negative log-likelihood with :func:`scipy.optimize.minimize_scalar`.
- **KNN: isotonic regression** of "the top class is right" on the top vote share
  (:class:`sklearn.isotonic.IsotonicRegression`, on validation). A vote share takes
  few values; isotonic regression maps each to the validation accuracy of its
  digits, pooling neighbours only where that accuracy would fall as the share
  rises. It assumes no shape, unlike a Platt (logistic) fit, which would force a
  sigmoid through a handful of points, or a temperature, which only raises shares
  to one power.

Neither changes which class a model predicts (a temperature keeps the order of the
classes, the isotonic map only rescales the top share), so accuracy is unchanged.

**Binning.** The expected calibration error (ECE) uses :data:`N_BINS` equal-width
bins of top-class confidence, ``(m - 1)/M < c <= m/M`` (the first also holds 0):
ECE = sum over bins of (digits in the bin / all digits) x |accuracy - mean
confidence| in the bin. Reliability diagrams plot the same bins.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pandas as pd

from .base import Experiment, figure_of, table_of
from .validation_scores import EXPERIMENT as VALIDATION
from .validation_scores import result_of

__all__ = ["EXPERIMENT", "METHODS", "N_BINS", "CalibrationResult", "Calibrator", "calibrate_scores",
           "expected_calibration_error", "facts", "figure", "fit_calibrator", "fit_temperature", "reliability_table",
           "table", "temperature_scale"]

VERSION = 1
N_BINS = 15
# The calibration fitted to each family's scores (see the module docstring for why).
METHODS = {"network": "temperature", "knn": "isotonic"}
# Softmax outputs stored as float32 can underflow to 0; their log is clipped here instead of -inf.
_TINY = float(np.finfo(np.float32).tiny)
BIN_COLUMNS = ["model", "stage", "bin", "lower", "upper", "count", "confidence", "accuracy"]


def reliability_table(confidence, correct, *, n_bins: int = N_BINS) -> pd.DataFrame:
    """Digits, mean confidence and accuracy in each of ``n_bins`` equal-width confidence bins.

    Returns
    -------
    DataFrame
        One row per bin (empty ones too, with NaN means): ``bin``, ``lower``, ``upper``,
        ``count``, ``confidence``, ``accuracy``.
    """
    confidence = np.asarray(confidence, dtype=np.float32)
    correct = np.asarray(correct, dtype=bool)
    if confidence.ndim != 1 or confidence.shape != correct.shape or not len(confidence):
        raise ValueError(f"confidence and correct must be non-empty arrays of shape (n,), got "
                         f"{confidence.shape} and {correct.shape}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Compared in float32, the probabilities' dtype: a vote share such as 2/3 equals its bin's upper edge exactly.
    index = np.digitize(confidence, edges[1:-1].astype(np.float32), right=True)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence.astype(np.float64), minlength=n_bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=n_bins) / count
    return pd.DataFrame({"bin": np.arange(n_bins), "lower": edges[:-1], "upper": edges[1:], "count": count,
                         "confidence": mean_confidence, "accuracy": accuracy})


def expected_calibration_error(confidence, correct, *, n_bins: int = N_BINS) -> float:
    """ECE: the digits' share-weighted mean of |accuracy - mean confidence| over the bins."""
    return _ece(reliability_table(confidence, correct, n_bins=n_bins))


def _ece(bins: pd.DataFrame) -> float:
    filled = bins[bins["count"] > 0]
    return float((filled["count"] * (filled["accuracy"] - filled["confidence"]).abs()).sum() / filled["count"].sum())


def temperature_scale(probabilities, temperature: float) -> np.ndarray:
    """``softmax(log(probabilities) / temperature)``: ndarray of the same shape, float64."""
    from scipy.special import softmax

    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), _TINY, None))
    return softmax(logits / temperature, axis=1)


def fit_temperature(probabilities, labels, *, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` under :func:`temperature_scale`.

    Parameters
    ----------
    probabilities : ndarray of shape (n, n_classes)
        Validation probabilities (softmax outputs).
    labels : ndarray of shape (n,), int
        Their true classes (column indices).
    bounds : (float, float)
        Search interval of the temperature (searched on its logarithm).

    Returns
    -------
    float
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), _TINY, None))
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2 or len(logits) != len(labels):
        raise ValueError(f"probabilities must have shape (n, n_classes) with n = {len(labels)}, got {logits.shape}")
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[rows, labels].mean())

    found = minimize_scalar(nll, bounds=np.log(bounds), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))


@dataclasses.dataclass(frozen=True)
class Calibrator:
    """A fitted calibration of top-class confidence.

    Attributes
    ----------
    method : {"temperature", "isotonic", "none"}
    temperature : float or None
        For ``"temperature"``.
    x, y : tuple of float
        For ``"isotonic"``: the fitted map's breakpoints (``X_thresholds_``, ``y_thresholds_``).
    """

    method: str
    temperature: float | None = None
    x: tuple = ()
    y: tuple = ()

    def confidence(self, probabilities) -> np.ndarray:
        """Calibrated top-class confidence of each row: ndarray of shape (n,), float64."""
        probabilities = np.asarray(probabilities)
        if self.method == "temperature":
            return temperature_scale(probabilities, self.temperature).max(axis=1)
        top = probabilities.max(axis=1).astype(np.float64)
        if self.method == "isotonic":
            # What IsotonicRegression(out_of_bounds="clip").predict does: linear between breakpoints, clipped.
            return np.interp(top, self.x, self.y)
        return top

    def to_record(self) -> dict:
        return {"method": self.method, "temperature": self.temperature, "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_record(cls, record: dict) -> Calibrator:
        temperature = record.get("temperature")
        return cls(record["method"], None if temperature is None else float(temperature),
                   tuple(float(v) for v in record["x"]), tuple(float(v) for v in record["y"]))


def fit_calibrator(method: str, probabilities, labels) -> Calibrator:
    """Fit ``method`` (a value of :data:`METHODS`, or ``"none"``) on validation probabilities and labels."""
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    if method == "temperature":
        return Calibrator("temperature", temperature=fit_temperature(probabilities, labels))
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        correct = probabilities.argmax(axis=1) == labels
        fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
            probabilities.max(axis=1).astype(np.float64), correct.astype(np.float64))
        return Calibrator("isotonic", x=tuple(fitted.X_thresholds_.tolist()), y=tuple(fitted.y_thresholds_.tolist()))
    if method == "none":
        return Calibrator("none")
    raise ValueError(f"method must be one of temperature, isotonic, none; got {method!r}")


@dataclasses.dataclass(frozen=True)
class CalibrationResult:
    """Reliability of each model's test confidence before and after its validation-fitted calibration.

    Attributes
    ----------
    n_bins : int
    calibrators : dict of str to Calibrator
        Per model, fitted on validation.
    bins : DataFrame
        Test reliability bins, columns :data:`BIN_COLUMNS` (``stage`` is ``"before"`` or ``"after"``).
    validation_ece : DataFrame
        ``model``, ``before``, ``after``: the same ECE on the validation split the calibration was fitted on.
    """

    n_bins: int
    calibrators: dict
    bins: pd.DataFrame
    validation_ece: pd.DataFrame

    SCHEMA: ClassVar[dict] = {"n_bins": int, "calibrators": dict, "bins": dict, "validation_ece": dict}

    def ece(self, name: str, stage: str) -> float:
        """Test ECE of model ``name`` ``"before"`` or ``"after"`` calibration."""
        bins = self.bins
        return _ece(bins[(bins["model"] == name) & (bins["stage"] == stage)])

    def to_record(self) -> dict:
        from ..stages import records

        return {"n_bins": int(self.n_bins),
                "calibrators": {name: c.to_record() for name, c in self.calibrators.items()},
                "bins": records(self.bins), "validation_ece": records(self.validation_ece)}

    @classmethod
    def from_record(cls, record: dict) -> CalibrationResult:
        from ..stages import frame

        return cls(int(record["n_bins"]),
                   {name: Calibrator.from_record(c) for name, c in record["calibrators"].items()},
                   frame(record["bins"]), frame(record["validation_ece"]))

    def to_frame(self, labels=None) -> pd.DataFrame:
        """Per model: method, fitted parameter, ECE on validation and test before and after."""
        labels = labels or {}
        rows = []
        for name, calibrator in self.calibrators.items():
            val = self.validation_ece.set_index("model").loc[name]
            fitted = {"temperature": f"T = {calibrator.temperature:.3f}" if calibrator.temperature else "",
                      "isotonic": f"{len(calibrator.x)} breakpoint{'' if len(calibrator.x) == 1 else 's'}",
                      "none": ""}[calibrator.method]
            rows.append({"model": labels.get(name, name), "calibration (fitted on validation)": calibrator.method,
                         "fitted": fitted, "validation ECE before": val["before"], "validation ECE after": val["after"],
                         "test ECE before": self.ece(name, "before"), "test ECE after": self.ece(name, "after")})
        return pd.DataFrame(rows)

    def to_html(self, labels=None) -> str:
        from ..visualize import styled_table

        table = self.to_frame(labels)
        return styled_table(table, percent_columns=[c for c in table.columns if "ECE" in c], precision=4)

    def plot(self, *, labels=None):
        """Reliability diagrams: one panel per model, its test bins before and after calibration."""
        from .. import plotting

        names = list(self.calibrators)
        labels = labels or {name: name for name in names}
        fig, axes = plotting.new_figure(figsize=(4.6 * len(names), 4.4), ncols=len(names))
        bins = self.bins[self.bins["count"] > 0]
        for ax, name in zip(np.atleast_1d(axes), names, strict=True):
            for stage, colour, fill in (("before", plotting.PALETTE[6], "none"), ("after", plotting.PALETTE[0], None)):
                part = bins[(bins["model"] == name) & (bins["stage"] == stage)]
                sizes = 12 + 200 * part["count"] / part["count"].sum()
                ax.plot(part["confidence"], part["accuracy"], color=colour, lw=1, ls="--" if fill else "-")
                ax.scatter(part["confidence"], part["accuracy"], s=sizes, color=colour, facecolors=fill, zorder=3,
                           label=f"{stage}: ECE {self.ece(name, stage):.2%}")
            ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls=":")
            ax.set(xlim=(0, 1.02), ylim=(0, 1.02))
            ax.legend(fontsize=8, loc="upper left")
            ax.grid(alpha=0.3)
            plotting.finish(ax, title=f"{labels[name]}: {self.calibrators[name].method}",
                            xlabel=f"mean confidence in bin ({self.n_bins} equal-width bins)",
                            ylabel="accuracy in bin (test)")
        return fig


def calibrate_scores(validation: dict, test: dict, methods: dict, *, n_bins: int = N_BINS) -> CalibrationResult:
    """Fit ``methods[name]`` on ``validation[name]`` and measure test reliability before and after.

    Parameters
    ----------
    validation, test : dict of str to (probabilities, labels)
        Per model: probabilities of shape (n, n_classes) and true class indices of shape (n,).
    methods : dict of str to str
        Per model, a value of :data:`METHODS` or ``"none"``.
    n_bins : int

    Returns
    -------
    CalibrationResult
    """
    calibrators, bins, validation_ece = {}, [], []
    for name, method in methods.items():
        val_proba, val_labels = validation[name]
        calibrator = calibrators[name] = fit_calibrator(method, val_proba, val_labels)
        val_correct = np.asarray(val_proba).argmax(axis=1) == val_labels
        validation_ece.append({"model": name, "before": expected_calibration_error(
            np.max(val_proba, axis=1), val_correct, n_bins=n_bins), "after": expected_calibration_error(
            calibrator.confidence(val_proba), val_correct, n_bins=n_bins)})
        test_proba, test_labels = test[name]
        correct = np.asarray(test_proba).argmax(axis=1) == test_labels
        for stage, scores in (("before", np.max(test_proba, axis=1)), ("after", calibrator.confidence(test_proba))):
            bins.append(reliability_table(scores, correct, n_bins=n_bins).assign(model=name, stage=stage))
    return CalibrationResult(n_bins, calibrators, pd.concat(bins, ignore_index=True)[BIN_COLUMNS],
                             pd.DataFrame(validation_ece, columns=["model", "before", "after"]))


# --------------------------------------------------------------------------- the study


def inputs(study) -> dict:
    """The cache key: the validation scores' key, the headline pair, the binning."""
    return {"validation_scores": VALIDATION.inputs(study), "models": list(study.headline), "n_bins": N_BINS,
            "methods": METHODS, "version": VERSION}


def compute(study) -> CalibrationResult:
    scores = result_of(study, VALIDATION)
    names = list(dict.fromkeys(study.headline))
    validation = {name: (scores.probabilities[name], scores.labels) for name in names}
    test = {name: (study.predictions[name].probabilities, study.y_test) for name in names}
    methods = {name: METHODS.get(study.models[name].family, "none") for name in names}
    return calibrate_scores(validation, test, methods, n_bins=N_BINS)


def facts(study) -> dict:
    """Numbers of ``calibration.md.j2``: binning, and per headline model its method and ECEs."""
    result = result_of(study, EXPERIMENT)
    if result is None:
        return None
    knn, net = study.headline
    validation = result.validation_ece.set_index("model")
    models = {name: {"name": name, "label": study.label(name), "method": c.method, "temperature": c.temperature,
                     "breakpoints": len(c.x), "ece_before": result.ece(name, "before"),
                     "ece_after": result.ece(name, "after"),
                     "validation_ece_before": float(validation.loc[name, "before"]),
                     "validation_ece_after": float(validation.loc[name, "after"])}
              for name, c in result.calibrators.items()}
    return {"n_bins": result.n_bins, "bin_width": 1 / result.n_bins, "knn": models[knn], "net": models[net],
            "models": models}


def figure(study):
    """View: reliability diagrams of the headline pair, before and after calibration."""
    return figure_of(study, EXPERIMENT.name)


def table(study):
    """View: each headline model's calibration and ECE (an HTML block)."""
    return table_of(study, EXPERIMENT.name)


EXPERIMENT = Experiment(
    name="calibration",
    describe="calibration: reliability and ECE before and after temperature / isotonic scaling",
    inputs=inputs,
    compute=compute,
    result=CalibrationResult,
    after=VALIDATION.name,
    cost=3,
)
