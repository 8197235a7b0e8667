"""Tests of lussi.models.network on sklearn's 8x8 digits and tiny synthetic arrays."""

import dataclasses
import json

import numpy as np
import pytest

from lussi import progress
from lussi.data import load_dataset
from lussi.models import network
from lussi.models.network import (
    NetworkClassifier,
    NetworkConfig,
    augment_images,
    build_cnn,
    build_mlp,
    cnn_config,
    seed_mlp_config,
)

keras = pytest.importorskip("keras")

# Keras 3 calls np.array() on TF variables (get_weights, save), which NumPy 2 flags; not lussi's to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")

HISTORY_KEYS = {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds"}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _quick(config, **changes):
    return dataclasses.replace(config, **{"epochs": 2, "warmup_epochs": 0.0, **changes})


@pytest.fixture(scope="module")
def fitted_mlp(digits):
    model = NetworkClassifier.from_config(_quick(seed_mlp_config()))
    model.fit(digits.train_images, digits.train_labels, validation=(digits.test_images, digits.test_labels))
    return model, model.history_


@pytest.fixture(scope="module")
def fitted_cnn(digits):
    # Small filters and batches keep it fast and learning; augmentation and the cosine schedule stay on.
    model = NetworkClassifier.from_config(_quick(cnn_config(), filters=(16, 32), batch_size=32, epochs=3, warmup_epochs=0.5))
    model.fit(digits.train_images, digits.train_labels, validation=(digits.test_images, digits.test_labels))
    return model, model.history_


# --------------------------------------------------------------------------- builders


def test_seed_mlp_has_the_seed_study_layers_and_parameter_count():
    model = build_mlp((28, 28), 10)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Dropout", "Dense", "Dropout", "Dense", "Dense"]
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [256, 128, 64, 10]
    assert [layer.rate for layer in model.layers if hasattr(layer, "rate")] == [0.2, 0.2]
    assert model.count_params() == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    assert model.input_shape == (None, 784)
    assert model.layers[-1].get_config()["activation"] == "softmax"


@pytest.mark.parametrize(("shape", "final_side"), [((28, 28), 3), ((8, 8), 2)])
def test_cnn_pools_only_while_the_image_is_large_enough(shape, final_side):
    model = build_cnn(shape, 10, filters=(4, 8, 16))
    assert model.input_shape == (None, *shape, 1)
    assert model.output_shape == (None, 10)
    flatten = next(layer for layer in model.layers if type(layer).__name__ == "Flatten")
    assert flatten.output.shape[1] == final_side * final_side * 16


def test_cnn_batch_norm_option_adds_normalization_layers():
    kinds = [type(layer).__name__ for layer in build_cnn((8, 8), 10, filters=(4, 8), batch_norm=True).layers]
    assert kinds.count("BatchNormalization") == 2
    kinds = [type(layer).__name__ for layer in build_cnn((8, 8), 10, filters=(4, 8), batch_norm=False).layers]
    assert "BatchNormalization" not in kinds


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": -3}, "epochs must be a positive integer"),
        ({"architecture": "rnn"}, "architecture must be one of"),
        ({"lr_schedule": "step"}, "lr_schedule must be one of"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"warmup_epochs": -1.0}, "warmup_epochs must be >= 0"),
        ({"augment_shift": 1.5}, "augment_shift must be in"),
        ({"architecture": "cnn", "filters": ()}, "needs at least one convolution"),
        ({"precision": "float16"}, "precision must be one of"),
    ],
)
def test_config_validation_says_what_is_wrong(changes, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(seed_mlp_config(), **changes)


def test_config_round_trips_through_json():
    config = cnn_config(seed=3)
    again = NetworkConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and hash(again) == hash(config)
    assert config.augment and not seed_mlp_config().augment
    with pytest.raises(ValueError, match="unknown NetworkConfig fields"):
        NetworkConfig.from_dict({**config.to_dict(), "momentum": 0.9})


def test_model_rejects_a_foreign_config():
    with pytest.raises(TypeError, match="config must be a NetworkConfig"):
        NetworkClassifier.from_config({"architecture": "mlp"})


# --------------------------------------------------------------------------- augmentation


def test_augmentation_without_factors_is_the_identity():
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    np.testing.assert_array_equal(augment_images(images), images.astype(np.float32))


def test_augmentation_is_seeded_bounded_and_moves_pixels():
    images = np.zeros((50, 28, 28), np.uint8)
    images[:, 10:18, 10:18] = 255
    a = augment_images(images, shift=0.1, rotation=10, zoom=0.1, seed=1)
    np.testing.assert_array_equal(a, augment_images(images, shift=0.1, rotation=10, zoom=0.1, seed=1))
    assert a.dtype == np.float32 and a.shape == images.shape
    assert a.min() >= 0 and a.max() <= 255
    centres = [np.argwhere(image > 127).mean(axis=0) for image in a]
    assert np.ptp(np.asarray(centres), axis=0).max() > 1.0  # shifted by different amounts


# --------------------------------------------------------------------------- training and prediction


@pytest.mark.parametrize("fixture", ["fitted_mlp", "fitted_cnn"])
def test_fit_returns_one_history_entry_per_epoch(fixture, request):
    model, history = request.getfixturevalue(fixture)
    assert set(history) == HISTORY_KEYS
    assert all(len(values) == model.config.epochs for values in history.values())
    assert all(np.isfinite(history[key]).all() for key in HISTORY_KEYS)
    assert all(0 <= a <= 1 for a in history["val_accuracy"])


class _RecordingModel:
    """Stands in for a compiled Keras model: records what each batch of the epoch loop holds."""

    def __init__(self):
        self.batches, self.epochs = [], []

    def train_on_batch(self, x, y, return_dict=False):
        self.batches.append((np.asarray(x).copy(), np.asarray(y).copy()))
        return {"loss": float(len(self.batches)), "accuracy": 0.5}

    def end_epoch(self):
        self.epochs.append(self.batches)
        self.batches = []


@pytest.mark.parametrize("augment", [False, True])
def test_epoch_loop_sees_every_image_once_per_epoch_in_a_seeded_order(augment):
    from lussi.models.network_training import _epoch_inputs, train_epochs

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 8, 8), dtype=np.uint8)
    codes = np.arange(50) % 3
    config = dataclasses.replace(seed_mlp_config(), epochs=3, batch_size=16, augment_shift=0.2 if augment else 0.0)

    def run():
        model, recorded = _RecordingModel(), []

        def record(epoch, logs, start):
            model.end_epoch()
            recorded.append((epoch, logs))

        with _epoch_inputs(images, config) as inputs:
            train_epochs(model, config, codes, inputs, record)
        return model, recorded

    model, recorded = run()
    assert [epoch for epoch, _ in recorded] == [0, 1, 2]
    # The epoch's figures are means over its images: batches of 16, 16, 16 and 2 reported losses 1, 2, 3 and 4.
    assert [logs["loss"] for _, logs in recorded] == [pytest.approx((16 + 32 + 48 + 8) / 50)] * 3
    assert [logs["accuracy"] for _, logs in recorded] == [pytest.approx(0.5)] * 3
    epochs = []
    for batches in model.epochs:
        assert [len(y) for _, y in batches] == [16, 16, 16, 2]
        x = np.concatenate([x for x, _ in batches])
        np.testing.assert_array_equal(np.sort(np.concatenate([y for _, y in batches])), np.sort(codes))
        epochs.append(x)
    # Every row once per epoch: the multiset of rows is the epoch's (possibly warped) image set.
    rows = [{row.tobytes() for row in x} for x in epochs]
    assert all(len(r) == 50 for r in rows)
    assert (rows[0] != rows[1]) is augment  # augmentation warps afresh every epoch; otherwise the same images
    orders = [np.concatenate([y for _, y in batches]) for batches in model.epochs]
    assert not np.array_equal(orders[0], orders[1])  # reshuffled every epoch
    again, _ = run()
    for first, second in zip(model.epochs, again.epochs):
        for (xa, ya), (xb, yb) in zip(first, second):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)


