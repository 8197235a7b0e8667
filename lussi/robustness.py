"""Robustness: accuracy on perturbed test images, and a KNN denoiser.

Perturbations work on raw uint8 batches ``(n, h, w)`` and return new uint8
batches of the same shape (values rounded and clipped to 0..255), vectorised
over the batch and seeded; the shifts and rotations are those of
:mod:`lussi.transforms`. :func:`robustness_table` makes each perturbed test
set once and lets every model predict it, so the models are compared on the
very same images; :func:`plot_robustness` draws the table.

The denoiser is the Hands-On Machine Learning (chapter 3) exercise: add
uniform noise ``rng.integers(0, 100)`` to the pixels and let a multi-output
k-nearest-neighbours model map noisy images back to clean ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import zlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .transforms import rotate_images, shift_images, to_uint8
from .validation import check_image_batch

__all__ = [
    "SEED_NOISE_HIGH",
    "DenoiseResult",
    "KNNDenoiser",
    "Perturbation",
    "add_gaussian_noise",
    "add_seed_noise",
    "default_perturbations",
    "denoise_demo",
    "denoise_gallery_html",
    "plot_robustness",
    "psnr",
    "robustness_facts",
    "robustness_table",
]

# The seed study / HOML noise: integers drawn uniformly from [0, SEED_NOISE_HIGH).
SEED_NOISE_HIGH = 100
# Axis label per perturbation kind of default_perturbations (plot_robustness falls back to "level").
UNITS = {
    "gaussian noise": "noise σ (pixel units, 0–255)",
    "shift": "shift (pixels, random direction)",
    "rotation": "rotation (degrees, random sign)",
    "seed noise": "uniform noise, upper bound (pixel units)",
}
# Directions of a shift, as (dx, dy): right, left, down, up.
_DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def _rng(random_state) -> np.random.Generator:
    return np.random.default_rng(random_state)


# --------------------------------------------------------------------------- perturbations


def add_gaussian_noise(images, sigma: float, *, random_state=None) -> np.ndarray:
    """Add independent Gaussian noise to every pixel.

    Parameters
    ----------
    images : ndarray of shape (n, h, w), uint8
    sigma : float
        Standard deviation in pixel units (0..255 scale); 0 returns a copy.
    random_state : int, Generator or None
        Seed of the noise.

    Returns
    -------
    ndarray of shape (n, h, w), uint8
        ``clip(rint(images + N(0, sigma^2)), 0, 255)``.
    """
    images = check_image_batch(images, dtype=np.uint8)
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0 (pixel units), got {sigma!r}")
    if sigma == 0:
        return images.copy()
    noise = _rng(random_state).normal(0.0, sigma, size=images.shape).astype(np.float32)
    return to_uint8(images + noise)


def add_seed_noise(images, *, high: int = SEED_NOISE_HIGH, random_state=None) -> np.ndarray:
    """The seed study's (and Hands-On ML's) noisy digits: add ``rng.integers(0, high)`` to each pixel.

    The noise only brightens (it is non-negative), as in the book; sums above
    255 are clipped.

    Parameters
    ----------
    images : ndarray of shape (n, h, w), uint8
    high : int, default 100
        Exclusive upper bound of the uniform integer noise; 0 returns a copy.
    random_state : int, Generator or None

    Returns
    -------
    ndarray of shape (n, h, w), uint8
    """
    images = check_image_batch(images, dtype=np.uint8)
    if isinstance(high, bool) or not isinstance(high, (int, np.integer)) or not 0 <= high <= 256:
        raise ValueError(f"high must be an integer in [0, 256], got {high!r}")
    if high == 0:
        return images.copy()
    # Default int64 draws: the same stream as the book's rng.integers(0, 100, shape).
    noise = _rng(random_state).integers(0, high, size=images.shape)
    return np.minimum(images + noise, 255).astype(np.uint8)


def _shift_random_direction(images: np.ndarray, pixels: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each image by ``pixels`` in one of the four directions, chosen per image."""
    if pixels == 0:
        return images.copy()
    choice = rng.integers(0, len(_DIRECTIONS), size=len(images))
    out = np.empty_like(images)
    for index, (dx, dy) in enumerate(_DIRECTIONS):
        members = choice == index
        out[members] = shift_images(images[members], dx * pixels, dy * pixels)
    return out


