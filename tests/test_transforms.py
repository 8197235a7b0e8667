"""lussi.transforms: shifts, rotations, deskewing, blurring and zooming, and their argument checks."""

import numpy as np
import pytest

from lussi.transforms import deskew, gaussian_blur, rotate_images, shift_images, zoom


@pytest.fixture
def batch():
    return np.random.default_rng(0).integers(0, 256, size=(6, 9, 7), dtype=np.uint8)


# --------------------------------------------------------------------------- shifts and rotations


@pytest.mark.parametrize("transform", [lambda x: shift_images(x, 2, -1), lambda x: rotate_images(x, 15)],
                         ids=["shift", "rotate"])
def test_uint8_transforms_keep_shape_and_dtype_and_do_not_modify_input(batch, transform):
    before = batch.copy()
    out = transform(batch)
    assert out.shape == batch.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(batch, before)


def test_zero_shift_and_whole_turns_are_identity(batch):
    np.testing.assert_array_equal(shift_images(batch, 0, 0), batch)
    np.testing.assert_array_equal(rotate_images(batch, 0), batch)
    np.testing.assert_array_equal(rotate_images(batch, 360), batch)


def test_shift_moves_one_pixel_and_fills_with_zero():
    image = np.zeros((1, 5, 5), dtype=np.uint8)
    image[0, 2, 2] = 200
    image[0, 0, 4] = 50
    right = shift_images(image, 1, 0)
    assert right[0, 2, 3] == 200 and right[0, 2, 2] == 0
    assert right[0, :, 0].sum() == 0  # new column is background
    assert 50 not in right  # pushed past the border, not wrapped around
    down_left = shift_images(image, -1, 1)
    assert down_left[0, 3, 1] == 200 and down_left[0, 1, 3] == 50
    assert shift_images(image, 5, 0).sum() == 0


def test_rotation_turns_counter_clockwise_and_keeps_the_centre():
    image = np.zeros((1, 5, 5), dtype=np.uint8)
    image[0, 0, 2] = 255  # top middle
    image[0, 2, 2] = 77  # centre
    turned = rotate_images(image, 90)
    assert turned[0, 2, 0] == 255  # now left middle
    assert turned[0, 2, 2] == 77
    back = rotate_images(turned, -90)
    np.testing.assert_array_equal(back, image)


def test_shift_keeps_any_numeric_dtype(batch):
    # shifted_copies (augmentation) shifts float batches too: the dtype and values are kept.
    floats = batch.astype(np.float32) / 3
    out = shift_images(floats, -1, 2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, shift_images(batch, -1, 2).astype(np.float32) / 3)


def test_shift_rejects_fractional_pixels():
    with pytest.raises(TypeError, match="dx must be an integer"):
        shift_images(np.zeros((2, 4, 4), np.uint8), 1.5, 0)


# --------------------------------------------------------------------------- deskew, blur, zoom


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


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: deskew(np.zeros((28, 28))), r"images must have shape \(n, height, width\)"),
        (lambda: zoom(np.zeros((2, 5, 5)), 0), "factor must be a finite number > 0"),
        (lambda: zoom(np.zeros((2, 5, 5)), float("nan")), "factor must be a finite number > 0"),
        (lambda: zoom(np.zeros((2, 5, 5)), True), "factor must be a finite number > 0"),
        (lambda: zoom(np.zeros((5, 5)), 1.1), r"images must have shape \(n, height, width\)"),
        (lambda: shift_images(np.zeros((2, 16)), 1, 0), r"reshape flattened rows with images.reshape\(n, h, w\)"),
        (lambda: shift_images(np.zeros((2, 4, 4), bool), 1, 0), "images must be numeric"),
        (lambda: rotate_images(np.zeros((2, 4, 4), np.float32), 10), "images must be uint8 pixels 0..255"),
        (lambda: rotate_images(np.zeros((2, 4, 4), np.uint8), float("nan")), "degrees must be"),
    ],
)
def test_transforms_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
