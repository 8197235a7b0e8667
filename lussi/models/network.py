"""Keras networks (the seed study's MLP and a small, fast CNN) as scikit-learn estimators.

:class:`NetworkClassifier` takes the fields of
:class:`~lussi.models.network_config.NetworkConfig` as constructor arguments,
builds the network with :func:`~lussi.models.network_builders.build_mlp` or
:func:`~lussi.models.network_builders.build_cnn`, and trains it with
:func:`~lussi.models.network_training.fit_keras`. Inputs follow
:func:`lussi.validation.image_batch`: uint8 pixels (divided by 255) or floats
already scaled to [0, 1].

Serving: ``predict``/``predict_proba`` call the network through a traced
``tf.function`` on TensorFlow (``jax.jit`` of ``stateless_call`` on JAX, a
direct ``model(x, training=False)`` elsewhere), ~0.4 ms for one image instead
of hundreds of ms through ``keras.Model.predict``; :meth:`NetworkClassifier.call_path`
names the path and ``benchmarks/network_latency.py`` measures all of them.

Persistence is pickle-free: ``model.keras`` loaded in Keras' safe mode, and
``network.json`` (config, classes, image shape).

Keras and the backend are imported inside functions so ``import lussi`` stays cheap.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np

from ..validation import class_labels, image_batch
from .base import ImageClassifier
from .network_builders import build_cnn, build_mlp
from .network_config import ARCHITECTURES, LR_SCHEDULES, NetworkConfig, cnn_config, cpu_has_bf16, seed_mlp_config
from .network_training import augment_images, fit_keras, network_inputs

__all__ = [
    "ARCHITECTURES",
    "LR_SCHEDULES",
    "NetworkClassifier",
    "NetworkConfig",
    "augment_images",
    "build_cnn",
    "build_mlp",
    "cnn_config",
    "cpu_has_bf16",
    "seed_mlp_config",
]

MODEL_FILE = "model.keras"
META_FILE = "network.json"
FORMAT_VERSION = 1
# The saved format's name (kept from before the model was a scikit-learn estimator, so caches stay valid).
FORMAT_KIND = "lussi.NetworkModel"

# Images per forward pass in predict/predict_proba: bounds memory (the CNN's
# widest activation, 28x28x32 float32, is ~100 MB for 1024 images) while the
# per-call overhead (< 1 ms on the fast path) stays negligible.
PREDICT_CHUNK = 1024
_C = NetworkConfig  # the defaults' one home


class NetworkClassifier(ImageClassifier):
    """A Keras network as a scikit-learn classifier.

    Parameters
    ----------
    architecture, epochs, batch_size, learning_rate, lr_schedule, warmup_epochs, hidden_units, filters, \
