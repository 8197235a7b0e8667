"""Shared fixtures: small synthetic idx datasets and a private cache directory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from lussi.idx import write_idx  # noqa: E402

# Fixtures that train a Keras model. Every test that uses one is marked slow, wherever it is, so that
# `pytest -m "not slow"` stays a quick loop (tests that train or start a kernel in their body carry the mark).
KERAS_TRAINING_FIXTURES = frozenset({"fitted_mlp", "fitted_cnn", "fitted_models", "study"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        # A fixture asked for by name through a parameter (request.getfixturevalue) counts too.
        requested = {value for value in getattr(getattr(item, "callspec", None), "params", {}).values()
                     if isinstance(value, str)}
        if KERAS_TRAINING_FIXTURES.intersection({*getattr(item, "fixturenames", ()), *requested}):
            item.add_marker(pytest.mark.slow)


IDX_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def make_idx_dataset(
    directory: Path,
    *,
    n_train: int = 60,
    n_test: int = 20,
    shape: tuple[int, int] = (28, 28),
    n_classes: int = 10,
    gz: bool = True,
    checksums: bool = True,
    seed: int = 0,
    class_names: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """Write a tiny learnable idx dataset (class c lights up a band of rows) and return its arrays.

    ``class_names`` also writes ``classes.txt`` (listed in ``SHA256SUMS`` like the idx files).
    """
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % n_classes
        images = rng.integers(0, 40, size=(n, *shape), dtype=np.uint8)
        band = max(1, shape[0] // n_classes)
        for i, label in enumerate(labels):
            images[i, label * band : (label + 1) * band, :] = 255
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    lines = []
    for key, stem in IDX_STEMS.items():
        path = write_idx(directory / (stem + suffix), arrays[key])
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}")
    if class_names is not None:
        path = directory / "classes.txt"
        path.write_text("\n".join(class_names) + "\n", encoding="utf-8")
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}")
    if checksums:
        (directory / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return arrays


@pytest.fixture
def idx_dir(tmp_path) -> Path:
    directory = tmp_path / "tiny"
    make_idx_dataset(directory)
    return directory


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("LUSSI_CACHE_DIR", str(directory))
    return directory


# --------------------------------------------------------------------------- handwriting: real MNIST and a KNN

from digit_checks import N_TRAIN  # noqa: E402 - tests/ is on sys.path, as for every test module


class SklearnKNN:
    """scikit-learn's KNN behind lussi's model protocol (predict, predict_proba, kneighbors, config)."""

    def __init__(self, images, labels, k=3):
        import types

        from sklearn.neighbors import KNeighborsClassifier  # here, so tests that need no KNN do not import it

        self.config = types.SimpleNamespace(n_neighbors=k)
        self._knn = KNeighborsClassifier(n_neighbors=k).fit(images.reshape(len(images), -1), labels)

    def _flat(self, images):
        images = np.asarray(images)
        return images.reshape(len(images), -1).astype(np.float32)

    def predict(self, images):
        return self._knn.predict(self._flat(images)).astype(np.int64)

    def predict_proba(self, images):
        return self._knn.predict_proba(self._flat(images)).astype(np.float32)

    def kneighbors(self, images, n_neighbors=None):
        distances, indices = self._knn.kneighbors(self._flat(images), n_neighbors or self.config.n_neighbors)
        return distances.astype(np.float32), indices.astype(np.int64)


@pytest.fixture(scope="module")
def mnist():
    """The real MNIST (the handwriting tests compare their conversion with it)."""
    from lussi.data import load_dataset

    return load_dataset("mnist")


@pytest.fixture(scope="module")
def knn(mnist):
    """A plain pixel KNN (k=3) fitted on the first N_TRAIN MNIST training digits."""
    return SklearnKNN(mnist.train_images[:N_TRAIN], mnist.train_labels[:N_TRAIN], k=3)


# The 8x8 digits as uint8 pixels, and predictions with 10% of errors: the figures' and views' subjects.
@pytest.fixture(scope="module")
def sk_digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.rint(data.images * 255 / 16).astype(np.uint8)
    return images, data.target.astype(np.int64)


@pytest.fixture(scope="module")
def sk_predictions(sk_digits):
    _, y = sk_digits
    rng = np.random.default_rng(0)
    noisy = np.where(rng.random(y.size) < 0.9, y, (y + 1) % 10)
    return {"knn": noisy, "cnn": y.copy()}


class FakeClock:
    """perf_counter stand-in: every call advances time by ``step`` seconds (tests of timing and latency)."""

    def __init__(self, step):
        self.now = 0.0
        self.step = step

    def __call__(self):
        self.now += self.step
        return self.now


@pytest.fixture
def labels_and_preds():
    """True labels of 500 ten-class items and two noisy predictions of them (about 85% and 95% right)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=500)
    noisy_a = np.where(rng.random(500) < 0.85, y, rng.integers(0, 10, size=500))
    noisy_b = np.where(rng.random(500) < 0.95, y, rng.integers(0, 10, size=500))
    return y, noisy_a, noisy_b
