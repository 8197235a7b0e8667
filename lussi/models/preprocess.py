"""Image preprocessing for the KNN pipeline: deskewing, blurring, shifted and zoomed copies.

All functions take a batch of images of shape ``(n, height, width)`` (uint8
0-255 or float on the same 0-255 scale) and work on the whole batch at once.
"""

from __future__ import annotations

import numpy as np

__all__ = ["deskew", "gaussian_blur", "shifted_copies", "zoom"]

# Images per map_coordinates call in deskew: its coordinate array is
# 3 x 8 bytes per output pixel, 8192 MNIST images -> 150 MB.
_DESKEW_BLOCK = 8192


def _check_batch(images, name: str = "images") -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"{name} must have shape (n, height, width), got {images.shape}")
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise ValueError(f"{name} must be numeric, got dtype {images.dtype}")
    return images


def deskew(images) -> np.ndarray:
    """Straighten each image by its second-order moments and centre its mass.

    The shear ``alpha = cov(row, col) / var(row)`` of the ink is undone (rows
    keep their place, columns slide by ``alpha * (row - centre)``) and the
    centre of mass moves to the image centre, as in LeCun et al.'s deskewed
    MNIST experiments. Bilinear interpolation, zero outside the image; blank
    images are returned unchanged.

    Parameters
    ----------
    images : ndarray of shape (n, height, width)
        Pixel intensities, 0-255.

    Returns
    -------
    ndarray of shape (n, height, width), float32
        Deskewed intensities clipped to [0, 255].
    """
    from scipy import ndimage

    images = _check_batch(images)
    n, height, width = images.shape
    out = np.empty(images.shape, dtype=np.float32)
    rows, cols = np.mgrid[:height, :width].astype(np.float64)
    for start in range(0, n, _DESKEW_BLOCK):
        block = images[start:start + _DESKEW_BLOCK].astype(np.float64)
        mass = block.sum(axis=(1, 2))
        safe = np.where(mass > 0, mass, 1.0)
        mean_r = np.einsum("nij,ij->n", block, rows) / safe
        mean_c = np.einsum("nij,ij->n", block, cols) / safe
        dr = rows[None] - mean_r[:, None, None]
        dc = cols[None] - mean_c[:, None, None]
        var_r = np.einsum("nij,nij->n", block, dr * dr) / safe
        cov_rc = np.einsum("nij,nij->n", block, dr * dc) / safe
        alpha = np.where(var_r > 0, cov_rc / np.where(var_r > 0, var_r, 1.0), 0.0)
        # Output pixel (r, c) samples the input at (r + mean_r - centre_r,
        # c + mean_c - centre_c + alpha * (r - centre_r)): scipy's affine_transform
        # recipe, written out so one map_coordinates call serves the whole block.
        centre_r, centre_c = height / 2.0, width / 2.0
        src_r = rows[None] + (mean_r - centre_r)[:, None, None]
        src_c = cols[None] + (mean_c - centre_c)[:, None, None] + alpha[:, None, None] * (rows[None] - centre_r)
        index = np.broadcast_to(np.arange(len(block), dtype=np.float64)[:, None, None], block.shape)
        # order=1: a spline prefilter would also run along the image axis and mix images.
        warped = ndimage.map_coordinates(block, np.stack([index, src_r, src_c]), order=1, mode="constant", cval=0.0)
        warped[mass == 0] = block[mass == 0]
        out[start:start + _DESKEW_BLOCK] = np.clip(warped, 0, 255)
    return out


def gaussian_blur(images, sigma: float) -> np.ndarray:
    """Blur each image with a Gaussian of standard deviation ``sigma`` pixels.

    Parameters
    ----------
    images : ndarray of shape (n, height, width)
    sigma : float
        Standard deviation in pixels; ``0`` returns a float32 copy.

    Returns
    -------
    ndarray of shape (n, height, width), float32
    """
    from scipy import ndimage

    images = _check_batch(images)
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    images = images.astype(np.float32)
    if sigma == 0:
        return images
    # sigma 0 along the image axis keeps images apart; zero padding matches MNIST's empty border.
    return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma), mode="constant", cval=0.0)


def shifted_copies(images, labels, max_shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The images followed by copies shifted up, down, left and right by 1..max_shift pixels.

    Pixels shifted in are zero. Copies are ordered by shift distance, then
    direction (up, down, left, right).

    Parameters
    ----------
    images : ndarray of shape (n, height, width)
    labels : ndarray of shape (n,)
    max_shift : int
        Largest shift in pixels; ``0`` returns the inputs (as copies).

    Returns
    -------
    images : ndarray of shape (n * (1 + 4 * max_shift), height, width)
        Same dtype as the input; the first ``n`` rows are the originals.
    labels : ndarray of shape (n * (1 + 4 * max_shift),)
    source : ndarray of shape (n * (1 + 4 * max_shift),), int64
        Index of the original image each row was made from.
    """
    images = _check_batch(images)
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}")
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ValueError(f"max_shift must be an integer >= 0, got {max_shift!r}")
    n, height, width = images.shape
    if max_shift >= min(height, width):
        raise ValueError(f"max_shift must be smaller than the image size {height}x{width}, got {max_shift}")
    n_copies = 1 + 4 * max_shift
    out = np.zeros((n_copies, n, height, width), dtype=images.dtype)
    out[0] = images
    copy = 1
    for s in range(1, max_shift + 1):
        out[copy, :, :-s, :] = images[:, s:, :]  # up
        out[copy + 1, :, s:, :] = images[:, :-s, :]  # down
        out[copy + 2, :, :, :-s] = images[:, :, s:]  # left
        out[copy + 3, :, :, s:] = images[:, :, :-s]  # right
        copy += 4
    source = np.tile(np.arange(n, dtype=np.int64), n_copies)
    return out.reshape(n_copies * n, height, width), np.tile(labels, n_copies), source


def zoom(images, factor: float) -> np.ndarray:
    """Scale each image about its centre by ``factor`` (> 1 enlarges), keeping its size.

    Bilinear interpolation, zero outside the image (ink pushed past the border is lost).

    Parameters
    ----------
    images : ndarray of shape (n, height, width)
    factor : float
        Scale factor, > 0; ``1`` returns a float32 copy.

    Returns
    -------
    ndarray of shape (n, height, width), float32
        Intensities clipped to [0, 255].
    """
    from scipy import ndimage

    images = _check_batch(images)
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.number)) or not (
        np.isfinite(factor) and factor > 0
    ):
        raise ValueError(f"factor must be a finite number > 0, got {factor!r}")
    images = images.astype(np.float32)
    if factor == 1:
        return images
    _, height, width = images.shape
    centre = np.array([(height - 1) / 2.0, (width - 1) / 2.0])
    # Output pixel p samples the input at centre + (p - centre) / factor; the image axis maps to itself.
    matrix = np.diag([1.0, 1.0 / factor, 1.0 / factor])
    offset = np.concatenate([[0.0], centre - centre / factor])
    warped = ndimage.affine_transform(images, matrix, offset=offset, order=1, mode="constant", cval=0.0)
    return np.clip(warped, 0, 255)
