"""Deskewing, blurring, shifted copies and zooming: shapes and geometric properties."""

import numpy as np
import pytest

from lussi.models.preprocess import deskew, gaussian_blur, shifted_copies, zoom


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
    ],
)
def test_preprocess_validation(call, message):
    with pytest.raises(ValueError, match=message):
        call()