def test_epoch_figures_are_means_over_all_of_the_epochs_images(digits):
    # A learning rate too small to move the weights and no dropout: the epoch's training loss and accuracy
    # must then be those of the untrained network on all training images, not of the epoch's last batch.
    config = dataclasses.replace(seed_mlp_config(), epochs=1, batch_size=100, dropout=0.0, learning_rate=1e-12)
    model = NetworkClassifier.from_config(config).fit(digits.train_images, digits.train_labels)
    proba = model.predict_proba(digits.train_images).astype(np.float64)
    codes = np.searchsorted(model.classes_, digits.train_labels)
    assert model.history_["accuracy"][0] == pytest.approx(np.mean(proba.argmax(axis=1) == codes), abs=1e-6)
    nll = -np.log(np.clip(proba[np.arange(len(codes)), codes], 1e-7, 1.0))
    assert model.history_["loss"][0] == pytest.approx(nll.mean(), rel=1e-4)


def test_cosine_schedule_warms_up_then_decays_to_zero(fitted_cnn):
    _, history = fitted_cnn
    assert history["lr"][-1] == pytest.approx(0.0, abs=1e-9)
    assert history["lr"][0] > 0


def test_warmup_is_capped_at_half_of_a_shortened_training():
    from lussi.models.network_training import _learning_rate

    schedule = _learning_rate(dataclasses.replace(cnn_config(), epochs=1, warmup_epochs=1.0), steps_per_epoch=10)
    rates = [float(schedule(step)) for step in (0, 5, 10)]
    assert rates[0] == pytest.approx(0.0, abs=1e-9)
    assert rates[1] == pytest.approx(cnn_config().learning_rate)  # peak after 5 of 10 steps
    assert rates[2] == pytest.approx(0.0, abs=1e-9)


