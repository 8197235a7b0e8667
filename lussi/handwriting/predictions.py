"""Each model's predicted digit and most probable classes for pictures already converted like MNIST."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

__all__ = ["Prediction", "class_name", "predict_images"]


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One model's answer for one image.

    Attributes
    ----------
    predicted : int
        The class the model predicts.
    top : tuple of (int, float)
        The most probable classes and their probabilities, most probable first.
    """

    predicted: int
    top: tuple[tuple[int, float], ...]

    def to_record(self) -> dict:
        """``{"predicted": int, "top": [[class, probability], ...]}``, the form ``lussi predict --json`` prints."""
        return {"predicted": self.predicted, "top": [[c, p] for c, p in self.top]}


def predict_images(images, models: Mapping[str, object], *, top: int = 3) -> list[dict[str, Prediction]]:
    """Each model's predicted digit and most probable classes for each image.

    Parameters
    ----------
    images : ndarray of shape (n, h, w)
        Preprocessed digits (uint8), e.g. from :func:`load_digit_images`.
    models : mapping of str to model
        Fitted models with ``predict`` and ``predict_proba`` (lussi's protocol);
        for a KNN the probabilities are the neighbours' vote shares.
    top : int, default 3
        How many (class, probability) pairs to keep.

    Returns
    -------
    list of dict of str to Prediction, one per image
        ``{model_name: Prediction}``; each ``top`` holds at most ``top`` classes with a probability above zero
        (at least one), sorted by probability with ties broken in favour of
        the predicted class, then the smaller class.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, h, w), got {images.shape}; use load_digit_images")
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty mapping of name to fitted model")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    rows: list[dict[str, Prediction]] = [{} for _ in range(len(images))]
    for name, model in models.items():
        predicted = np.asarray(model.predict(images), dtype=np.int64)
        proba = np.asarray(model.predict_proba(images), dtype=np.float64)
        if predicted.shape != (len(images),) or proba.ndim != 2 or len(proba) != len(images):
            raise ValueError(
                f"model {name!r} returned predictions of shape {predicted.shape} and probabilities of shape "
                f"{proba.shape} for {len(images)} images"
            )
        classes = np.arange(proba.shape[1])
        for i in range(len(images)):
            # lexsort's last key is the primary one: probability, then "is the prediction", then class.
            order = np.lexsort((classes, classes != predicted[i], -proba[i]))[:top]
            # Classes nobody voted for (KNN) are noise in a top-3 list; the first entry always stays.
            order = [c for j, c in enumerate(order) if j == 0 or proba[i, c] > 0]
            rows[i][str(name)] = Prediction(int(predicted[i]), tuple((int(c), float(proba[i, c])) for c in order))
    return rows


def class_name(class_names, label: int) -> str:
    """The name of class ``label`` in ``class_names`` (the number itself when there is none)."""
    if class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return str(label)
