"""lussi.experiments.denoise: the KNN denoiser, its result and gallery."""

from __future__ import annotations

import numpy as np
import pytest

from lussi.data import load_digits_dataset
from lussi.experiments.denoise import (
    DenoiseResult,
    KNNDenoiser,
    denoise_demo,
    denoise_gallery_html,
    psnr,
)
from lussi.perturbations import add_seed_noise


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


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