def test_constant_schedule_keeps_the_learning_rate(fitted_mlp):
    model, history = fitted_mlp
    assert history["lr"] == pytest.approx([model.config.learning_rate] * model.config.epochs)


@pytest.mark.parametrize("fixture", ["fitted_mlp", "fitted_cnn"])
def test_predictions_have_protocol_shapes_and_dtypes(fixture, request, digits):
    model, _ = request.getfixturevalue(fixture)
    proba = model.predict_proba(digits.test_images)
    labels = model.predict(digits.test_images)
    assert proba.shape == (len(digits.test_images), 10) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert labels.shape == (len(digits.test_images),) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    assert np.mean(labels == digits.test_labels) > 0.5  # learnt something in 2 epochs
    # Flattened rows and float [0, 1] images are accepted too.
    assert model.predict(digits.test_images[:1]).shape == (1,)
    np.testing.assert_allclose(model.predict_proba(digits.test_images.reshape(-1, 64)), proba, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(digits.test_images / 255.0), proba, atol=1e-6)


@pytest.mark.parametrize("fixture", ["fitted_mlp", "fitted_cnn"])
def test_fast_call_path_matches_keras_predict(fixture, request, digits):
    model, _ = request.getfixturevalue(fixture)
    x = model._inputs(digits.test_images)
    reference = model.keras_model_.predict(x, verbose=0)
    for batch in (digits.test_images[:1], digits.test_images[:7], digits.test_images):
        expected = reference[: len(batch)]
        np.testing.assert_allclose(model.predict_proba(batch), expected, rtol=1e-5, atol=1e-6)
    assert isinstance(model.call_path(1), str) and model.call_path(1)


