"""Perturbations, the robustness table and plot, and the KNN denoiser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lussi.data import load_digits_dataset
from lussi.experiments.denoise import DenoiseResult, KNNDenoiser, denoise_demo, denoise_gallery_html, psnr
from lussi.experiments.robustness import plot_robustness, robustness_facts, robustness_table
from lussi.perturbations import SEED_NOISE_HIGH, Perturbation, add_gaussian_noise, add_seed_noise, default_perturbations
from lussi.transforms import rotate_images, shift_images


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


@pytest.fixture
def batch():
    return np.random.default_rng(0).integers(0, 256, size=(6, 9, 7), dtype=np.uint8)


def _nearest_neighbour_predict(dataset):
    from sklearn.neighbors import KNeighborsClassifier

    train = dataset.train_images.reshape(len(dataset.train_images), -1)
    model = KNeighborsClassifier(n_neighbors=3).fit(train, dataset.train_labels)
    return lambda images: model.predict(images.reshape(len(images), -1))


# --------------------------------------------------------------------------- perturbations


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


# --------------------------------------------------------------------------- table and plot


def test_robustness_table_columns_and_clean_level(digits):
    predict = _nearest_neighbour_predict(digits)
    calls = []

    def counting(images):
        calls.append(len(images))
        return predict(images)

    table = robustness_table(
        {"knn": counting, "constant": lambda x: np.zeros(len(x), dtype=np.int64)},
        digits.test_images, digits.test_labels,
    )
    assert list(table.columns) == ["perturbation", "level", "label", "model", "accuracy", "low", "high", "n"]
    clean = float(np.mean(predict(digits.test_images) == digits.test_labels))
    zero = table[(table["level"] == 0) & (table["model"] == "knn")]
    assert len(zero) == 4 and np.allclose(zero["accuracy"], clean)
    assert (table["low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["high"]).all()
    assert (table["n"] == len(digits.test_labels)).all()
    # The four clean sets are predicted once: 15 perturbations (8x8: shifts 0, 1) minus 3 duplicates.
    n_sets = len(default_perturbations(digits.image_shape)) - 3
    assert len(calls) == n_sets
    # Strong noise and rotation hurt a pixel-space KNN.
    worst = table[(table["model"] == "knn") & (table["perturbation"] == "gaussian noise")]
    assert worst["accuracy"].iloc[-1] < clean - 0.05


def test_robustness_facts(digits):
    predict = _nearest_neighbour_predict(digits)
    table = robustness_table(
        {"knn": predict, "constant": lambda x: np.zeros(len(x), dtype=np.int64)},
        digits.test_images, digits.test_labels,
    )
    facts = robustness_facts(table, "knn", "constant")
    assert [k["name"] for k in facts["kinds"]] == ["gaussian noise", "shift", "rotation", "seed noise"]
    noise = facts["kinds"][0]
    assert noise["label"] == "σ=128" and len(noise["levels"]) == 5
    assert noise["a_drop"] == pytest.approx(noise["a_clean"] - noise["a_worst"]) and noise["a_drop"] > 0.05
    assert noise["b_drop"] == 0  # a constant guess does not care about noise
    assert noise["more_robust"] == "constant"
    assert facts["n"] == len(digits.test_labels)
    with pytest.raises(ValueError, match="model 'cnn' is not in the table"):
        robustness_facts(table, "knn", "cnn")


def test_robustness_table_is_reproducible(digits):
    predict = _nearest_neighbour_predict(digits)
    args = ({"knn": predict}, digits.test_images[:100], digits.test_labels[:100])
    a = robustness_table(*args, random_state=5)
    b = robustness_table(*args, random_state=5)
    pd.testing.assert_frame_equal(a, b)


def test_robustness_table_rejects_bad_input(digits):
    with pytest.raises(ValueError, match="predict_fns must be a non-empty dict"):
        robustness_table({}, digits.test_images, digits.test_labels)
    with pytest.raises(ValueError, match="labels must be integers of shape"):
        robustness_table({"m": lambda x: x}, digits.test_images, digits.test_labels[:5])


def test_plot_robustness_has_one_axes_per_kind_and_one_line_per_model():
    from matplotlib.figure import Figure

    rows = []
    for kind, levels in (("gaussian noise", (0, 32, 64)), ("shift", (0, 1)), ("custom", (0, 5))):
        for model in ("knn", "cnn"):
            for level in levels:
                rows.append({"perturbation": kind, "level": float(level), "label": str(level), "model": model,
                             "accuracy": 0.9 - level / 1000, "low": 0.85, "high": 0.95, "n": 100})
    fig = plot_robustness(pd.DataFrame(rows), colors={"knn": "#000000"})
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert len(ax.get_lines()) == 2
    assert [ax.get_title() for ax in fig.axes] == ["Gaussian noise", "Shift", "Custom"]
    assert fig.axes[2].get_xlabel() == "level"
    assert fig.axes[0].get_lines()[0].get_color() == "#000000"
    with pytest.raises(ValueError, match="lacks columns"):
        plot_robustness(pd.DataFrame({"model": ["a"]}))


# --------------------------------------------------------------------------- denoiser


def test_denoiser_matches_kneighbors_regressor(digits):
    from sklearn.neighbors import KNeighborsRegressor

    clean = digits.train_images[:600]
    noisy = add_seed_noise(clean, random_state=0)
    queries = add_seed_noise(digits.test_images[:50], random_state=1)
    ours = KNNDenoiser(4).fit(noisy, clean).predict(queries)
    reference = KNeighborsRegressor(n_neighbors=4).fit(noisy.reshape(600, -1), clean.reshape(600, -1))
    expected = np.clip(np.rint(reference.predict(queries.reshape(50, -1))), 0, 255).astype(np.uint8)
    # Equal up to rounding of exact .5 means (float32 vs float64).
    assert np.abs(ours.astype(int) - expected.reshape(ours.shape)).max() <= 1
    assert ours.dtype == np.uint8 and ours.shape == queries.shape


def test_denoise_demo_reduces_error(digits):
    result = denoise_demo(digits.train_images, digits.test_images, n_train=1400, n_test=200, n_show=6)
    assert result.noisy.shape == result.denoised.shape == result.clean.shape == (6, 8, 8)
    assert result.mse_denoised < 0.6 * result.mse_noisy
    assert result.psnr_denoised > result.psnr_noisy
    assert result.psnr_noisy == pytest.approx(psnr(result.mse_noisy))
    again = DenoiseResult.from_record(result.to_record())
    np.testing.assert_array_equal(again.denoised, result.denoised)
    assert again.mse_denoised == result.mse_denoised
    html = denoise_gallery_html(result)
    assert html.count("<img") == 18
    assert "denoised" in html and "PSNR" in html


def test_denoiser_rejects_bad_input():
    with pytest.raises(ValueError, match="n_neighbors must be a positive integer"):
        KNNDenoiser(0)
    with pytest.raises(ValueError, match="same shape"):
        KNNDenoiser(1).fit(np.zeros((3, 4, 4), np.uint8), np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(RuntimeError, match="not fitted"):
        KNNDenoiser(1).predict(np.zeros((3, 4, 4), np.uint8))
    assert psnr(0.0) == float("inf")
