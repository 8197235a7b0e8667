"""The KNN denoiser: the seed study's noisy digits mapped back to clean ones by a multi-output k-NN.

This is the Hands-On Machine Learning (chapter 3) exercise: add uniform noise
``rng.integers(0, 100)`` to the pixels and let a k-nearest-neighbours model map
noisy images back to clean ones, trained on training pairs and scored on test
images. :class:`DenoiseResult` holds the scores and a few images, and draws its
gallery; :data:`EXPERIMENT` declares it to the study.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Mapping

import numpy as np

from ..perturbations import add_seed_noise
from ..transforms import to_uint8
from ..validation import check_image_batch
from ..visualize import gallery_html, html_block
from .base import Experiment, note

__all__ = ["EXPERIMENT", "DenoiseResult", "KNNDenoiser", "denoise_demo", "denoise_gallery_html", "facts", "gallery",
           "psnr"]

# Bump to recompute every cached denoiser result (shared with the other extras of the first study).
VERSION = 1

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
        from ..models.search import BoundIndex

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

    SCHEMA = {**{key: list for key in ("noisy", "denoised", "clean")},
              **{key: float for key in ("mse_noisy", "mse_denoised", "psnr_noisy", "psnr_denoised")}}

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

    def scores(self) -> dict:
        """The denoiser's numbers for the text: MSE and PSNR before and after, and the sizes."""
        return {key: getattr(self, key) for key in
                ("mse_noisy", "mse_denoised", "psnr_noisy", "psnr_denoised", "n_train", "n_test", "n_neighbors")}

    def to_html(self, *, scale: int = 2) -> str:
        """:func:`denoise_gallery_html` of this result."""
        return denoise_gallery_html(self, scale=scale)


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


# --------------------------------------------------------------------------- the experiment


def _options(study) -> dict:
    profile = study.profile
    return {"n_train": profile.denoise_n_train, "n_test": profile.denoise_n_test, "n_show": 10, "n_neighbors": 5}


def _inputs(study) -> dict:
    from ..models.train import library_versions

    return {"data": study.dataset.fingerprint, **_options(study), "seed": study.profile.seed,
            "versions": library_versions("knn"), "version": VERSION}


def _compute(study) -> DenoiseResult:
    dataset = study.dataset
    return denoise_demo(dataset.train_images, dataset.test_images, **_options(study), random_state=study.profile.seed)


EXPERIMENT = Experiment("denoise", "KNN denoiser", _inputs, _compute, DenoiseResult, cost=8)


def facts(study) -> dict | None:
    """The denoiser's scores (None when not computed)."""
    result = study.result("denoise")
    return None if result is None else result.scores()


@html_block
def gallery(study) -> str:
    """Noisy test images, the KNN denoiser's output and the clean originals."""
    result = study.result("denoise")
    if result is None:
        return note("The denoiser was not computed for this rendering.")
    return result.to_html()