def test_big_inputs_are_predicted_in_chunks(fitted_mlp, digits, monkeypatch):
    model, _ = fitted_mlp
    whole = model.predict_proba(digits.test_images)
    monkeypatch.setattr(network, "PREDICT_CHUNK", 50)
    calls = []
    forward = model._forward()
    monkeypatch.setattr(model, "_fast_fn", lambda x: calls.append(len(x)) or forward(x))
    np.testing.assert_allclose(model.predict_proba(digits.test_images), whole, atol=1e-6)
    assert max(calls) == 50 and sum(calls) == len(digits.test_images)
    assert "chunks of 50" in model.call_path(51)


def test_predict_validates_images(fitted_mlp):
    model, _ = fitted_mlp
    with pytest.raises(ValueError, match=r"images must have shape \(n, 8, 8\)"):
        model.predict(np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((1, 8, 8), np.nan))


def test_unfitted_model_says_to_fit_first(tmp_path):
    from sklearn.exceptions import NotFittedError

    model = NetworkClassifier.from_config(seed_mlp_config())
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(NotFittedError, match="not fitted"):
        model.save(tmp_path)


def test_fit_validates_labels(digits):
    model = NetworkClassifier.from_config(_quick(seed_mlp_config(), epochs=1))
    with pytest.raises(ValueError, match=r"labels must have shape \(1437,\)"):
        model.fit(digits.train_images, digits.train_labels[:-1])
    with pytest.raises(ValueError, match="at least two classes"):
        model.fit(digits.train_images[:5], np.zeros(5, np.int64))


def test_summary_table_and_sizes(fitted_mlp):
    model, _ = fitted_mlp
    table = model.summary_table()
    assert table[0] == ("input", (64,), 0)
    assert [shape for _, shape, _ in table[1:]] == [(256,), (256,), (128,), (128,), (64,), (10,)]
    assert sum(params for _, _, params in table) == model.n_params == 64 * 256 + 256 + 256 * 128 + 128 + 128 * 64 + 64 + 650
    assert model.nbytes == 4 * model.n_params  # float32 parameters


@pytest.mark.slow  # trains a Keras network
def test_progress_logs_one_line_per_epoch(digits, capsys):
    model = NetworkClassifier.from_config(_quick(seed_mlp_config(), epochs=2))
    with progress.showing():
        model.fit(digits.train_images[:200], digits.train_labels[:200])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[mlp] epoch")]
    assert len(lines) == 2 and "val_accuracy nan" in lines[0]


@pytest.mark.slow  # trains a Keras network
def test_label_smoothing_trains_and_loads(digits, tmp_path):
    model = NetworkClassifier.from_config(_quick(seed_mlp_config(), epochs=1, label_smoothing=0.1))
    history = model.fit(digits.train_images, digits.train_labels).history_
    assert np.isfinite(history["loss"]).all()
    model.save(tmp_path)
    np.testing.assert_allclose(NetworkClassifier.load(tmp_path).predict_proba(digits.test_images), model.predict_proba(digits.test_images), atol=1e-6)


# --------------------------------------------------------------------------- persistence


@pytest.mark.parametrize("fixture", ["fitted_mlp", "fitted_cnn"])
def test_save_load_round_trip_gives_identical_predictions(fixture, request, digits, tmp_path):
    model, _ = request.getfixturevalue(fixture)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "network.json"]
    loaded = NetworkClassifier.load(tmp_path)
    assert loaded.config == model.config and loaded.image_shape_ == model.image_shape_
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(digits.test_images), model.predict_proba(digits.test_images))
    assert loaded.n_params == model.n_params and loaded.summary_table() == model.summary_table()


