"""Training a Keras network on images: inputs, augmentation, loss, learning-rate schedule, epoch loop.

:func:`fit_keras` is what :meth:`lussi.models.network.NetworkClassifier.fit`
runs once the data are checked. Pixels are scaled to float32 in [0, 1]
outside the network (:func:`network_inputs`; the layer stack is exactly the
documented one); the CNN sees ``(n, h, w, 1)`` (channels last), the MLP
flattened rows ``(n, h*w)``.

Data augmentation (random rotation, zoom and shift, :func:`augment_images`) is
done in NumPy once per epoch rather than with Keras' random image layers: it
works on every backend and measured ~25 s/epoch cheaper than
``RandomTranslation`` + ``RandomRotation`` layers on TensorFlow CPU.

Reproducibility: training seeds Keras, NumPy and the backend with
``keras.utils.set_random_seed(seed)``; on TensorFlow CPU that alone gave
bit-identical weights across processes (tests/test_network.py checks it), so
``tf.config.experimental.enable_op_determinism()`` is *not* switched on: it is
process-wide (it would change every other model in the process) and bought no
reproducibility here; its speed cost on the MLP was within timing noise.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import time

import numpy as np

from .. import interrupts, progress
from .network_builders import build_network
from .network_config import NetworkConfig

__all__ = ["augment_images", "fit_keras", "network_inputs", "train_epochs"]

# Which epoch loop trained a network: part of its cache key, so that a change in
# what a seed produces (batch order, epoch figures) retrains rather than reuses.
# 2: train_on_batch over batches in a NumPy-seeded order (1: Keras fit).
TRAINING_LOOP = 2
# Images per augmentation chunk (float32 temporaries of ~4096*784*4 bytes each).
AUGMENT_CHUNK = 4096
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds")


def network_inputs(images: np.ndarray, architecture: str) -> np.ndarray:
    """Images in pixel units (uint8 or float32 0-255) -> float32 in [0, 1], (n, h, w, 1) for a CNN or (n, h*w)."""
    x = images.astype(np.float32) / np.float32(255.0)
    return _layout(x, architecture)


def _layout(x: np.ndarray, architecture: str) -> np.ndarray:
    if architecture == "cnn":
        return x[..., np.newaxis]
    return x.reshape(len(x), -1)


def augment_images(images, *, shift: float = 0.0, rotation: float = 0.0, zoom: float = 0.0, seed=None) -> np.ndarray:
    """Randomly rotate, zoom and shift each image (bilinear, zeros outside).

    Hand-written with NumPy because Keras' random image layers cost more than
    the CNN itself on TensorFlow CPU and scipy.ndimage works one image at a time.

    Parameters
    ----------
    images : ndarray of shape (n, h, w)
        uint8 0-255 or float.
    shift : float
        Maximum translation as a fraction of height/width.
    rotation : float
        Maximum rotation in degrees (either way).
    zoom : float
        Scale drawn uniformly from ``[1 - zoom, 1 + zoom]``.
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    ndarray of shape (n, h, w), float32
        In the input's units (clipped to 0-255 for uint8 input).
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, h, w), got {images.shape}")
    rng = np.random.default_rng(seed)
    n, height, width = images.shape
    out = np.empty(images.shape, dtype=np.float32)
    # Pad by 2 zero pixels so clipped sample coordinates fall on zeros.
    padded = np.pad(images.astype(np.float32, copy=False), ((0, 0), (2, 2), (2, 2)))
    ph, pw = height + 4, width + 4
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    grid_y, grid_x = (grid_y - cy).ravel(), (grid_x - cx).ravel()
    for start in range(0, n, AUGMENT_CHUNK):
        stop = min(n, start + AUGMENT_CHUNK)
        m = stop - start
        angle = np.deg2rad(rng.uniform(-rotation, rotation, m)).astype(np.float32)[:, None]
        scale = rng.uniform(1.0 - zoom, 1.0 + zoom, m).astype(np.float32)[:, None]
        ty = (rng.uniform(-shift, shift, m) * height).astype(np.float32)[:, None]
        tx = (rng.uniform(-shift, shift, m) * width).astype(np.float32)[:, None]
        cos, sin = np.cos(angle), np.sin(angle)
        # Inverse map: output pixel -> source coordinate (rotate back, unscale, unshift).
        dy, dx = grid_y[None] - ty, grid_x[None] - tx
        src_y = np.clip((cos * dy + sin * dx) / scale + cy, -1.0, height) + 2.0
        src_x = np.clip((-sin * dy + cos * dx) / scale + cx, -1.0, width) + 2.0
        y0, x0 = np.floor(src_y), np.floor(src_x)
        fy, fx = src_y - y0, src_x - x0
        y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
        base = (np.arange(m, dtype=np.intp) * (ph * pw))[:, None]
        flat = padded[start:stop].reshape(-1)
        top = base + y0 * pw + x0
        value = (
            flat[top] * (1 - fy) * (1 - fx) + flat[top + 1] * (1 - fy) * fx
            + flat[top + pw] * fy * (1 - fx) + flat[top + pw + 1] * fy * fx
        )
        out[start:stop] = value.reshape(m, height, width)
    if images.dtype == np.uint8:
        np.clip(out, 0.0, 255.0, out=out)  # bilinear weights can overshoot by float rounding
    return out


