"""A fitted Keras network -> a JSON list of layers and one float32 weight buffer, for the pad's page.

The page runs the layers with TensorFlow.js ops (``assets/pad.js``), so the
list names what those ops need and nothing else: a layer's type, its options
(activation, padding, strides, epsilon) and where each of its arrays lies in
the buffer (offset in float32 values, shape). Dropout does nothing at
inference and is left out. The layer types are those
:mod:`lussi.models.network_builders` builds (Dense, Conv2D, BatchNormalization,
ReLU, MaxPooling2D, Flatten, Dropout) and Activation; anything else is refused
by name, so a new layer type cannot be silently dropped from the page.

Inputs follow :func:`lussi.models.network_training.network_inputs`: uint8
pixels divided by 255 in float32, reshaped to ``input_shape``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["ACTIVATIONS", "ExportedNetwork", "export_network"]

# Activations the page's forward pass applies (TensorFlow.js ops of the same name; "linear" is none).
ACTIVATIONS = ("linear", "relu", "softmax", "sigmoid", "tanh")
# The pad draws MNIST-sized digits.
IMAGE_SHAPE = (28, 28)


@dataclasses.dataclass(frozen=True)
class ExportedNetwork:
    """A network as the page runs it.

    Attributes
    ----------
    name : str
        The name the page shows (``"CNN"``).
    description : str
        The recipe, :meth:`lussi.models.network_config.NetworkConfig.describe`.
    input_shape : tuple of int
        The network's input without the batch axis: ``(784,)`` or ``(28, 28, 1)``.
    classes : tuple
        Label of each output unit.
    layers : tuple of dict
        JSON-ready layer descriptions; an array is ``{"offset": int, "shape": [int, ...]}``
        in float32 values from the start of ``weights``.
    weights : bytes
        Every array, little-endian float32, in the order the layers name them.
    """

    name: str
    description: str
    input_shape: tuple
    classes: tuple
    layers: tuple
    weights: bytes

    def spec(self) -> dict:
        """Everything but the weights, JSON-ready (the page's description of the network)."""
        return {
            "name": self.name,
            "description": self.description,
            "input_shape": list(self.input_shape),
            "classes": [c.item() if isinstance(c, np.generic) else c for c in self.classes],
            "layers": [dict(layer) for layer in self.layers],
        }

    @property
    def n_params(self) -> int:
        """Number of float32 values in ``weights``."""
        return len(self.weights) // 4


class _Buffer:
    """Collects arrays as float32 and hands out their references."""

    def __init__(self):
        self.parts: list[np.ndarray] = []
        self.size = 0

    def add(self, array) -> dict:
        array = np.ascontiguousarray(np.asarray(array), dtype="<f4")
        reference = {"offset": self.size, "shape": list(array.shape)}
        self.parts.append(array.ravel())
        self.size += array.size
        return reference

    def tobytes(self) -> bytes:
        return b"".join(part.tobytes() for part in self.parts)


def _activation(layer) -> str:
    config = layer.get_config()
    name = config.get("activation", "linear")
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"layer {layer.name!r}: activation {name!r} is not one the page runs ({', '.join(ACTIVATIONS)})")
    return name


def _check_channels_last(layer) -> None:
    if layer.get_config().get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"layer {layer.name!r}: only channels_last data is supported, as Keras' default")


def _dense(layer, buffer: _Buffer) -> dict:
    weights = layer.get_weights()
    return {"type": "dense", "activation": _activation(layer), "kernel": buffer.add(weights[0]),
            "bias": buffer.add(weights[1]) if layer.use_bias else None}


def _conv2d(layer, buffer: _Buffer) -> dict:
    _check_channels_last(layer)
    config = layer.get_config()
    if config.get("groups", 1) != 1:
        raise ValueError(f"layer {layer.name!r}: grouped convolutions are not supported")
    weights = layer.get_weights()
    return {"type": "conv2d", "activation": _activation(layer), "strides": list(config["strides"]),
            "padding": config["padding"], "dilation": list(config["dilation_rate"]),
            "kernel": buffer.add(weights[0]), "bias": buffer.add(weights[1]) if layer.use_bias else None}


def _batch_norm(layer, buffer: _Buffer) -> dict:
    config = layer.get_config()
    if config["axis"] not in (-1, len(layer.input.shape) - 1):
        raise ValueError(f"layer {layer.name!r}: batch normalisation over axis {config['axis']}, not the channels")
    weights = list(layer.get_weights())  # [gamma], [beta], moving mean, moving variance
    gamma = buffer.add(weights.pop(0)) if config["scale"] else None
    beta = buffer.add(weights.pop(0)) if config["center"] else None
    return {"type": "batchnorm", "epsilon": float(config["epsilon"]), "gamma": gamma, "beta": beta,
            "mean": buffer.add(weights[0]), "variance": buffer.add(weights[1])}


def _relu(layer, buffer: _Buffer) -> dict:
    config = layer.get_config()
    if config.get("max_value") is not None or config.get("negative_slope", 0) or config.get("threshold", 0):
        raise ValueError(f"layer {layer.name!r}: only a plain ReLU (no max_value, slope or threshold) is supported")
    return {"type": "activation", "activation": "relu"}


def _max_pool(layer, buffer: _Buffer) -> dict:
    _check_channels_last(layer)
    config = layer.get_config()
    return {"type": "maxpool", "pool": list(config["pool_size"]), "strides": list(config["strides"]),
            "padding": config["padding"]}


_EXPORTERS = {
    "Dense": _dense,
    "Conv2D": _conv2d,
    "BatchNormalization": _batch_norm,
    "ReLU": _relu,
    "Activation": lambda layer, buffer: {"type": "activation", "activation": _activation(layer)},
    "MaxPooling2D": _max_pool,
    "Flatten": lambda layer, buffer: _check_channels_last(layer) or {"type": "flatten"},
    "Dropout": None,  # identity at inference
    "InputLayer": None,  # a functional model's input: the page feeds input_shape itself
}


def export_network(model, *, name: str) -> ExportedNetwork:
    """Describe a fitted network's layers and weights for the page.

    Parameters
    ----------
    model : NetworkClassifier
        Fitted on 28x28 images.
    name : str
        The name the page shows for it (``"MLP"``, ``"CNN"``).

    Returns
    -------
    ExportedNetwork

    Raises
    ------
    ValueError
        A model not fitted on 28x28 images, or a layer (or layer option) the page does not run.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    if tuple(model.image_shape_) != IMAGE_SHAPE:
        raise ValueError(f"the pad draws 28x28 digits; this network was fitted on {model.image_shape_} images")
    keras_model = model.keras_model_
    buffer, layers = _Buffer(), []
    for layer in keras_model.layers:
        kind = type(layer).__name__
        if kind not in _EXPORTERS:
            raise ValueError(f"layer {layer.name!r} of type {kind} is not one the page runs "
                             f"({', '.join(sorted(_EXPORTERS))})")
        if _EXPORTERS[kind] is not None:
            layers.append({"name": layer.name, **_EXPORTERS[kind](layer, buffer)})
    return ExportedNetwork(
        name=str(name), description=model.config.describe(), input_shape=tuple(keras_model.input_shape[1:]),
        classes=tuple(model.classes_.tolist()), layers=tuple(layers), weights=buffer.tobytes(),
    )