def test_save_needs_an_existing_empty_directory(fitted_mlp, tmp_path):
    model, _ = fitted_mlp
    with pytest.raises(FileNotFoundError, match="not an existing directory"):
        model.save(tmp_path / "missing")
    (tmp_path / "other.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        model.save(tmp_path)


def test_load_refuses_a_lambda_layer_in_safe_mode(fitted_mlp, tmp_path):
    model, _ = fitted_mlp
    model.save(tmp_path)
    evil = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Dense(10, activation="softmax")])
    (tmp_path / "model.keras").unlink()
    evil.save(tmp_path / "model.keras")
    with pytest.raises(ValueError, match="(?i)lambda"):
        NetworkClassifier.load(tmp_path)


def test_load_refuses_directories_without_a_saved_network(tmp_path):
    with pytest.raises(ValueError, match="holds no saved network"):
        NetworkClassifier.load(tmp_path)
    (tmp_path / "model.keras").write_bytes(b"not a zip")
    (tmp_path / "network.json").write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(ValueError, match="not a lussi network"):
        NetworkClassifier.load(tmp_path)


# --------------------------------------------------------------------------- reproducibility


@pytest.mark.slow  # trains two Keras networks per case
@pytest.mark.parametrize("architecture", ["mlp", "cnn"])
def test_same_seed_gives_the_same_weights(architecture):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (96, 8, 8), dtype=np.uint8)
    labels = rng.integers(0, 3, 96)
    base = seed_mlp_config() if architecture == "mlp" else dataclasses.replace(cnn_config(), filters=(4, 8))
    config = dataclasses.replace(base, epochs=1, warmup_epochs=0.0, batch_size=32, seed=7)

    def weights(config):
        model = NetworkClassifier.from_config(config).fit(images, labels)
        return [np.asarray(w) for w in model.keras_model_.get_weights()]

    first, second = weights(config), weights(config)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = weights(dataclasses.replace(config, seed=8))
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))


def test_describe_names_layers_training_and_augmentation():
    assert seed_mlp_config().describe() == (
        "MLP, dense 256-128-64, dropout 0.2; Adam 0.001, constant rate; 10 epochs × batch 128")
    assert cnn_config(precision="float32").describe() == (
        "CNN, conv 3×3 + max-pool 32-64-128 → dense 128, dropout 0.3; Adam 0.002, 1-epoch warm-up + cosine; "
        "15 epochs × batch 128; augmentation: shift ±10%, rotation ±10°, zoom ±10%")
    plain = NetworkConfig(architecture="cnn", filters=(8,), hidden_units=(), dropout=0.0, batch_norm=True,
                          lr_schedule="cosine")
    assert plain.describe() == "CNN, conv 3×3 + max-pool 8 with batch norm; Adam 0.001, cosine; 10 epochs × batch 128"


# --------------------------------------------------------------------------- the scikit-learn estimator


def test_parameters_are_the_config_fields_with_its_defaults():
    from sklearn.base import clone

    fields = [field.name for field in dataclasses.fields(NetworkConfig)]
    assert list(NetworkClassifier().get_params()) == sorted([*fields, "image_shape"])
    assert NetworkClassifier().config == NetworkConfig() == seed_mlp_config()
    copy = clone(NetworkClassifier.from_config(cnn_config())).set_params(epochs=2)
    assert copy.config == dataclasses.replace(cnn_config(), epochs=2)
    assert copy.family == "network" and copy.monitors_validation and copy.training_epochs == 2
    assert copy.describe() == copy.config.describe()


def test_epochs_at_a_size_and_a_fresh_copy_for_it():
    model = NetworkClassifier.from_config(seed_mlp_config())  # 10 epochs of batch 128
    assert model.epochs_for(54000) == 10
    assert model.epochs_for(450, min_steps=400) == 100  # 4 steps per epoch
    assert model.epochs_for(450, min_steps=400, max_epochs=30) == 30
    assert model.epochs_for(54000, max_epochs=4) == 4
    warm = NetworkClassifier.from_config(cnn_config())  # 1-epoch warm-up
    small = warm.sized_for(54000, max_epochs=1)
    assert (small.epochs, small.warmup_epochs) == (1, 0.0) and not hasattr(small, "keras_model_")
    assert warm.sized_for(450, min_steps=400).get_params()["epochs"] == 100 and warm.epochs == 15