def _sparse_ce_with_smoothing(n_classes: int, smoothing: float):
    """Sparse cross-entropy with label smoothing (Keras' sparse loss has no such option)."""
    from keras import ops

    def loss(y_true, y_pred):
        y_pred = ops.clip(y_pred, 1e-7, 1.0)
        log_p = ops.log(y_pred)
        y_true = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        nll = -ops.sum(ops.one_hot(y_true, n_classes) * log_p, axis=-1)
        uniform = -ops.mean(log_p, axis=-1)
        return (1.0 - smoothing) * nll + smoothing * uniform

    loss.__name__ = "sparse_ce_label_smoothing"
    return loss


def _learning_rate(config: NetworkConfig, steps_per_epoch: int):
    import keras

    if config.lr_schedule == "constant":
        return config.learning_rate
    total = config.epochs * steps_per_epoch
    warmup = min(round(config.warmup_epochs * steps_per_epoch), total // 2)
    if warmup:
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(1, total - warmup), warmup_target=config.learning_rate, warmup_steps=warmup
        )
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total)


def _current_lr(optimizer) -> float:
    # float() rather than ops.convert_to_numpy: the latter warns under NumPy 2 with TF variables.
    return float(optimizer.learning_rate)


# Validation images per forward pass of the epoch-end check.
_VALIDATION_CHUNK = 1024


def _validation_figures(model, val_data, smoothing: float) -> tuple[float, float]:
    """(loss, accuracy) of ``model`` on ``(inputs, codes)``, the training loss's formula, by direct calls.

    Not Keras' ``evaluate``: it builds and tears down a data iterator on
    every call. When the augmented CNN still trained by one ``fit`` per epoch,
    its 15 epochs took 493 s with ``validation_data`` and 331 s this way, with
    the same weights (``benchmarks/first_report.py``, before and after).
    """
    inputs, codes = val_data
    if len(inputs) == 0:
        return float("nan"), float("nan")
    proba = np.concatenate([
        np.asarray(model(inputs[start:start + _VALIDATION_CHUNK], training=False), dtype=np.float64)
        for start in range(0, len(inputs), _VALIDATION_CHUNK)
    ])
    log_p = np.log(np.clip(proba, 1e-7, 1.0))
    nll = -log_p[np.arange(len(codes)), codes]
    loss = (1.0 - smoothing) * nll + smoothing * -log_p.mean(axis=1)
    return float(loss.mean()), float(np.mean(proba.argmax(axis=1) == codes))


def _epoch_recorder(history: dict, config: NetworkConfig, model, optimizer, val_data=None):
    """``record(epoch, logs, start)``: append one epoch's figures to ``history`` and log them."""

    def record(epoch: int, logs: dict, start: float) -> None:
        logs = dict(logs)
        if val_data is not None:
            logs["val_loss"], logs["val_accuracy"] = _validation_figures(model, val_data, config.label_smoothing)
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            history[key].append(float(logs.get(key, float("nan"))))
        history["lr"].append(_current_lr(optimizer))
        history["epoch_seconds"].append(time.perf_counter() - start)
        progress.log.info(
            "[%s] epoch %d/%d: loss %.4f, accuracy %.4f, val_loss %.4f, val_accuracy %.4f, lr %.2e, %.1f s",
            config.architecture, epoch + 1, config.epochs, history["loss"][-1], history["accuracy"][-1],
            history["val_loss"][-1], history["val_accuracy"][-1], history["lr"][-1], history["epoch_seconds"][-1],
        )

    return record


@contextlib.contextmanager
def _dtype_policy(name: str):
    """Keras' global dtype policy set to ``name`` while layers are built, restored afterwards."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _float32_copy(config: NetworkConfig, model, image_shape, n_classes: int):
    """The same layer stack under the float32 policy, holding ``model``'s (float32) weights."""
    with _dtype_policy("float32"):
        served = build_network(config, image_shape, n_classes)
    served.set_weights(model.get_weights())
    return served


def _compiled(config: NetworkConfig, image_shape, n_classes: int, n_images: int):
    """(model, optimizer): the network built from a seeded state and compiled for ``n_images`` per epoch."""
    import keras

    keras.utils.set_random_seed(config.seed)
    with _dtype_policy(config.precision):
        model = build_network(config, image_shape, n_classes)
    steps_per_epoch = math.ceil(n_images / config.batch_size)
    optimizer = keras.optimizers.Adam(learning_rate=_learning_rate(config, steps_per_epoch))
    loss = (
        _sparse_ce_with_smoothing(n_classes, config.label_smoothing)
        if config.label_smoothing
        else "sparse_categorical_crossentropy"
    )
    # XLA measured several times slower here on CPU, for convolutions (70 vs 12 s/epoch,
    # small CNN) and for the MLP (58 vs 12 s for 3 epochs); it is off.
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=False)
    return model, optimizer


