"""Shifted copies (augmentation) and gradient features: shapes, order and geometric properties.

The transforms they build on (deskew, blur, zoom, shifts) are tested in test_transforms.py.
"""

import numpy as np
import pytest

from lussi.models.preprocess import gradient_direction_features, shifted_copies


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


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: shifted_copies(np.zeros((2, 5, 5)), np.zeros(3, int), 1), r"labels must have shape \(2,\)"),
        (lambda: shifted_copies(np.zeros((2, 5, 5)), np.zeros(2, int), -1), "max_shift must be an integer >= 0"),
        (lambda: shifted_copies(np.zeros((2, 5, 5)), np.zeros(2, int), 5), "max_shift must be smaller"),
        (lambda: gradient_direction_features(np.zeros((2, 5, 5)), n_orientations=1), "n_orientations must be an integer >= 2"),
        (lambda: gradient_direction_features(np.zeros((2, 5, 5)), sigma=0), "sigma must be a finite number > 0"),
        (lambda: gradient_direction_features(np.zeros((2, 5, 5)), step=0), "step must be an integer >= 1"),
        (lambda: gradient_direction_features(np.zeros((5, 5))), r"images must have shape \(n, height, width\)"),
    ],
)
def test_preprocess_validation(call, message):
    with pytest.raises(ValueError, match=message):
        call()
