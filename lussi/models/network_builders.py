"""The networks' layer stacks: :func:`build_mlp` (the seed study's) and :func:`build_cnn`.

One short function each, in the style of keras-io's ``mnist_convnet.py``;
:func:`build_network` picks one from a :class:`~lussi.models.network_config.NetworkConfig`.
"""

from __future__ import annotations

import numpy as np

from .network_config import NetworkConfig

__all__ = ["build_cnn", "build_mlp", "build_network"]


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
        [keras.Input(shape=(n_inputs,)), *stack, _output_layer(n_classes)], name="mlp"
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
    stack.append(_output_layer(n_classes))
    return keras.Sequential([keras.Input(shape=(height, width, 1)), *stack], name="cnn")


def _output_layer(n_classes: int):
    """Softmax probabilities, in float32 even under mixed precision (bfloat16 keeps ~3 significant digits)."""
    from keras import layers

    return layers.Dense(n_classes, activation="softmax", dtype="float32")


def build_network(config: NetworkConfig, image_shape, n_classes: int):
    """The layer stack ``config`` describes, for images of ``image_shape`` and ``n_classes`` outputs."""
    if config.architecture == "mlp":
        return build_mlp(image_shape, n_classes, hidden_units=config.hidden_units, dropout=config.dropout)
    return build_cnn(
        image_shape, n_classes, filters=config.filters, hidden_units=config.hidden_units,
        dropout=config.dropout, batch_norm=config.batch_norm,
    )
