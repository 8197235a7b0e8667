"""lussi.perturbations: noise, shifts and rotations of digit batches."""

from __future__ import annotations

import numpy as np
import pytest

from lussi.data import load_digits_dataset
from lussi.perturbations import SEED_NOISE_HIGH, Perturbation, add_gaussian_noise, add_seed_noise, default_perturbations
from lussi.transforms import rotate_images, shift_images


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


@pytest.fixture
def batch():
    return np.random.default_rng(0).integers(0, 256, size=(6, 9, 7), dtype=np.uint8)


@pytest.mark.parametrize(
    "perturb",
    [
        lambda x: add_gaussian_noise(x, 64, random_state=1),
        lambda x: add_seed_noise(x, random_state=1),
    ],
    ids=["gaussian", "seed"],
)
def test_perturbations_keep_shape_and_dtype_and_do_not_modify_input(batch, perturb):
    before = batch.copy()
    out = perturb(batch)
    assert out.shape == batch.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(batch, before)


def test_noise_is_seeded_and_clipped(batch):
    a = add_gaussian_noise(batch, 200, random_state=3)
    np.testing.assert_array_equal(a, add_gaussian_noise(batch, 200, random_state=3))
    assert not np.array_equal(a, add_gaussian_noise(batch, 200, random_state=4))
    # Huge noise saturates both ends instead of wrapping around.
    assert (a == 0).any() and (a == 255).any()
    white = np.full((2, 4, 4), 250, dtype=np.uint8)
    assert add_seed_noise(white, random_state=0).max() == 255


def test_zero_levels_are_identity(batch):
    np.testing.assert_array_equal(add_gaussian_noise(batch, 0, random_state=0), batch)
    np.testing.assert_array_equal(add_seed_noise(batch, high=0, random_state=0), batch)


def test_seed_noise_matches_the_book_setting():
    zeros = np.zeros((50, 8, 8), dtype=np.uint8)
    noisy = add_seed_noise(zeros, random_state=0)
    expected = np.random.default_rng(0).integers(0, SEED_NOISE_HIGH, size=zeros.shape)
    np.testing.assert_array_equal(noisy, expected)
    assert noisy.max() <= SEED_NOISE_HIGH - 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: add_gaussian_noise(np.zeros((2, 4, 4), np.uint8), -1, random_state=0), "sigma must be"),
        (lambda: add_gaussian_noise(np.zeros((2, 16), np.uint8), 1, random_state=0), r"shape \(n, height, width\)"),
        (lambda: add_gaussian_noise(np.zeros((2, 4, 4), np.float32), 1, random_state=0), "must be uint8 pixels"),
        (lambda: add_seed_noise(np.zeros((2, 4, 4), np.uint8), high=-3), "high must be"),
    ],
)
def test_perturbations_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_default_perturbations_levels():
    items = default_perturbations((28, 28))
    by_kind = {}
    for item in items:
        by_kind.setdefault(item.name, []).append(item.level)
    assert by_kind == {
        "gaussian noise": [0, 32, 64, 96, 128],
        "shift": [0, 1, 2, 3],
        "rotation": [0, 10, 15, 20],
        "seed noise": [0, SEED_NOISE_HIGH],
    }
    assert [p.level for p in default_perturbations((8, 8)) if p.name == "shift"] == [0, 1]


def test_random_direction_shift_and_random_sign_rotation_are_seeded(digits):
    images = digits.test_images[:40]
    items = {(p.name, p.level): p for p in default_perturbations(digits.image_shape)}
    shift = items[("shift", 1.0)]
    a = shift.apply(images, random_state=0)
    np.testing.assert_array_equal(a, shift.apply(images, random_state=0))
    # Every image is one of its four one-pixel shifts.
    options = np.stack([shift_images(images, dx, dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))])
    assert np.all((options == a[None]).all(axis=(2, 3)).any(axis=0))
    rotation = items[("rotation", 15.0)]
    r = rotation.apply(images, random_state=0)
    plus, minus = rotate_images(images, 15), rotate_images(images, -15)
    is_plus = (r == plus).all(axis=(1, 2))
    assert np.all(is_plus | (r == minus).all(axis=(1, 2)))
    assert 0 < is_plus.sum() < len(images)  # both signs occur


def test_perturbation_must_return_uint8_of_the_same_shape():
    bad = Perturbation("bad", 1.0, "bad", lambda x, rng: x[:1])
    with pytest.raises(ValueError, match="must return uint8 of shape"):
        bad.apply(np.zeros((3, 4, 4), np.uint8))