def fit_keras(config: NetworkConfig, images: np.ndarray, codes: np.ndarray, n_classes: int, *,
              validation=None):
    """Train a fresh network on checked images (pixel units) and class codes ``0 .. n_classes - 1``.

    Parameters
    ----------
    config : NetworkConfig
    images : ndarray of shape (n, h, w), uint8 or float32 0-255
    codes : ndarray of shape (n,), int
    n_classes : int
        Output units.
    validation : (images, codes), optional
        Monitored after every epoch (never used to train).

    Returns
    -------
    model : keras.Model
        Float32 whatever ``config.precision`` trained it in.
    history : dict of str -> list of float
        Per epoch: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``
        (NaN without validation), ``lr`` (at the end of the epoch) and
        ``epoch_seconds`` (training + validation).
    """
    val_data = None
    if validation is not None:
        val_data = (network_inputs(validation[0], config.architecture), validation[1])
    model, optimizer = _compiled(config, images.shape[1:], n_classes, len(images))
    history = {key: [] for key in HISTORY_KEYS}
    record = _epoch_recorder(history, config, model, optimizer, val_data)
    with _epoch_inputs(images, config) as inputs:
        train_epochs(model, config, np.asarray(codes), inputs, record)
    if config.precision != "float32":
        model = _float32_copy(config, model, images.shape[1:], n_classes)
    return model, history


def train_epochs(model, config: NetworkConfig, codes: np.ndarray, inputs, record) -> None:
    """``config.epochs`` passes of ``train_on_batch`` over shuffled batches; ``record`` after each.

    Hand-written rather than ``model.fit``: Keras builds a data iterator for
    every epoch, and on 2 cores that cost 0.43 s per epoch (20 epochs of 15
    steps: 23.6 s by ``fit``, 15.2 s by this loop); the augmented networks
    and the learning curve's small sizes train for many short epochs.

    Parameters
    ----------
    model : keras.Model
        Compiled.
    config : NetworkConfig
        ``epochs``, ``batch_size`` and ``seed`` (of the batch order) are read.
    codes : ndarray of shape (n,)
    inputs : callable
        ``inputs(epoch)`` -> the network inputs of that epoch, ``(n, ...)``.
    record : callable
        ``record(epoch, logs, start)`` with the epoch's loss and accuracy,
        means over its images, and its ``time.perf_counter()`` start.
    """
    order_rng = np.random.default_rng([config.seed, 1])
    for epoch in range(config.epochs):
        start = time.perf_counter()  # waiting for the epoch's images counts
        x = inputs(epoch)
        order = order_rng.permutation(len(codes))
        sums = {}
        for begin in range(0, len(codes), config.batch_size):
            interrupts.check()  # stops within an epoch when Ctrl-C was swallowed by a finaliser
            rows = np.sort(order[begin:begin + config.batch_size])  # sorted: a faster gather, the same batch
            # train_on_batch resets the metrics first, so its logs are this batch's figures. Not reset here
            # too: a second reset cost the MLP 0.28 s per epoch (2.17 against 1.89 s for 422 steps).
            for key, value in model.train_on_batch(x[rows], codes[rows], return_dict=True).items():
                sums[key] = sums.get(key, 0.0) + float(value) * len(rows)
        # Means over the epoch's images, as fit() reports them (its loss tracker weighs batches by size).
        record(epoch, {key: total / len(codes) for key, total in sums.items()}, start)


@contextlib.contextmanager
def _epoch_inputs(images: np.ndarray, config: NetworkConfig):
    """``inputs(epoch)``: the same scaled images every epoch, or freshly warped ones under augmentation.

    The next epoch's images are warped in a background thread while Keras
    trains on this one (NumPy releases the GIL); a single worker keeps the
    RNG draws in order.
    """
    if not config.augment:
        fixed = network_inputs(images, config.architecture)
        yield lambda epoch: fixed
        return
    rng = np.random.default_rng(config.seed)

    def warped():
        out = augment_images(
            images, shift=config.augment_shift, rotation=config.augment_rotation, zoom=config.augment_zoom, seed=rng
        )
        out *= np.float32(1.0 / 255.0)  # in place: the warped images are 0-255 floats
        return _layout(out, config.architecture)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        pending = [executor.submit(warped)]

        def inputs(epoch):
            x = pending.pop().result()
            if epoch + 1 < config.epochs:
                pending.append(executor.submit(warped))
            return x

        try:
            yield inputs
        finally:
            for future in pending:
                future.cancel()
