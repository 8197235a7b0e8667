"""Deskewing, blurring, shifted copies, zooming and gradient features: shapes and geometric properties."""

import numpy as np
import pytest

from lussi.models.preprocess import deskew, gaussian_blur, gradient_direction_features, shifted_copies, zoom


def _sheared_bar(shear: float, size: int = 28) -> np.ndarray:
    """A vertical bar whose column drifts by `shear` pixels per row (uint8 image)."""
    image = np.zeros((size, size), dtype=np.uint8)
    for row in range(4, size - 4):
        col = round(size / 2 + shear * (row - size / 2))
        image[row, col - 1:col + 2] = 255
    return image


def _column_slope(image: np.ndarray) -> float:
    """Least-squares slope of the ink's column against its row."""
    rows, cols = np.nonzero(image > 64)
    weights = image[rows, cols].astype(float)
    return float(np.polyfit(rows, cols, 1, w=weights)[0])


def test_deskew_makes_a_sheared_bar_upright_and_centred():
    images = np.stack([_sheared_bar(0.4), _sheared_bar(-0.3), _sheared_bar(0.0)])
    assert abs(_column_slope(images[0])) > 0.35
    out = deskew(images)
    assert out.shape == images.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 255
    for image in out:
        assert abs(_column_slope(image)) < 0.05
        rows, cols = np.mgrid[:28, :28]
        assert abs((image * cols).sum() / image.sum() - 14) < 0.6
        assert abs((image * rows).sum() / image.sum() - 14) < 0.6


def test_deskew_keeps_blank_images_and_is_per_image():
    images = np.stack([np.zeros((28, 28), np.uint8), _sheared_bar(0.4)])
    out = deskew(images)
    assert (out[0] == 0).all()
    np.testing.assert_allclose(out[1], deskew(images[1:])[0])


def test_deskew_equals_a_bilinear_warp_by_scipy():
    # The separable implementation must sample exactly where the moment formula says, bilinear with zero
    # outside the image: scipy's map_coordinates (order 1, "grid-constant") is the reference.
    from scipy import ndimage

    rng = np.random.default_rng(3)
    images = np.zeros((6, 28, 28), np.uint8)
    for image in images:
        top, left = rng.integers(0, 12, 2)
        image[top:top + 16, left:left + 10] = rng.integers(0, 256, (16, 10))
    images[5] = _sheared_bar(0.45)
    out = deskew(images)
    rows, cols = np.mgrid[:28, :28].astype(float)
    for image, result in zip(images.astype(float), out):
        mass = image.sum()
        mean_r, mean_c = (image * rows).sum() / mass, (image * cols).sum() / mass
        alpha = (image * (rows - mean_r) * (cols - mean_c)).sum() / (image * (rows - mean_r) ** 2).sum()
        src = [rows + mean_r - 14, cols + mean_c - 14 + alpha * (rows - 14)]
        expected = ndimage.map_coordinates(image, src, order=1, mode="grid-constant", cval=0.0)
        np.testing.assert_allclose(result, np.clip(expected, 0, 255), atol=1e-3)


