"""Checks shared by the handwriting tests: is an image MNIST-like, are two the same digit, a fixed model."""

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

# The four committed example pictures (the README's `lussi predict` example).
FIXTURES = Path(__file__).parent / "fixtures" / "handwriting"
# Training digits the handwriting tests' KNN is fitted on: enough for a pixel KNN to read clean digits.
N_TRAIN = 5000


def shifted_correlation(a, b):
    """Best correlation over shifts of up to one pixel: MNIST rounds its centring shift, so
    a digit whose centre of mass sits near a half pixel may land one pixel either way."""
    a, b = a.astype(float), b.astype(float).ravel()
    return max(
        np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b)[0, 1] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )


def bbox(image):
    """(height, width) of the inked part of ``image``."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def assert_mnist_like(image, *, size=28, box=20):
    """``image`` is converted like MNIST: the digit fills ``box``, centred by mass, full-strength ink."""
    assert image.shape == (size, size) and image.dtype == np.uint8
    height, width = bbox(image)
    assert max(height, width) <= box and max(height, width) >= box - 1
    cy, cx = ndimage.center_of_mass(image.astype(float))
    # MNIST's centres of mass all lie in [13.5, 14.5] (whole-pixel shift to the middle).
    assert abs(cy - size / 2) <= 0.51 and abs(cx - size / 2) <= 0.51
    assert image.max() == 255


def assert_same_digit(a, b, *, mean_difference=6.0, correlation=0.97, name=""):
    """``a`` and ``b`` differ little pixel by pixel and correlate closely."""
    difference = float(np.abs(a.astype(int) - b.astype(int)).mean())
    similarity = float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])
    assert difference < mean_difference and similarity > correlation, (name, difference, similarity)


def photographed(digit, rng, *, shape=(260, 200), tint=(235, 228, 210), ink=(30, 30, 70)):
    """An MNIST digit drawn dark on tinted paper at a larger size, with noise (RGB uint8)."""
    height, width = shape
    side = min(height, width)
    big = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)
    alpha = np.zeros(shape, np.float32)
    top, left = (height - side) // 2, (width - side) // 2
    alpha[top : top + side, left : left + side] = np.clip(big, 0, 255) / 255
    pixels = np.array(tint, np.float32) * (1 - alpha[..., None]) + np.array(ink, np.float32) * alpha[..., None]
    pixels += rng.normal(0, 3, pixels.shape)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


class FixedModel:
    """A model whose probabilities are given: the same rows whatever the images."""

    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=np.float32)

    def predict(self, images):
        return np.argmax(self.proba, axis=1).astype(np.int64)

    def predict_proba(self, images):
        return self.proba
