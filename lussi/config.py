"""Run profiles: how much data, how many epochs and how much timing a run spends.

A profile is the one home of the run-size knobs; model hyperparameters live in
each model's config (``KNNConfig``, ``NetworkConfig``). Both end up in cache
keys, so a quick run never reuses a full run's model or the reverse.
"""

from __future__ import annotations

import dataclasses

__all__ = ["Profile", "PROFILES", "get_profile"]


@dataclasses.dataclass(frozen=True)
class Profile:
    """Size of a run.

    Attributes
    ----------
    name : str
        ``"full"`` or ``"quick"``.
    n_train, n_test : int or None
        Stratified subsample sizes of the dataset's splits; None keeps all.
    validation_fraction : float
        Share of the training images held out for every hyperparameter choice.
    epochs_scale : float
        Multiplies each network's configured epochs (at least one epoch).
    knn_ks : tuple of int
        Values of k swept on the validation split.
    latency_batch_sizes : tuple of int
        Batch sizes of the prediction-speed sweep.
    latency_budget_s : float
        Seconds spent timing one (model, batch size) cell, beyond warm-up.
    seed : int
        Seed of splits, subsampling and training.
    robustness_n_test : int
        Test images perturbed for the robustness study (the first of the test split).
    robustness_models : str
        ``"headline"`` (best KNN and best network) or ``"all"``.
    denoise_n_train, denoise_n_test : int
        (noisy, clean) training pairs and scored test images of the KNN denoiser.
    curve_sizes : tuple of int
        Training-set sizes of the learning curves (KNN and MLP); the study's
        own models add the full training split as the last point.
    curve_cnn_sizes : tuple of int
        Sizes at which the CNN is trained for the curve (it is the slowest).
    curve_min_steps, curve_max_epochs : int
        Optimizer-step floor and epoch cap of the curve's networks.
    drawn_styles : tuple of str
        Styles of code-drawn digits (keys of :data:`lussi.experiments.drawn.DRAWN_STYLES`).
    """

    name: str
    n_train: int | None = None
    n_test: int | None = None
    validation_fraction: float = 0.1
    epochs_scale: float = 1.0
    knn_ks: tuple[int, ...] = tuple(range(1, 11))
    latency_batch_sizes: tuple[int, ...] = (1, 10, 100, 1000, 10000)
    latency_budget_s: float = 2.0
    seed: int = 0
    robustness_n_test: int = 2000
    robustness_models: str = "headline"
    denoise_n_train: int = 20000
    denoise_n_test: int = 2000
    curve_sizes: tuple[int, ...] = (500, 1000, 2000, 5000, 10000, 30000)
    curve_cnn_sizes: tuple[int, ...] = (500, 2000, 10000)
    curve_min_steps: int = 1000
    curve_max_epochs: int = 50
    drawn_styles: tuple[str, ...] = ("font", "pen", "photo", "thin pen photo")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def epochs(self, configured: int) -> int:
        """Epochs to train a network configured for ``configured`` epochs."""
        return max(1, round(configured * self.epochs_scale))


PROFILES = {
    "full": Profile("full"),
    "quick": Profile(
        "quick",
        n_train=6000,
        n_test=2000,
        epochs_scale=0.2,
        knn_ks=(1, 3, 5, 7),
        latency_batch_sizes=(1, 10, 100, 1000),
        latency_budget_s=0.3,
        robustness_n_test=500,
        denoise_n_train=2000,
        denoise_n_test=500,
        curve_sizes=(500, 2000),
        curve_cnn_sizes=(),
        curve_min_steps=200,
        curve_max_epochs=10,
        drawn_styles=("font", "pen", "photo"),
    ),
}


def get_profile(profile: str | Profile) -> Profile:
    """Look up a profile by name (``"full"``, ``"quick"``) or pass one through."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}") from None
