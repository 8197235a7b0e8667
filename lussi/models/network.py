"""Keras networks: the seed study's MLP and a small, fast CNN.

A network is described by a frozen :class:`NetworkConfig` (the one home of its
hyperparameters and part of its cache key) and built by one short function,
:func:`build_mlp` or :func:`build_cnn`, in the style of keras-io's
``mnist_convnet.py``. :class:`NetworkModel` trains it on uint8 images and
integer labels and serves the usual lussi protocol (``predict``,
``predict_proba``, ``save``/``load``, ``nbytes``).

Pixels are scaled to float32 in [0, 1] outside the network (the layer stack is
exactly the documented one); the CNN sees ``(n, h, w, 1)`` (channels last), the
MLP flattened rows ``(n, h*w)``. Data augmentation (random rotation, zoom and
shift) is done in NumPy once per epoch rather than with Keras' random image
layers: it works on every backend and measured ~25 s/epoch cheaper than
``RandomTranslation`` + ``RandomRotation`` layers on TensorFlow CPU.

Serving: ``predict``/``predict_proba`` call the network through a traced
``tf.function`` on TensorFlow (``jax.jit`` of ``stateless_call`` on JAX, a
direct ``model(x, training=False)`` elsewhere), ~0.4 ms for one image instead
of hundreds of ms through ``keras.Model.predict``; :meth:`NetworkModel.call_path`
names the path and ``benchmarks/network_latency.py`` measures all of them.

Reproducibility: ``fit`` seeds Keras, NumPy and the backend with
``keras.utils.set_random_seed(seed)``; on TensorFlow CPU that alone gave
bit-identical weights across processes (tests/test_network.py checks it), so
``tf.config.experimental.enable_op_determinism()`` is *not* switched on: it is
process-wide (it would change every other model in the process) and bought no
reproducibility here; its speed cost on the MLP was within timing noise.

Keras and the backend are imported inside functions so ``import lussi`` stays cheap.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .. import interrupts
from ..data import check_images

__all__ = [
    "ARCHITECTURES",
    "LR_SCHEDULES",
    "NetworkConfig",
    "NetworkModel",
    "augment_images",
    "build_cnn",
    "build_mlp",
    "cnn_config",
    "seed_mlp_config",
]

ARCHITECTURES = ("mlp", "cnn")
LR_SCHEDULES = ("constant", "cosine")

MODEL_FILE = "model.keras"
META_FILE = "network.json"
FORMAT_VERSION = 1

# Images per forward pass in predict/predict_proba: bounds memory (the CNN's
# widest activation, 28x28x32 float32, is ~100 MB for 1024 images) while the
# per-call overhead (< 1 ms on the fast path) stays negligible.
PREDICT_CHUNK = 1024
# Images per augmentation chunk (float32 temporaries of ~4096*784*4 bytes each).
AUGMENT_CHUNK = 4096


# --------------------------------------------------------------------------- configuration


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Hyperparameters of a network and its training.

    Attributes
    ----------
    architecture : {"mlp", "cnn"}
    epochs : int
        Passes over the training images (> 0).
    batch_size : int
    learning_rate : float
        Adam's (peak) learning rate.
    lr_schedule : {"constant", "cosine"}
        ``"cosine"`` decays from ``learning_rate`` to 0 over all steps, after a
        linear warm-up of ``warmup_epochs`` from 0.
    warmup_epochs : float
        Linear warm-up length (cosine schedule only); 0 for none. Capped at
        half the training, so shrinking ``epochs`` for a quick run
        (``dataclasses.replace(cnn_config(), epochs=2)``) needs nothing else.
    hidden_units : tuple of int
        MLP: widths of the hidden Dense layers. CNN: widths of Dense layers
        between the convolutions and the output (often empty).
    filters : tuple of int
        CNN: filters of each convolution stage (one 3x3 conv + max-pool).
    dropout : float
        MLP: dropout after each hidden layer but the last (the seed's layout).
        CNN: dropout before each Dense layer.
    batch_norm : bool
        CNN: batch normalization after each convolution.
    label_smoothing : float
        Share of the target probability spread evenly over all classes.
    augment_shift : float
        Random translation, as a fraction of height/width (0.1 = up to 2.8 px).
    augment_rotation : float
        Random rotation, in degrees either way.
    augment_zoom : float
        Random scale in ``[1 - zoom, 1 + zoom]``.
    seed : int
        Seeds weight initialisation, shuffling, dropout and augmentation.
    """

    architecture: str = "mlp"
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    warmup_epochs: float = 0.0
    hidden_units: tuple[int, ...] = (256, 128, 64)
    filters: tuple[int, ...] = ()
    dropout: float = 0.2
    batch_norm: bool = False
    label_smoothing: float = 0.0
    augment_shift: float = 0.0
    augment_rotation: float = 0.0
    augment_zoom: float = 0.0
    seed: int = 0

    def __post_init__(self):
        # Coerce lists (from JSON) to tuples so the config stays hashable.
        object.__setattr__(self, "hidden_units", tuple(int(u) for u in self.hidden_units))
        object.__setattr__(self, "filters", tuple(int(f) for f in self.filters))
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not (isinstance(self.epochs, (int, np.integer)) and self.epochs > 0):
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not (isinstance(self.batch_size, (int, np.integer)) and self.batch_size > 0):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not self.warmup_epochs >= 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        for name in ("augment_shift", "augment_zoom"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not 0 <= self.augment_rotation <= 180:
            raise ValueError(f"augment_rotation must be in [0, 180] degrees, got {self.augment_rotation!r}")
        if any(u <= 0 for u in self.hidden_units) or any(f <= 0 for f in self.filters):
            raise ValueError("hidden_units and filters must hold positive integers")
        if self.architecture == "cnn" and not self.filters:
            raise ValueError("a cnn needs at least one convolution stage: set filters, e.g. (32, 64, 128)")

    def describe(self) -> str:
        """One line: layers, optimiser and schedule, epochs, augmentation."""
        if self.architecture == "mlp":
            layers = f"MLP, dense {'-'.join(map(str, self.hidden_units))}"
        else:
            layers = f"CNN, conv 3×3 + max-pool {'-'.join(map(str, self.filters))}"
            if self.batch_norm:
                layers += " with batch norm"
            if self.hidden_units:
                layers += f" → dense {'-'.join(map(str, self.hidden_units))}"
        if self.dropout:
            layers += f", dropout {self.dropout:g}"
        if self.lr_schedule == "constant":
            schedule = "constant rate"
        elif self.warmup_epochs:
            schedule = f"{self.warmup_epochs:g}-epoch warm-up + cosine"
        else:
            schedule = "cosine"
        text = f"{layers}; Adam {self.learning_rate:g}, {schedule}; {self.epochs} epochs × batch {self.batch_size}"
        if self.augment:
            moves = []
            if self.augment_shift:
                moves.append(f"shift ±{100 * self.augment_shift:g}%")
            if self.augment_rotation:
                moves.append(f"rotation ±{self.augment_rotation:g}°")
            if self.augment_zoom:
                moves.append(f"zoom ±{100 * self.augment_zoom:g}%")
            text += "; augmentation: " + ", ".join(moves)
        return text

    @property
    def augment(self) -> bool:
        """Whether training images are randomly transformed."""
        return bool(self.augment_shift or self.augment_rotation or self.augment_zoom)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> NetworkConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown NetworkConfig fields: {sorted(unknown)}")
        return cls(**values)


def seed_mlp_config(*, seed: int = 0) -> NetworkConfig:
    """The seed study's MLP: 784-256-128-64-10, dropout 0.2, Adam, 10 epochs of batch 128."""
    return NetworkConfig(
        architecture="mlp", epochs=10, batch_size=128, learning_rate=1e-3, lr_schedule="constant",
        hidden_units=(256, 128, 64), dropout=0.2, seed=seed,
    )


def cnn_config(*, seed: int = 0) -> NetworkConfig:
    """The tuned CNN (recipe chosen on the validation split only).

    Three conv(3x3, ReLU)-maxpool stages of 32, 64, 128 filters (28 -> 14 -> 7
    -> 3), Dense 128, dropout 0.3; Adam with one epoch of linear warm-up to
    2e-3 then cosine decay to 0, batch 128, 15 epochs; every epoch sees freshly
    rotated (±10°), zoomed (±10 %) and shifted (±10 %) images.

    No batch norm: Keras 3's BatchNormalization is not fused on TensorFlow and
    measured 2.3x slower per epoch (92 vs 41 s on a loaded machine) for this
    network, while warm-up + cosine already train it stably.
    """
    # Measured with `python benchmarks/network_training.py --model cnn` (keras 3.15, TF 2.21 CPU, 2 cores
    # shared with other jobs, load average 5-8): validation accuracy 0.9958 (6,000 images carved from
    # train, seed 0; 0.9948 after 9 epochs, 0.9957 after 10), test accuracy 0.9963 (read once), 737 s
    # for 15 epochs (27-53 s/epoch under that load; 242k parameters). Chosen over 32-64-128 with batch
    # norm (2.3x slower per epoch) and over Keras RandomTranslation/RandomRotation layers (+25 s/epoch).
    return NetworkConfig(
        architecture="cnn", epochs=15, batch_size=128, learning_rate=2e-3, lr_schedule="cosine",
        warmup_epochs=1.0, hidden_units=(128,), filters=(32, 64, 128), dropout=0.3, batch_norm=False,
        label_smoothing=0.0, augment_shift=0.1, augment_rotation=10.0, augment_zoom=0.1, seed=seed,
    )


# --------------------------------------------------------------------------- builders


def build_mlp(input_shape, n_classes: int, *, hidden_units=(256, 128, 64), dropout: float = 0.2):
    """The seed study's multilayer perceptron.

    Parameters
    ----------
    input_shape : tuple of int
        ``(h*w,)`` or ``(h, w)``: the network sees flattened rows.
    n_classes : int
    hidden_units : tuple of int
        Widths of the ReLU hidden layers.
    dropout : float
        Dropout after every hidden layer except the last (0 for none).

    Returns
    -------
    keras.Sequential
        ``(n, h*w) -> (n, n_classes)`` softmax probabilities.
    """
    import keras
    from keras import layers

    n_inputs = int(np.prod(input_shape))
    stack = []
    for i, units in enumerate(hidden_units):
        stack.append(layers.Dense(units, activation="relu"))
        if dropout and i < len(hidden_units) - 1:
            stack.append(layers.Dropout(dropout))
    return keras.Sequential(
        [keras.Input(shape=(n_inputs,)), *stack, layers.Dense(n_classes, activation="softmax")], name="mlp"
    )


def build_cnn(
    input_shape, n_classes: int, *, filters=(32, 64, 128), hidden_units=(), dropout: float = 0.25,
    batch_norm: bool = True,
):
    """A small convolutional network for single-channel digit images.

    Each stage is a 3x3 convolution ('same' padding) + batch norm + ReLU,
    followed by 2x2 max-pooling while the feature map is at least 4 pixels on a
    side: 28x28 -> 14 -> 7 -> 3; sklearn's 8x8 digits -> 4 -> 2 -> 2.

    Parameters
    ----------
    input_shape : tuple of int
        ``(h, w)`` or ``(h, w, 1)``.
    n_classes : int
    filters : tuple of int
        Filters per stage.
    hidden_units : tuple of int
        Optional ReLU Dense layers after flattening.
    dropout : float
        Dropout before each Dense layer (0 for none).
    batch_norm : bool

    Returns
    -------
    keras.Sequential
        ``(n, h, w, 1) -> (n, n_classes)`` softmax probabilities.
    """
    import keras
    from keras import layers

    height, width = int(input_shape[0]), int(input_shape[1])
    stack = []
    size = min(height, width)
    for n_filters in filters:
        if batch_norm:
            # No conv bias under batch norm: BN's offset does its job.
            stack += [layers.Conv2D(n_filters, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.ReLU()]
        else:
            stack.append(layers.Conv2D(n_filters, 3, padding="same", activation="relu"))
        if size >= 4:
            stack.append(layers.MaxPooling2D(2))  # halves height and width (floor)
            size //= 2
    stack.append(layers.Flatten())  # (n, s, s, filters[-1]) -> (n, s*s*filters[-1])
    for units in hidden_units:
        if dropout:
            stack.append(layers.Dropout(dropout))
        stack.append(layers.Dense(units, activation="relu"))
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(n_classes, activation="softmax"))
    return keras.Sequential([keras.Input(shape=(height, width, 1)), *stack], name="cnn")


def _build(config: NetworkConfig, image_shape, n_classes: int):
    if config.architecture == "mlp":
        return build_mlp(image_shape, n_classes, hidden_units=config.hidden_units, dropout=config.dropout)
    return build_cnn(
        image_shape, n_classes, filters=config.filters, hidden_units=config.hidden_units,
        dropout=config.dropout, batch_norm=config.batch_norm,
    )


# --------------------------------------------------------------------------- augmentation


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


# --------------------------------------------------------------------------- training helpers


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


def _epoch_logger(history: dict, config: NetworkConfig, optimizer, progress: bool):
    """A Keras callback appending each epoch's figures to ``history`` (and printing them)."""
    import keras

    class EpochLogger(keras.callbacks.Callback):
        start = None

        def on_train_batch_begin(self, batch, logs=None):
            # Not on_train_batch_end: overriding that one turns off Keras' asynchronous dispatch.
            interrupts.check()  # stops within a batch when Ctrl-C was swallowed by a finaliser

        def on_epoch_begin(self, epoch, logs=None):
            if self.start is None:
                self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            seconds = time.perf_counter() - self.start
            self.start = None
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                history[key].append(float(logs.get(key, float("nan"))))
            history["lr"].append(_current_lr(optimizer))
            history["epoch_seconds"].append(seconds)
            if progress:
                print(
                    f"[{config.architecture}] epoch {epoch + 1}/{config.epochs}: "
                    f"loss {history['loss'][-1]:.4f}, accuracy {history['accuracy'][-1]:.4f}, "
                    f"val_loss {history['val_loss'][-1]:.4f}, val_accuracy {history['val_accuracy'][-1]:.4f}, "
                    f"lr {history['lr'][-1]:.2e}, {seconds:.1f} s",
                    file=sys.stderr, flush=True,
                )

    return EpochLogger()


# --------------------------------------------------------------------------- model


class NetworkModel:
    """A Keras network with lussi's model protocol.

    Parameters
    ----------
    config : NetworkConfig

    Attributes
    ----------
    config : NetworkConfig
    keras_model : keras.Model or None
        Set by :meth:`fit` or :meth:`load`.
    classes_ : ndarray of shape (n_classes,), int64
        Label of each output unit.
    image_shape : tuple of int
        ``(h, w)`` of the training images.
    """

    def __init__(self, config: NetworkConfig | None = None):
        if config is None:
            config = seed_mlp_config()
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, got {type(config).__name__}")
        self.config = config
        self.keras_model = None
        self.classes_ = None
        self.image_shape = None
        self._fast_fn = None

    # ----------------------------------------------------------------- inputs

    def _inputs(self, images: np.ndarray) -> np.ndarray:
        """uint8 (n, h, w) -> float32 in [0, 1], (n, h, w, 1) for the CNN or (n, h*w) for the MLP."""
        x = images.astype(np.float32) / np.float32(255.0)
        if self.config.architecture == "cnn":
            return x[..., np.newaxis]
        return x.reshape(len(x), -1)

    def _check_fitted(self):
        if self.keras_model is None:
            raise RuntimeError("this NetworkModel is not fitted: call fit() or NetworkModel.load() first")

    # ----------------------------------------------------------------- training

    def fit(self, images, labels, *, validation=None, progress: bool = True) -> dict:
        """Train from scratch on ``images``/``labels``.

        Parameters
        ----------
        images : ndarray of shape (n, h, w), uint8
        labels : ndarray of shape (n,), int
        validation : (images, labels), optional
            Monitored after every epoch (never used to train).
        progress : bool
            Print one line per epoch on stderr.

        Returns
        -------
        dict of str -> list
            Per epoch: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``
            (NaN without validation), ``lr`` (at the end of the epoch) and
            ``epoch_seconds`` (training + validation).
        """
        import keras

        images = np.asarray(images)
        if images.ndim != 3:
            raise ValueError(f"images must have shape (n, height, width), got {images.shape}")
        images = check_images(images, images.shape[1:])
        labels = np.asarray(labels)
        if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers of shape ({len(images)},), got {labels.dtype} {labels.shape}")
        classes = np.unique(labels)
        if len(classes) < 2:
            raise ValueError("labels must hold at least two classes")
        if classes.min() < 0:
            raise ValueError("labels must be non-negative class indices (0 .. n_classes-1)")
        # Output unit i is label i, as Keras' sparse loss needs; absent labels just get no examples.
        n_classes = int(classes.max()) + 1
        val_x = val_y = None
        if validation is not None:
            val_images, val_y = validation
            val_x = self._inputs(check_images(val_images, images.shape[1:]))
            val_y = np.asarray(val_y)
            if val_y.shape != (len(val_x),):
                raise ValueError(f"validation labels must have shape ({len(val_x)},), got {val_y.shape}")

        config = self.config
        keras.utils.set_random_seed(config.seed)
        model = _build(config, images.shape[1:], n_classes)
        steps_per_epoch = math.ceil(len(images) / config.batch_size)
        optimizer = keras.optimizers.Adam(learning_rate=_learning_rate(config, steps_per_epoch))
        loss = (
            _sparse_ce_with_smoothing(n_classes, config.label_smoothing)
            if config.label_smoothing
            else "sparse_categorical_crossentropy"
        )
        # XLA measured several times slower here on CPU, for convolutions (70 vs 12 s/epoch,
        # small CNN) and for the MLP (58 vs 12 s for 3 epochs); it is off.
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=False)
        self.keras_model, self.image_shape, self._fast_fn = model, tuple(images.shape[1:]), None
        self.classes_ = np.arange(n_classes, dtype=np.int64)

        rng = np.random.default_rng(config.seed)

        def augmented():
            warped = augment_images(
                images, shift=config.augment_shift, rotation=config.augment_rotation, zoom=config.augment_zoom, seed=rng
            )
            return self._inputs_from_float(warped)

        history = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds")}
        logger = _epoch_logger(history, config, optimizer, progress)
        fit_args = {
            "batch_size": config.batch_size,
            "validation_data": (val_x, val_y) if val_x is not None else None,
            "shuffle": True,
            "verbose": 0,
            "callbacks": [logger],
        }
        if not config.augment:
            model.fit(self._inputs(images), labels, epochs=config.epochs, **fit_args)
            return history
        # One fit() call per epoch on freshly warped images; the optimizer's step
        # counter (and so the LR schedule) carries on. The next epoch's images are
        # warped in a background thread while Keras trains (NumPy releases the
        # GIL); a single worker keeps the RNG draws in order.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
            pending = executor.submit(augmented)
            for epoch in range(config.epochs):
                logger.start = time.perf_counter()  # waiting for the images counts
                x = pending.result()
                pending = executor.submit(augmented) if epoch + 1 < config.epochs else None
                model.fit(x, labels, epochs=epoch + 1, initial_epoch=epoch, **fit_args)
        return history

    def _inputs_from_float(self, warped: np.ndarray) -> np.ndarray:
        """Augmented float images in 0-255 units -> network input (same layout as :meth:`_inputs`)."""
        x = warped
        x *= np.float32(1.0 / 255.0)
        if self.config.architecture == "cnn":
            return x[..., np.newaxis]
        return x.reshape(len(x), -1)

    # ----------------------------------------------------------------- inference

    def call_path(self, batch_size: int = 1) -> str:
        """Name of the code path :meth:`predict_proba` uses for a batch of ``batch_size``."""
        import keras

        backend = keras.backend.backend()
        if backend == "tensorflow":
            path = "tf.function(model(x, training=False))"
        elif backend == "jax":
            path = "jax.jit(model.stateless_call)"
        else:
            path = "model(x, training=False)"
        if batch_size > PREDICT_CHUNK:
            path += f" in chunks of {PREDICT_CHUNK}"
        return path

    def _forward(self):
        """The fastest correct call: x float32 array -> probabilities ndarray (measured in benchmarks/network_latency.py)."""
        if self._fast_fn is not None:
            return self._fast_fn
        import keras

        model = self.keras_model
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            # A traced graph skips Keras' per-call Python (layer by layer) and
            # predict()'s data-adapter set-up; the signature's None batch keeps
            # one trace for every batch size.
            spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
            # autograph=False: nothing to convert, and it avoids parsing the source.
            graph = tf.function(lambda x: model(x, training=False), input_signature=[spec], autograph=False)

            def fast(x):
                return graph(tf.constant(x)).numpy()

        elif backend == "jax":
            import jax

            call = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]

            def fast(x):
                return np.asarray(call(trainable, non_trainable, x))

        elif backend == "torch":
            import torch

            def fast(x):
                with torch.no_grad():  # no autograd graph for serving
                    return keras.ops.convert_to_numpy(model(x, training=False))

        else:

            def fast(x):
                return keras.ops.convert_to_numpy(model(x, training=False))

        self._fast_fn = fast
        return fast

    def predict_proba(self, images) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        images : array-like of shape (n, h, w) or (h, w)
            See :func:`lussi.data.check_images` for accepted forms.

        Returns
        -------
        ndarray of shape (n, n_classes), float32
            Rows sum to 1.
        """
        self._check_fitted()
        images = check_images(images, self.image_shape)
        forward = self._forward()
        chunks = [
            forward(self._inputs(images[start : start + PREDICT_CHUNK]))
            for start in range(0, len(images), PREDICT_CHUNK)
        ]
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def predict(self, images) -> np.ndarray:
        """Most probable label per image.

        Returns
        -------
        ndarray of shape (n,), int64
        """
        return self.classes_[self.predict_proba(images).argmax(axis=1)]

    # ----------------------------------------------------------------- description

    @property
    def n_params(self) -> int:
        """Number of parameters (trainable + batch-norm statistics)."""
        self._check_fitted()
        return int(self.keras_model.count_params())

    @property
    def nbytes(self) -> int:
        """Bytes of all parameters in memory."""
        self._check_fitted()
        return int(sum(np.dtype(v.dtype).itemsize * int(np.prod(v.shape)) for v in self.keras_model.weights))

    def summary_table(self) -> list[tuple[str, tuple, int]]:
        """``(layer name, output shape without batch, parameters)`` per layer, input first."""
        self._check_fitted()
        model = self.keras_model
        rows = [("input", tuple(model.input_shape[1:]), 0)]
        for layer in model.layers:
            rows.append((layer.name, tuple(layer.output.shape[1:]), int(layer.count_params())))
        return rows

    # ----------------------------------------------------------------- persistence

    def save(self, directory) -> Path:
        """Write ``model.keras`` and ``network.json`` (config, classes, input shape) into ``directory``.

        Parameters
        ----------
        directory : path-like
            An existing, empty directory.

        Returns
        -------
        Path
        """
        self._check_fitted()
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} is not an existing directory: create it first")
        if any(directory.iterdir()):
            raise FileExistsError(f"{directory} is not empty: save into an empty directory")
        with warnings.catch_warnings():
            # Keras 3 converts TF variables with np.array(x), which NumPy 2 flags;
            # harmless, and not ours to fix.
            warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept", category=DeprecationWarning)
            self.keras_model.save(directory / MODEL_FILE)
        meta = {
            "format": FORMAT_VERSION,
            "kind": "lussi.NetworkModel",
            "config": self.config.to_dict(),
            "classes": [int(c) for c in self.classes_],
            "image_shape": list(self.image_shape),
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory) -> NetworkModel:
        """Load a model written by :meth:`save`, in Keras' safe mode (no arbitrary code, no pickle).

        Raises
        ------
        ValueError
            Missing or foreign files, or a model Keras' safe mode refuses
            (e.g. a ``Lambda`` layer holding Python code).
        """
        import keras

        directory = Path(directory)
        model_path, meta_path = directory / MODEL_FILE, directory / META_FILE
        if not model_path.is_file() or not meta_path.is_file():
            raise ValueError(f"{directory} holds no saved NetworkModel (expected {MODEL_FILE} and {META_FILE})")
        meta = json.loads(meta_path.read_text())
        if meta.get("kind") != "lussi.NetworkModel" or meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{meta_path} is not a lussi NetworkModel description (format {FORMAT_VERSION})")
        self = cls(NetworkConfig.from_dict(meta["config"]))
        # compile=False: serving needs no optimizer or loss, and a custom training
        # loss (label smoothing) then need not be deserialised.
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
        self.keras_model = model
        self.classes_ = np.asarray(meta["classes"], dtype=np.int64)
        self.image_shape = tuple(int(s) for s in meta["image_shape"])
        expected = self._inputs(np.zeros((1, *self.image_shape), np.uint8)).shape[1:]
        if tuple(model.input_shape[1:]) != expected or model.output_shape[-1] != len(self.classes_):
            raise ValueError(
                f"{model_path} does not match {META_FILE}: input {model.input_shape}, output {model.output_shape}, "
                f"expected input (None, {', '.join(map(str, expected))}) and {len(self.classes_)} outputs"
            )
        return self

    def __repr__(self) -> str:
        state = "fitted" if self.keras_model is not None else "not fitted"
        return f"NetworkModel({self.config.architecture}, {state})"