@pytest.mark.slow  # trains seven small networks on 300 images
def test_works_in_clone_pipeline_and_cross_validation(digits):
    from sklearn.base import clone
    from sklearn.metrics import RocCurveDisplay
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    X, y = digits.train_images[:300].reshape(300, -1), digits.train_labels[:300]
    tiny = NetworkClassifier(epochs=1, hidden_units=(16,), dropout=0.0, batch_size=32)
    fitted = clone(tiny).fit(X, y)
    assert fitted.n_features_in_ == 64 and fitted.image_shape_ == (8, 8) and fitted.classes_.tolist() == list(range(10))
    assert clone(fitted).get_params() == tiny.get_params() and not hasattr(clone(fitted), "keras_model_")
    # Floats scaled to [0, 1] (MinMaxScaler's output) are the same pixels as uint8 / 255.
    pipeline = make_pipeline(MinMaxScaler(), NetworkClassifier(architecture="cnn", filters=(4,), hidden_units=(),
                                                               epochs=1, batch_size=32, image_shape=(8, 8)))
    scores = cross_val_score(pipeline, X, y, cv=3)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    # 20 epochs of 7 steps (one epoch of 200 images is too few steps to learn); set_params on the template.
    assert cross_val_score(clone(tiny).set_params(epochs=20), X, y, cv=3).mean() > 0.5
    odd = clone(tiny).fit(X, y % 2)
    display = RocCurveDisplay.from_estimator(odd, digits.test_images.reshape(-1, 64), digits.test_labels % 2)
    assert 0.5 < display.roc_auc <= 1.0


# --------------------------------------------------------------------------- mixed precision


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("flags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni", True),  # AMD Zen 4
        ("flags\t\t: fpu avx512f amx_bf16 amx_tile amx_int8", True),  # Intel Sapphire Rapids
        ("flags\t\t: fpu sse2 avx2 avx512f avx512_vnni", False),  # AVX-512 without bfloat16
        ("processor\t: 0\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd", False),  # arm64: no flags line
    ],
)
def test_cpu_bf16_units_are_read_from_the_flags(flags, expected):
    assert network.cpu_has_bf16(flags) is expected
    assert cnn_config().precision == "float32"  # chosen on validation, whatever the CPU


def test_mixed_precision_trains_in_bfloat16_and_serves_float32(digits, tmp_path):
    import keras

    # 6 epochs: after 2, accuracy ranged 0.26-0.58 over seeds 0-2 (either precision), too close to chance to test.
    config = _quick(cnn_config(precision="mixed_bfloat16"), filters=(8, 16), batch_size=64, epochs=6)
    model = NetworkClassifier.from_config(config).fit(digits.train_images, digits.train_labels)
    assert keras.mixed_precision.global_policy().name == "float32"  # the training policy did not leak
    assert {layer.dtype_policy.name for layer in model.keras_model_.layers} == {"float32"}
    proba = model.predict_proba(digits.test_images)
    assert proba.dtype == np.float32 and np.mean(model.predict(digits.test_images) == digits.test_labels) > 0.5
    model.save(tmp_path)
    np.testing.assert_array_equal(NetworkClassifier.load(tmp_path).predict_proba(digits.test_images), proba)
    assert "trained in mixed bfloat16, served in float32" in config.describe()


def test_the_training_loop_is_part_of_a_networks_cache_key(monkeypatch):
    # A change in what a seed trains (batch order, epoch figures) must retrain cached networks, not reuse them.
    from lussi.models import network_training, train

    before = train.library_versions("network")
    monkeypatch.setattr(network_training, "TRAINING_LOOP", network_training.TRAINING_LOOP + 1)
    assert train.library_versions("network") != before
    assert "lussi_training_loop" not in train.library_versions("knn")