def _edge(kind: str, size: int = 28) -> np.ndarray:
    """A light square on black, or a half plane, whose edges point in known directions."""
    image = np.zeros((size, size), np.float32)
    if kind == "right":  # dark left, bright right: gradient along +x (0 degrees)
        image[:, size // 2:] = 255
    elif kind == "down":  # dark top, bright bottom: gradient along +y (rows grow downwards, 90 degrees)
        image[size // 2:, :] = 255
    elif kind == "diagonal":  # bright where row > col (lower left): gradient along (-x, +y), 135 degrees
        image[np.tril_indices(size, -1)] = 255
    return image


def _direction_energy(features: np.ndarray, n_orientations: int) -> np.ndarray:
    """Squared features summed per direction map over the central cells (the square undoes the square root).

    Cells near the border are left out: the zero padding beyond the image adds edges of its own there.
    """
    return (features.reshape(n_orientations, 14, 14)[:, 4:10, 4:10] ** 2).sum(axis=(1, 2))


def test_gradient_features_put_an_edge_in_its_direction():
    features = gradient_direction_features(np.stack([_edge("right"), _edge("down")]), n_orientations=8)
    assert features.shape == (2, 8 * 14 * 14) and features.dtype == np.float32
    right, down = (_direction_energy(f, 8) for f in features)
    assert right[0] / right.sum() > 0.999  # 0 degrees: bin 0
    assert down[2] / down.sum() > 0.999  # 90 degrees: bin 2 of 8
    # 135 degrees falls halfway between bins 4 (120) and 5 (150) of 12 and is shared equally.
    diagonal = _direction_energy(gradient_direction_features(_edge("diagonal")[None], n_orientations=12)[0], 12)
    shares = diagonal / diagonal.sum()
    assert shares[4] == pytest.approx(shares[5], rel=0.02) and shares[4] + shares[5] > 0.99


def test_gradient_features_turn_with_the_image():
    # Rotating an image by 180 degrees reverses every gradient: direction bin b moves to b + n/2
    # and the pooled maps turn with the image.
    rng = np.random.default_rng(0)
    image = np.zeros((28, 28), np.float32)
    image[6:22, 8:20] = rng.integers(0, 256, (16, 12))
    n = 12
    # step 1 samples every pixel, so the sampling grid is symmetric under the turn too.
    features = gradient_direction_features(np.stack([image, image[::-1, ::-1]]), n_orientations=n, step=1)
    original, turned = features.reshape(2, n, 28, 28)
    np.testing.assert_allclose(turned, np.roll(original, n // 2, axis=0)[:, ::-1, ::-1], atol=1e-3)


def test_gradient_features_are_per_image_and_zero_on_blank():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 28, 28)).astype(np.uint8)
    images[1] = 0
    features = gradient_direction_features(images)
    assert (features[1] == 0).all()
    np.testing.assert_allclose(features[2], gradient_direction_features(images[2:])[0], rtol=1e-6)
    assert gradient_direction_features(images, step=1).shape == (3, 12 * 28 * 28)
    assert gradient_direction_features(np.zeros((2, 9, 7), np.uint8), n_orientations=4).shape == (2, 4 * 4 * 3)


def test_gaussian_blur_spreads_ink_and_keeps_mass():
    images = np.zeros((2, 28, 28), np.uint8)
    images[0, 14, 14] = 255
    out = gaussian_blur(images, 1.0)
    assert out.shape == (2, 28, 28) and out.dtype == np.float32
    assert out[0, 14, 14] < 255 and out[0, 14, 15] > 0
    assert out[0].sum() == pytest.approx(255, rel=1e-4)
    assert (out[1] == 0).all()
    np.testing.assert_array_equal(gaussian_blur(images, 0), images.astype(np.float32))
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        gaussian_blur(images, -1)


def test_shifted_copies_shapes_order_and_sources():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 6, 5)).astype(np.uint8)
    labels = np.array([7, 1, 4])
    out, out_labels, source = shifted_copies(images, labels, 2)
    assert out.shape == (3 * 9, 6, 5) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:3], images)
    np.testing.assert_array_equal(out_labels, np.tile(labels, 9))
    np.testing.assert_array_equal(source, np.tile(np.arange(3), 9))
    up, down, left, right = out[3:6], out[6:9], out[9:12], out[12:15]
    np.testing.assert_array_equal(up[:, :-1], images[:, 1:])
    assert (up[:, -1] == 0).all()
    np.testing.assert_array_equal(down[:, 1:], images[:, :-1])
    np.testing.assert_array_equal(left[:, :, :-1], images[:, :, 1:])
    np.testing.assert_array_equal(right[:, :, 1:], images[:, :, :-1])
    np.testing.assert_array_equal(out[15:18, :-2], images[:, 2:])  # 2 pixels up
    same, _, _ = shifted_copies(images, labels, 0)
    np.testing.assert_array_equal(same, images)


def test_zoom_scales_ink_about_the_centre():
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    images[0, 10:18, 10:18] = 255  # 8x8 square centred on (13.5, 13.5)
    images[1, 12:16, 4:8] = 255
    for factor in (0.5, 1.5):
        out = zoom(images, factor)
        assert out.shape == images.shape and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 255
        rows, cols = np.nonzero(out[0])
        np.testing.assert_allclose([np.average(rows, weights=out[0][rows, cols]),
                                    np.average(cols, weights=out[0][rows, cols])], [13.5, 13.5], atol=1e-6)
        # Ink mass scales with the area.
        assert out[0].sum() == pytest.approx(images[0].sum() * factor**2, rel=0.15)
    # Each image is zoomed on its own: the second is unchanged by the first.
    np.testing.assert_array_equal(zoom(images[1:], 1.5)[0], zoom(images, 1.5)[1])
    np.testing.assert_array_equal(zoom(images, 1), images.astype(np.float32))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: deskew(np.zeros((28, 28))), r"images must have shape \(n, height, width\)"),
        (lambda: shifted_copies(np.zeros((2, 5, 5)), np.zeros(3, int), 1), r"labels must have shape \(2,\)"),
        (lambda: shifted_copies(np.zeros((2, 5, 5)), np.zeros(2, int), -1), "max_shift must be an integer >= 0"),
        (lambda: shifted_copies(np.zeros((2, 5, 5)), np.zeros(2, int), 5), "max_shift must be smaller"),
        (lambda: zoom(np.zeros((2, 5, 5)), 0), "factor must be a finite number > 0"),
        (lambda: zoom(np.zeros((2, 5, 5)), float("nan")), "factor must be a finite number > 0"),
        (lambda: zoom(np.zeros((5, 5)), 1.1), r"images must have shape \(n, height, width\)"),
        (lambda: gradient_direction_features(np.zeros((2, 5, 5)), n_orientations=1), "n_orientations must be an integer >= 2"),
        (lambda: gradient_direction_features(np.zeros((2, 5, 5)), sigma=0), "sigma must be a finite number > 0"),
        (lambda: gradient_direction_features(np.zeros((2, 5, 5)), step=0), "step must be an integer >= 1"),
        (lambda: gradient_direction_features(np.zeros((5, 5))), r"images must have shape \(n, height, width\)"),
    ],
)
def test_preprocess_validation(call, message):
    with pytest.raises(ValueError, match=message):
        call()