def _rotate_random_sign(images: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate each image by ``+degrees`` or ``-degrees``, sign chosen per image."""
    if degrees == 0:
        return images.copy()
    positive = rng.random(len(images)) < 0.5
    out = np.empty_like(images)
    out[positive] = rotate_images(images[positive], degrees)
    out[~positive] = rotate_images(images[~positive], -degrees)
    return out


@dataclasses.dataclass(frozen=True)
class Perturbation:
    """One perturbed version of a test set.

    Attributes
    ----------
    name : str
        Kind of perturbation (``"gaussian noise"``, ``"shift"``, ...): one
        axes of :func:`plot_robustness` per name.
    level : float
        Strength on that axes' x scale (0 = unperturbed).
    label : str
        Human description of this level (``"σ=32"``).
    function : callable
        ``function(images, rng) -> images``: uint8 (n, h, w) in and out,
        drawing any randomness from the ``numpy.random.Generator`` given.
    """

    name: str
    level: float
    label: str
    function: Callable[[np.ndarray, np.random.Generator], np.ndarray] = dataclasses.field(compare=False, repr=False)

    def apply(self, images, *, random_state=0) -> np.ndarray:
        """The perturbed batch for ``random_state`` (same seed, same images).

        The generator is seeded by ``random_state`` together with this
        perturbation's name and level, so adding or reordering perturbations
        never changes the images another one produces.
        """
        images = check_image_batch(images, dtype=np.uint8)
        tag = zlib.crc32(f"{self.name}:{self.level!r}".encode())
        out = self.function(images, np.random.default_rng([int(random_state), tag]))
        if not isinstance(out, np.ndarray) or out.shape != images.shape or out.dtype != np.uint8:
            raise ValueError(
                f"perturbation {self.name!r} ({self.label}) must return uint8 of shape {images.shape}, "
                f"got {getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
            )
        return out


def default_perturbations(image_shape: tuple[int, int] = (28, 28)) -> list[Perturbation]:
    """The study's perturbations, each kind starting at its unperturbed level 0.

    * Gaussian noise, sigma 0, 32, 64, 96, 128 (pixel units).
    * Shift by 0..3 pixels: each image moves in one of the four directions
      (right, left, down, up) drawn at random per image, so accuracy is the
      mean over directions on the same number of images (and its interval
      stays honest, unlike pooling four copies of each image).
    * Rotation by 0, 10, 15, 20 degrees: each image turns by +θ or −θ, sign
      drawn per image (the mean of both directions, likewise).
    * Seed noise: ``rng.integers(0, 100)`` added to every pixel (level 0 and 100).

    Shifts stop at ~11 % of the image width (3 pixels of a 28-pixel MNIST
    digit; 1 pixel of an 8x8 one): levels are pixels, ``0..max(1, round(3 * width / 28))``.

    Parameters
    ----------
    image_shape : (int, int), default (28, 28)

    Returns
    -------
    list of Perturbation
    """
    if len(image_shape) != 2 or min(image_shape) < 2:
        raise ValueError(f"image_shape must be (height, width) of at least 2x2, got {image_shape}")
    max_shift = max(1, round(3 * min(image_shape) / 28))
    items = []
    for sigma in (0, 32, 64, 96, 128):
        items.append(Perturbation("gaussian noise", float(sigma), f"σ={sigma}",
                                  lambda x, rng, s=sigma: add_gaussian_noise(x, s, random_state=rng)))
    for pixels in range(max_shift + 1):
        items.append(Perturbation("shift", float(pixels), f"{pixels} px",
                                  lambda x, rng, p=pixels: _shift_random_direction(x, p, rng)))
    for degrees in (0, 10, 15, 20):
        items.append(Perturbation("rotation", float(degrees), f"±{degrees}°" if degrees else "0°",
                                  lambda x, rng, d=degrees: _rotate_random_sign(x, d, rng)))
    for high in (0, SEED_NOISE_HIGH):
        items.append(Perturbation("seed noise", float(high), "clean" if high == 0 else f"+U{{0..{high - 1}}}",
                                  lambda x, rng, h=high: add_seed_noise(x, high=h, random_state=rng)))
    return items


def robustness_table(
    predict_fns: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    images,
    labels,
    *,
    perturbations: Sequence[Perturbation] | None = None,
    random_state: int = 0,
    confidence: float = 0.95,
    progress: bool = True,
) -> pd.DataFrame:
    """Accuracy of each model on each perturbed version of a test set.

    Each perturbed set is made once and predicted by every model; a set equal
    to one already predicted (every kind's level 0 is the clean set) reuses
    those predictions.

    Parameters
    ----------
    predict_fns : dict of str -> callable
        Model name to ``predict(images) -> labels`` (e.g. ``model.predict``).
    images : ndarray of shape (n, h, w), uint8
        Test images.
    labels : ndarray of shape (n,), int
    perturbations : sequence of Perturbation, optional
        Default :func:`default_perturbations` for the images' shape.
    random_state : int, default 0
        Seeds every perturbation (see :meth:`Perturbation.apply`).
    confidence : float, default 0.95
        Level of the Wilson intervals.
    progress : bool, default True
        A tqdm bar over perturbations.

    Returns
    -------
    DataFrame
        One row per (perturbation, model), in perturbation order: columns
        ``perturbation`` (kind), ``level``, ``label``, ``model``, ``accuracy``,
        ``low``, ``high`` (Wilson interval), ``n``.
    """
    from lussi.analysis import accuracy_interval

    images = check_image_batch(images, dtype=np.uint8)
    labels = np.asarray(labels)
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers of shape ({len(images)},), got {labels.dtype} {labels.shape}")
    if not isinstance(predict_fns, Mapping) or not predict_fns:
        raise ValueError("predict_fns must be a non-empty dict of model name -> predict(images) callable")
    for name, fn in predict_fns.items():
        if not callable(fn):
            raise TypeError(f"predict_fns[{name!r}] must be callable, got {type(fn).__name__}")
    if perturbations is None:
        perturbations = default_perturbations(images.shape[1:])
    if not perturbations:
        raise ValueError("perturbations is empty; pass at least one Perturbation")

    steps = perturbations
    if progress:
        from tqdm import tqdm

        steps = tqdm(perturbations, desc="robustness", unit="set")
    seen: dict[str, dict[str, np.ndarray]] = {}
    rows = []
    for perturbation in steps:
        perturbed = perturbation.apply(images, random_state=random_state)
        digest = hashlib.sha256(perturbed.tobytes()).hexdigest()
        if digest not in seen:
            seen[digest] = {name: np.asarray(fn(perturbed)) for name, fn in predict_fns.items()}
        for name, predicted in seen[digest].items():
            ci = accuracy_interval(labels, predicted, confidence=confidence)
            rows.append({
                "perturbation": perturbation.name,
                "level": float(perturbation.level),
                "label": perturbation.label,
                "model": str(name),
                "accuracy": ci.accuracy,
                "low": ci.low,
                "high": ci.high,
                "n": ci.n,
            })
    table = pd.DataFrame(rows, columns=["perturbation", "level", "label", "model", "accuracy", "low", "high", "n"])
    table.attrs["confidence"] = confidence
    return table


def robustness_facts(table: pd.DataFrame, a: str, b: str) -> dict:
    """Numbers the report's robustness paragraph quotes, for two models of a :func:`robustness_table`.

    Parameters
    ----------
    table : DataFrame
        From :func:`robustness_table`.
    a, b : str
        Model names (e.g. the best KNN and the best network).

    Returns
    -------
    dict
        ``a``, ``b``, ``n`` (test images) and ``kinds``: one dict per
        perturbation kind, in table order, with ``name``, ``label`` (of its
        strongest level), ``a_clean``/``b_clean`` (accuracy at the lowest
        level), ``a_worst``/``b_worst`` (at the strongest level),
        ``a_drop``/``b_drop`` (clean minus worst), ``more_robust`` (the model
        with the smaller drop, or None when the strongest level's 95 %
        intervals overlap) and ``levels``: per level ``label``, ``a``, ``b``.
    """
    from lussi.plotting import require_columns

    require_columns(table, ["perturbation", "level", "label", "model", "accuracy", "low", "high", "n"], "table")
    for name in (a, b):
        if name not in set(table["model"]):
            raise ValueError(f"model {name!r} is not in the table; it has {sorted(set(table['model']))}")
    kinds = []
    for kind in pd.unique(table["perturbation"]):
        part = table[table["perturbation"] == kind].sort_values("level", kind="stable")
        rows = {name: part[part["model"] == name].set_index("level") for name in (a, b)}
        lowest, highest = part["level"].min(), part["level"].max()
        worst = {name: rows[name].loc[highest] for name in (a, b)}
        drop = {name: float(rows[name].loc[lowest, "accuracy"] - worst[name]["accuracy"]) for name in (a, b)}
        overlap = worst[a]["low"] <= worst[b]["high"] and worst[b]["low"] <= worst[a]["high"]
        kinds.append({
            "name": str(kind),
            "label": str(worst[a]["label"]),
            "a_clean": float(rows[a].loc[lowest, "accuracy"]),
            "b_clean": float(rows[b].loc[lowest, "accuracy"]),
            "a_worst": float(worst[a]["accuracy"]),
            "b_worst": float(worst[b]["accuracy"]),
            "a_drop": drop[a],
            "b_drop": drop[b],
            "more_robust": None if overlap else (a if drop[a] < drop[b] else b),
            "levels": [
                {"label": str(rows[a].loc[level, "label"]), "a": float(rows[a].loc[level, "accuracy"]),
                 "b": float(rows[b].loc[level, "accuracy"])}
                for level in rows[a].index
            ],
        })
    return {"a": a, "b": b, "n": int(table["n"].iloc[0]), "kinds": kinds}


def plot_robustness(table: pd.DataFrame, *, colors: Mapping[str, str] | None = None, units: Mapping[str, str] | None = None):
    """Accuracy against perturbation strength: one axes per kind, one line per model.

    Parameters
    ----------
    table : DataFrame
        From :func:`robustness_table` (``perturbation``, ``level``, ``label``,
        ``model``, ``accuracy``; ``low``/``high`` drawn as a band if present).
    colors : dict of str -> colour, optional
        From :func:`lussi.plotting.model_colors`.
    units : dict of str -> str, optional
        x-axis label per perturbation kind; defaults cover
        :func:`default_perturbations`, others read "level".

    Returns
    -------
    matplotlib.figure.Figure
        ``n_kinds`` axes sharing the accuracy scale, one line per model each.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    from lussi.plotting import LABEL_SIZE, TICK_SIZE, TITLE_SIZE, colors_for, require_columns

    require_columns(table, ["perturbation", "level", "label", "model", "accuracy"], "table")
    kinds = list(pd.unique(table["perturbation"]))
    models = [str(m) for m in pd.unique(table["model"])]
    palette = colors_for(models, colors)
    labels = {**UNITS, **(dict(units) if units else {})}
    fig = Figure(figsize=(3.2 * len(kinds) + 1.5, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(kinds), sharey=True))
    for ax, kind in zip(axes, kinds, strict=True):
        part = table[table["perturbation"] == kind]
        for model in models:
            line = part[part["model"].astype(str) == model].sort_values("level")
            x = line["level"].to_numpy(dtype=float)
            ax.plot(x, line["accuracy"], marker="o", color=palette[model], label=model)
            if {"low", "high"} <= set(line.columns):
                ax.fill_between(x, line["low"], line["high"], color=palette[model], alpha=0.15, linewidth=0)
        ticks = part.drop_duplicates("level").sort_values("level")
        ax.set_xticks(ticks["level"].to_numpy(dtype=float), [str(t) for t in ticks["label"]])
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=TICK_SIZE)
        ax.set_title(str(kind).capitalize(), fontsize=TITLE_SIZE)
        ax.set_xlabel(labels.get(kind, "level"), fontsize=LABEL_SIZE - 1)
    axes[0].set_ylabel("test accuracy", fontsize=LABEL_SIZE)
    axes[-1].legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


# --------------------------------------------------------------------------- denoiser


def psnr(mse: float, *, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(peak^2 / mse)`` (inf when mse is 0)."""
    if mse < 0:
        raise ValueError(f"mse must be >= 0, got {mse}")
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak**2 / mse))


class KNNDenoiser:
    """Map noisy images to clean ones by averaging the clean versions of the nearest noisy training images.

    This is a multi-output k-NN regressor (the same numbers as scikit-learn's
    ``KNeighborsRegressor(n_neighbors, weights="uniform")`` on flattened
    pixels), chosen over Hands-On ML's ``KNeighborsClassifier``: the mean of
    the neighbours minimises the squared error that MSE/PSNR measure, whereas
    the classifier takes a per-pixel majority vote over 256 "classes" and
    stitches together pixels from different neighbours; it also runs 784
    separate votes in Python-level loops. Neighbours come from the exact
    search of :class:`lussi.models.search.BoundIndex`.

    Parameters
    ----------
    n_neighbors : int, default 5
    random_state : int, default 0
        Seeds the search index's rotation sample.
    """

    def __init__(self, n_neighbors: int = 5, *, random_state: int = 0):
        if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors <= 0:
            raise ValueError(f"n_neighbors must be a positive integer, got {n_neighbors!r}")
        self.n_neighbors = int(n_neighbors)
        self.random_state = random_state
        self._index = None

    def fit(self, noisy, clean) -> KNNDenoiser:
        """Store pairs of noisy inputs and clean targets.

        Parameters
        ----------
        noisy, clean : ndarray of shape (n, h, w), uint8
            The same images with and without noise.

        Returns
        -------
        self
        """
        from lussi.models.search import BoundIndex

        noisy = check_image_batch(noisy, name="noisy", dtype=np.uint8)
        clean = check_image_batch(clean, name="clean", dtype=np.uint8)
        if noisy.shape != clean.shape:
            raise ValueError(f"noisy and clean must have the same shape, got {noisy.shape} and {clean.shape}")
        if self.n_neighbors > len(noisy):
            raise ValueError(f"n_neighbors={self.n_neighbors} exceeds the {len(noisy)} training pairs")
        self.image_shape = noisy.shape[1:]
        self._targets = clean.reshape(len(clean), -1)
        self._index = BoundIndex(noisy.reshape(len(noisy), -1), random_state=self.random_state)
        return self

    def predict(self, noisy) -> np.ndarray:
        """Denoised images.

        Parameters
        ----------
        noisy : ndarray of shape (n, h, w), uint8

        Returns
        -------
        ndarray of shape (n, h, w), uint8
            Rounded mean of the clean targets of the ``n_neighbors`` nearest noisy training images.
        """
        if self._index is None:
            raise RuntimeError("this KNNDenoiser is not fitted; call fit(noisy, clean) first")
        noisy = check_image_batch(noisy, name="noisy", dtype=np.uint8)
        if noisy.shape[1:] != self.image_shape:
            raise ValueError(f"noisy images must be {self.image_shape}, got {noisy.shape[1:]}")
        out = np.empty((len(noisy), int(np.prod(self.image_shape))), dtype=np.uint8)
        # Chunks bound the (chunk, k, h*w) gather of neighbour targets.
        for start in range(0, len(noisy), 2048):
            block = noisy[start:start + 2048].reshape(-1, out.shape[1])
            _, rows = self._index.search_squared(block, self.n_neighbors)
            mean = self._targets[rows].mean(axis=1, dtype=np.float32)
            out[start:start + len(block)] = to_uint8(mean)
        return out.reshape(len(noisy), *self.image_shape)


@dataclasses.dataclass(frozen=True, eq=False)
class DenoiseResult:
    """Outcome of :func:`denoise_demo`.

    Attributes
    ----------
    noisy, denoised, clean : ndarray of shape (n_show, h, w), uint8
        The first ``n_show`` test images, for display.
    mse_noisy, mse_denoised : float
        Mean squared pixel error against the clean images over all ``n_test``
        test images (0..255 units), before and after denoising.
    psnr_noisy, psnr_denoised : float
        The same as PSNR in dB (peak 255).
    n_train, n_test, n_neighbors : int
    """

    noisy: np.ndarray
    denoised: np.ndarray
    clean: np.ndarray
    mse_noisy: float
    mse_denoised: float
    psnr_noisy: float
    psnr_denoised: float
    n_train: int = 0
    n_test: int = 0
    n_neighbors: int = 0

    def to_record(self) -> dict:
        """JSON-ready dict (images as nested lists), for the cache."""
        record = dataclasses.asdict(self)
        for key in ("noisy", "denoised", "clean"):
            record[key] = getattr(self, key).tolist()
        return record

    @classmethod
    def from_record(cls, record: Mapping) -> DenoiseResult:
        """Inverse of :meth:`to_record`."""
        values = dict(record)
        for key in ("noisy", "denoised", "clean"):
            values[key] = np.asarray(values[key], dtype=np.uint8)
        return cls(**values)


def denoise_demo(
    train_images,
    test_images,
    *,
    n_train: int = 20000,
    n_test: int = 2000,
    n_show: int = 10,
    n_neighbors: int = 5,
    random_state: int = 0,
) -> DenoiseResult:
    """Train a :class:`KNNDenoiser` on seed-noised training images and score it on noised test images.

    Parameters
    ----------
    train_images : ndarray of shape (N, h, w), uint8
        A random ``n_train`` of them (all if fewer) become (noisy, clean) pairs.
    test_images : ndarray of shape (M, h, w), uint8
        The first ``n_test`` (all if fewer) are noised, denoised and scored.
    n_train, n_test : int
    n_show : int, default 10
        Test images kept in the result for display.
    n_neighbors : int, default 5
    random_state : int, default 0
        Seeds the sample and the noise (training and test noise differ).

    Returns
    -------
    DenoiseResult
    """
    train_images = check_image_batch(train_images, name="train_images", dtype=np.uint8)
    test_images = check_image_batch(test_images, name="test_images", dtype=np.uint8)
    for name, value in (("n_train", n_train), ("n_test", n_test), ("n_show", n_show)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    rng = np.random.default_rng(random_state)
    pick = np.sort(rng.choice(len(train_images), size=min(n_train, len(train_images)), replace=False))
    clean_train = train_images[pick]
    noise_train, noise_test = rng.spawn(2)
    denoiser = KNNDenoiser(n_neighbors, random_state=random_state).fit(
        add_seed_noise(clean_train, random_state=noise_train), clean_train
    )
    clean = test_images[:n_test]
    noisy = add_seed_noise(clean, random_state=noise_test)
    denoised = denoiser.predict(noisy)
    reference = clean.astype(np.float64)
    mse_noisy = float(np.mean((noisy - reference) ** 2))
    mse_denoised = float(np.mean((denoised - reference) ** 2))
    shown = slice(0, min(n_show, len(clean)))
    return DenoiseResult(
        noisy=noisy[shown], denoised=denoised[shown], clean=clean[shown],
        mse_noisy=mse_noisy, mse_denoised=mse_denoised,
        psnr_noisy=psnr(mse_noisy), psnr_denoised=psnr(mse_denoised),
        n_train=len(clean_train), n_test=len(clean), n_neighbors=n_neighbors,
    )


def denoise_gallery_html(result: DenoiseResult, *, scale: int = 2) -> str:
    """Three rows of digits: noisy input, denoised output, clean original.

    Parameters
    ----------
    result : DenoiseResult
    scale : int, default 2
        Nearest-neighbour upscaling of each digit.

    Returns
    -------
    str
        A ``<div>`` holding a :func:`lussi.visualize.gallery_html` grid
        (``3 * n_show`` images) and a one-line MSE/PSNR caption.
    """
    from lussi.visualize import gallery_html

    if not isinstance(result, DenoiseResult):
        raise TypeError(f"result must be a DenoiseResult (from denoise_demo), got {type(result).__name__}")
    n = len(result.clean)
    images = np.concatenate([result.noisy, result.denoised, result.clean])
    captions = ["noisy"] * n + ["denoised"] * n + ["clean"] * n
    grid = gallery_html(images, captions, columns=n, max_items=len(images), scale=scale)
    caption = (
        f"MSE {result.mse_noisy:.0f} → {result.mse_denoised:.0f}, "
        f"PSNR {result.psnr_noisy:.1f} → {result.psnr_denoised:.1f} dB "
        f"({result.n_test:,} test images, k={result.n_neighbors}, {result.n_train:,} training pairs)"
    )
    return (
        f'<div class="lussi-denoise">{grid}'
        f'<div style="font:12px/1.3 sans-serif;margin-top:4px">{html.escape(caption)}</div></div>'
    )
