"""KNN features beyond the image transforms: shifted training copies and gradient-direction maps.

Both take a batch of images of shape ``(n, height, width)`` (uint8 0-255 or float
on the same 0-255 scale) and work on the whole batch at once. The transforms
themselves (deskewing, blurring, zooming, shifting) are :mod:`lussi.transforms`.
"""

from __future__ import annotations

import numpy as np

from ..transforms import shift_images
from ..validation import check_image_batch, check_integer, check_positive_number

__all__ = ["gradient_direction_features", "shifted_copies"]

# Images per step of gradient_direction_features: its direction maps take 37 KB an image.
_GRADIENT_BLOCK = 128
# Order of the copies of each shift distance in shifted_copies, as (dx, dy): up, down, left, right.
_COPY_DIRECTIONS = ((0, -1), (0, 1), (-1, 0), (1, 0))


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
    images = check_image_batch(images)
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}")
    check_integer(max_shift, "max_shift", 0)
    n, height, width = images.shape
    if max_shift >= min(height, width):
        raise ValueError(f"max_shift must be smaller than the image size {height}x{width}, got {max_shift}")
    n_copies = 1 + 4 * max_shift
    out = np.empty((n_copies, n, height, width), dtype=images.dtype)
    out[0] = images
    copy = 1
    for s in range(1, max_shift + 1):
        for dx, dy in _COPY_DIRECTIONS:
            out[copy] = shift_images(images, dx * s, dy * s)
            copy += 1
    source = np.tile(np.arange(n, dtype=np.int64), n_copies)
    return out.reshape(n_copies * n, height, width), np.tile(labels, n_copies), source


def _pooling_matrix(size: int, sigma: float, step: int) -> np.ndarray:
    """(len(range(step // 2, size, step)), size) float32: Gaussian weights around every ``step``-th pixel, zero outside."""
    centres = np.arange(step // 2, size, step)
    offsets = np.arange(size)[None, :] - centres[:, None]
    radius = int(4.0 * sigma + 0.5)  # scipy.ndimage's default truncation
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2) * (np.abs(offsets) <= radius)
    return (kernel / np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).sum()).astype(np.float32)


def gradient_direction_features(images, n_orientations: int = 12, sigma: float = 1.5, step: int = 2) -> np.ndarray:
    """Where the strokes' edges point: pooled maps of gradient direction, one per orientation.

    The classic "directional feature" of handwritten-digit recognition (Liu et
    al., *Pattern Recognition* 36, 2003): Sobel gradients; each pixel's gradient
    magnitude split between the two nearest of ``n_orientations`` directions
    (0 to 360 degrees, linear in angle); each direction's map blurred with a
    Gaussian of ``sigma`` pixels and sampled every ``step`` pixels; then a square
    root, which evens out the variance between faint and strong edges so that
    Euclidean distances (and PCA) weigh them alike.

    Parameters
    ----------
    images : ndarray of shape (n, height, width)
        Pixel intensities, 0-255 (deskewed or not).
    n_orientations : int, default 12
        Direction bins over the full circle (so dark-to-light and light-to-dark edges differ).
    sigma : float, default 1.5
        Gaussian pooling in pixels.
    step : int, default 2
        Sampling stride of the pooled maps, from pixel ``step // 2`` on (28 x 28 images give 14 x 14 maps).

    Returns
    -------
    ndarray of shape (n, n_orientations * len(range(step // 2, height, step)) * len(range(step // 2, width, step))), float32
    """
    images = check_image_batch(images)
    check_integer(n_orientations, "n_orientations", 2)
    check_positive_number(sigma, "sigma")
    check_integer(step, "step", 1)
    n, height, width = images.shape
    pool_rows, pool_cols = _pooling_matrix(height, float(sigma), step), _pooling_matrix(width, float(sigma), step)
    out = np.empty((n, n_orientations * len(pool_rows) * len(pool_cols)), dtype=np.float32)
    # Blocks keep the sparse direction maps (12 x 784 floats an image) in cache: 3x faster than one pass.
    planes = np.empty((_GRADIENT_BLOCK, n_orientations, height * width), dtype=np.float32)
    for start in range(0, n, _GRADIENT_BLOCK):
        block = images[start:start + _GRADIENT_BLOCK]
        out[start:start + len(block)] = _direction_maps(block, n_orientations, pool_rows, pool_cols, planes[:len(block)])
    return out


def _direction_maps(images, n_orientations, pool_rows, pool_cols, planes) -> np.ndarray:
    """gradient_direction_features of one block, using ``planes`` as scratch space."""
    n, height, width = images.shape
    padded = np.pad(images.astype(np.float32), ((0, 0), (1, 1), (1, 1)))
    # Sobel by slicing: scipy.ndimage.sobel on a stack would also smooth across the image axis.
    vertical_sum = padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]
    horizontal_sum = padded[:, :, :-2] + 2 * padded[:, :, 1:-1] + padded[:, :, 2:]
    gx = vertical_sum[:, :, 2:] - vertical_sum[:, :, :-2]
    gy = horizontal_sum[:, 2:, :] - horizontal_sum[:, :-2, :]
    # Only pixels with a gradient (about a third of an MNIST digit's) need a direction.
    edge = np.flatnonzero((gx != 0) | (gy != 0))
    gx, gy = gx.reshape(-1)[edge], gy.reshape(-1)[edge]
    magnitude = np.hypot(gx, gy)
    position = (np.arctan2(gy, gx) * (n_orientations / (2 * np.pi))) % n_orientations
    lower = np.floor(position)
    upper_share = position - lower
    lower = lower.astype(np.int64) % n_orientations  # position can round up to n_orientations itself
    upper = (lower + 1) % n_orientations
    # Each edge pixel feeds exactly two different direction maps: two scattered assignments fill them.
    image, pixel = np.divmod(edge, height * width)
    planes[...] = 0
    flat = planes.reshape(-1)
    first_map = image * n_orientations * height * width + pixel
    flat[first_map + lower * (height * width)] = magnitude * (1 - upper_share)
    flat[first_map + upper * (height * width)] = magnitude * upper_share
    # Separable Gaussian pooling as two matrix products (BLAS) rather than a filter plus subsampling.
    pooled = planes.reshape(-1, width) @ pool_cols.T  # (n * o * height, width')
    # Broadcast matmul over the maps: 10x faster than transposing them for one big product.
    pooled = pool_rows @ pooled.reshape(n * n_orientations, height, -1)  # (n * o, height', width')
    return np.sqrt(np.maximum(pooled, 0.0)).reshape(n, -1)
