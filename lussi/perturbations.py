"""Perturbations of uint8 digit batches: noise, shifts, rotations (seeded, vectorised).

Each works on a raw uint8 batch ``(n, h, w)`` and returns a new uint8 batch of
the same shape (values rounded and clipped to 0..255); the shifts and rotations
are those of :mod:`lussi.transforms`. :class:`Perturbation` names one perturbed
version of a test set; :func:`default_perturbations` lists the study's. The
robustness experiment (:mod:`lussi.experiments.robustness`) and the denoiser
(:mod:`lussi.experiments.denoise`) use them.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable

import numpy as np

from .transforms import rotate_images, shift_images, to_uint8
from .validation import check_image_batch

__all__ = ["SEED_NOISE_HIGH", "Perturbation", "add_gaussian_noise", "add_seed_noise", "default_perturbations"]

# The seed study / HOML noise: integers drawn uniformly from [0, SEED_NOISE_HIGH).
SEED_NOISE_HIGH = 100
# Directions of a shift, as (dx, dy): right, left, down, up.
_DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def _rng(random_state) -> np.random.Generator:
    return np.random.default_rng(random_state)


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
        axes of the robustness figure per name.
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