dropout, batch_norm, label_smoothing, augment_shift, augment_rotation, augment_zoom, precision, seed
        The fields of :class:`~lussi.models.network_config.NetworkConfig`,
        with its defaults (the seed study's MLP) and checks (made by ``fit``).
    image_shape : (int, int), optional
        ``(height, width)`` of flattened rows; see :func:`lussi.validation.image_batch`.

    Attributes
    ----------
    keras_model_ : keras.Model
    classes_ : ndarray of shape (n_classes,)
        Label of each output unit.
    n_features_in_ : int
    image_shape_ : (int, int)
    history_ : dict of str -> list of float
        Per-epoch figures of the last ``fit`` (see :func:`~lussi.models.network_training.fit_keras`);
        not saved, so a loaded model has none.
    """

    config_class = NetworkConfig
    family = "network"
    family_label = "neural network"
    monitors_validation = True
    heavy_modules = ("keras",)

    def __init__(self, architecture=_C.architecture, epochs=_C.epochs, batch_size=_C.batch_size,
                 learning_rate=_C.learning_rate, lr_schedule=_C.lr_schedule, warmup_epochs=_C.warmup_epochs,
                 hidden_units=_C.hidden_units, filters=_C.filters, dropout=_C.dropout, batch_norm=_C.batch_norm,
                 label_smoothing=_C.label_smoothing, augment_shift=_C.augment_shift,
                 augment_rotation=_C.augment_rotation, augment_zoom=_C.augment_zoom, precision=_C.precision,
                 seed=_C.seed, image_shape=None):
        self.architecture = architecture
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.warmup_epochs = warmup_epochs
        self.hidden_units = hidden_units
        self.filters = filters
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.label_smoothing = label_smoothing
        self.augment_shift = augment_shift
        self.augment_rotation = augment_rotation
        self.augment_zoom = augment_zoom
        self.precision = precision
        self.seed = seed
        self.image_shape = image_shape

    # ----------------------------------------------------------------- training

    def fit(self, X, y, *, validation=None) -> NetworkClassifier:
        """Train from scratch.

        Parameters
        ----------
        X : array-like of shape (n, h*w) or (n, h, w)
        y : array-like of shape (n,)
            At least two classes.
        validation : (X, y), optional
            Monitored after every epoch (never used to train); ``history_``
            holds its loss and accuracy. One line per epoch goes to the ``lussi`` logger.

        Returns
        -------
        self
        """
        config = self._cfg = self.config
        images = image_batch(self, X, reset=True)
        classes, codes = np.unique(class_labels(y, len(images)), return_inverse=True)
        if len(classes) < 2:
            raise ValueError("labels must hold at least two classes")
        self.classes_ = classes
        val = None
        if validation is not None:
            val_images = image_batch(self, validation[0], reset=False)
            val = (val_images, self._codes_of(class_labels(validation[1], len(val_images))))
        self._fast_fn = None
        self.keras_model_, self.history_ = fit_keras(config, images, codes, len(classes), validation=val)
        return self

    def _codes_of(self, labels: np.ndarray) -> np.ndarray:
        codes = np.searchsorted(self.classes_, labels)
        known = (codes < len(self.classes_)) & (self.classes_[np.minimum(codes, len(self.classes_) - 1)] == labels)
        if not known.all():
            raise ValueError(f"validation label {labels[~known][0]!r} is not among the training labels")
        return codes.astype(np.int64)

    @property
    def training_epochs(self) -> int:
        """Epochs one ``fit`` runs (the ``epochs`` parameter)."""
        return int(self.epochs)

    @property
    def validation_accuracy_(self) -> float | None:
        """Validation accuracy after the last epoch of the last ``fit``; None when it monitored no validation."""
        accuracies = getattr(self, "history_", {}).get("val_accuracy")
        return float(accuracies[-1]) if accuracies and not math.isnan(accuracies[-1]) else None

    def epochs_for(self, n_fit: int, *, min_steps: int = 0, max_epochs: int | None = None) -> int:
        """Epochs to train on ``n_fit`` images.

        ``epochs`` at least, raised so that training takes at least
        ``min_steps`` optimizer steps (small sets would otherwise stop after a
        few dozen steps, far from converged), and at most ``max_epochs`` (which
        may lower ``epochs`` too, to bound the time of the largest sizes).
        """
        steps_per_epoch = math.ceil(n_fit / self.batch_size)
        epochs = max(self.epochs, math.ceil(min_steps / steps_per_epoch))
        if max_epochs is not None:
            epochs = min(epochs, max_epochs)
        return max(1, int(epochs))

    def sized_for(self, n_fit: int, *, min_steps: int = 0, max_epochs: int | None = None) -> NetworkClassifier:
        """A fresh, unfitted copy with :meth:`epochs_for` epochs (warm-up capped to all but the last epoch)."""
        epochs = self.epochs_for(n_fit, min_steps=min_steps, max_epochs=max_epochs)
        warmup = min(self.warmup_epochs, max(0.0, epochs - 1.0))
        return super().sized_for(n_fit).set_params(epochs=epochs, warmup_epochs=warmup)

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

    def _inputs(self, images: np.ndarray) -> np.ndarray:
        """Checked images (pixel units) -> the network's float32 input."""
        return network_inputs(images, self._cfg.architecture)

    def _forward(self):
        """The fastest correct call: x float32 array -> probabilities ndarray (measured in benchmarks/network_latency.py)."""
        if self._fast_fn is None:
            self._fast_fn = _fast_call(self.keras_model_)
        return self._fast_fn

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (columns in ``classes_`` order).

        Parameters
        ----------
        X : array-like of shape (n, h*w) or (n, h, w)

        Returns
        -------
        ndarray of shape (n, n_classes), float32
            Rows sum to 1.
        """
        images = image_batch(self, X, reset=False)
        forward = self._forward()
        chunks = [
            forward(self._inputs(images[start : start + PREDICT_CHUNK]))
            for start in range(0, len(images), PREDICT_CHUNK)
        ]
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def predict(self, X) -> np.ndarray:
        """Most probable label per image (from ``classes_``)."""
        proba = self.predict_proba(X)  # first: it says "not fitted" on an unfitted model
        return self.classes_[proba.argmax(axis=1)]

    # ----------------------------------------------------------------- description

    @property
    def n_params(self) -> int:
        """Number of parameters (trainable + batch-norm statistics)."""
        return int(self._fitted().count_params())

    @property
    def nbytes(self) -> int:
        """Bytes of all parameters in memory."""
        return int(sum(np.dtype(v.dtype).itemsize * int(np.prod(v.shape)) for v in self._fitted().weights))

    def summary_table(self) -> list[tuple[str, tuple, int]]:
        """``(layer name, output shape without batch, parameters)`` per layer, input first."""
        model = self._fitted()
        rows = [("input", tuple(model.input_shape[1:]), 0)]
        for layer in model.layers:
            rows.append((layer.name, tuple(layer.output.shape[1:]), int(layer.count_params())))
        return rows

    def _fitted(self):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        return self.keras_model_

    # ----------------------------------------------------------------- persistence

    def save(self, directory) -> Path:
        """Write ``model.keras`` and ``network.json`` (config, classes, input shape) into an existing, empty ``directory``."""
        model = self._fitted()
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} is not an existing directory: create it first")
        if any(directory.iterdir()):
            raise FileExistsError(f"{directory} is not empty: save into an empty directory")
        with warnings.catch_warnings():
            # Keras 3 converts TF variables with np.array(x), which NumPy 2 flags;
            # harmless, and not ours to fix.
            warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept", category=DeprecationWarning)
            model.save(directory / MODEL_FILE)
        meta = {
            "format": FORMAT_VERSION,
            "kind": FORMAT_KIND,
            "config": self._cfg.to_dict(),
            "classes": self.classes_.tolist(),
            "image_shape": list(self.image_shape_),
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory) -> NetworkClassifier:
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
            raise ValueError(f"{directory} holds no saved network (expected {MODEL_FILE} and {META_FILE})")
        meta = json.loads(meta_path.read_text())
        if meta.get("kind") != FORMAT_KIND or meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{meta_path} is not a lussi network description (format {FORMAT_VERSION})")
        config = NetworkConfig.from_dict(meta["config"])
        self = cls.from_config(config)
        # compile=False: serving needs no optimizer or loss, and a custom training
        # loss (label smoothing) then need not be deserialised.
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
        self._cfg, self._fast_fn, self.keras_model_ = config, None, model
        self.classes_ = np.asarray(meta["classes"])
        self.image_shape_ = tuple(int(s) for s in meta["image_shape"])
        self.n_features_in_ = int(np.prod(self.image_shape_))
        expected = self._inputs(np.zeros((1, *self.image_shape_), np.uint8)).shape[1:]
        if tuple(model.input_shape[1:]) != expected or model.output_shape[-1] != len(self.classes_):
            raise ValueError(
                f"{model_path} does not match {META_FILE}: input {model.input_shape}, output {model.output_shape}, "
                f"expected input (None, {', '.join(map(str, expected))}) and {len(self.classes_)} outputs"
            )
        return self


def _fast_call(model):
    """x float32 array -> probabilities ndarray, through the backend's fastest correct path."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # A traced graph skips Keras' per-call Python (layer by layer) and
        # predict()'s data-adapter set-up; the signature's None batch keeps
        # one trace for every batch size.
        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        # autograph=False: nothing to convert, and it avoids parsing the source.
        graph = tf.function(lambda x: model(x, training=False), input_signature=[spec], autograph=False)
        return lambda x: graph(tf.constant(x)).numpy()
    if backend == "jax":
        import jax

        call = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        return lambda x: np.asarray(call(trainable, non_trainable, x))
    if backend == "torch":
        import torch

        def fast(x):
            with torch.no_grad():  # no autograd graph for serving
                return keras.ops.convert_to_numpy(model(x, training=False))

        return fast
    return lambda x: keras.ops.convert_to_numpy(model(x, training=False))
