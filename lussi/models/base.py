"""What every lussi model is: a scikit-learn classifier of images, and what callers may ask it.

:class:`ImageClassifier` is the base of :class:`~lussi.models.knn.KNNClassifier`
and :class:`~lussi.models.network.NetworkClassifier`. Both are scikit-learn
estimators (``get_params``/``set_params``/``clone``, ``fit`` returning self,
``predict``/``predict_proba``/``score``, ``classes_``, ``n_features_in_``), so
they work in ``Pipeline``, ``cross_val_score`` and ``RocCurveDisplay``.

Inputs follow :func:`lussi.validation.image_batch`: rows ``(n, h*w)`` in
scikit-learn's convention or images ``(n, h, w)``; integer pixels 0-255 or
floats scaled to [0, 1].

Hyperparameters have one home, the model's frozen config dataclass
(:class:`~lussi.models.knn_config.KNNConfig`,
:class:`~lussi.models.network_config.NetworkConfig`): its fields, defaults,
checks, description and record form (the cache key). The estimator's
constructor arguments are exactly those fields (plus ``image_shape``, which
describes the input, not the model), with the config's defaults;
:attr:`ImageClassifier.config` rebuilds the config from ``get_params()``, and
:meth:`ImageClassifier.from_config` is the way back.

What callers ask instead of branching on the kind of model:

==========================  ===================================================
``family``, ``family_label``  ``"knn"``/``"network"``, ``"KNN"``/``"neural network"``
``monitors_validation``       whether ``fit`` takes ``validation=(X, y)`` to monitor
``heavy_modules``             modules to import before a timed first fit
``training_epochs``           epochs one ``fit`` runs (None: not trained in epochs)
``validation_accuracy_``      accuracy on ``validation`` at the end of ``fit`` (or None)
``sized_for(n_fit, ...)``     a fresh unfitted copy for ``n_fit`` training images
``call_path(batch_size)``     the code path that predicts a batch of that size
``describe()``                one line naming the model's recipe
``nbytes``                    bytes of the fitted model in memory
==========================  ===================================================
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from sklearn.base import BaseEstimator, ClassifierMixin, clone

__all__ = ["ImageClassifier"]


class ImageClassifier(ClassifierMixin, BaseEstimator):
    """Base of lussi's estimators; subclasses set the class attributes and define ``__init__``/``fit``/``predict_proba``.

    ``__init__`` stores its arguments, one per field of ``config_class`` plus
    ``image_shape``, and does nothing else (scikit-learn's rule); they are
    checked when :attr:`config` is built, at the start of ``fit``.
    """

    config_class: ClassVar[type]
    family: ClassVar[str]
    family_label: ClassVar[str]
    monitors_validation: ClassVar[bool] = False
    heavy_modules: ClassVar[tuple[str, ...]] = ()

    # ----------------------------------------------------------------- hyperparameters

    @classmethod
    def from_config(cls, config, **params):
        """The unfitted estimator with ``config``'s hyperparameters (``params`` adds e.g. ``image_shape``)."""
        if not isinstance(config, cls.config_class):
            raise TypeError(f"config must be a {cls.config_class.__name__}, got {type(config).__name__}")
        fields = {field.name: getattr(config, field.name) for field in dataclasses.fields(config)}
        return cls(**fields, **params)

    @property
    def config(self):
        """The hyperparameters as the frozen config (raises ValueError naming a bad one)."""
        names = [field.name for field in dataclasses.fields(self.config_class)]
        return self.config_class(**{name: getattr(self, name) for name in names})

    def describe(self) -> str:
        """One line naming the recipe (see the config's ``describe``)."""
        return self.config.describe()

    # ----------------------------------------------------------------- what callers ask

    @property
    def training_epochs(self) -> int | None:
        """Epochs one ``fit`` runs; None for a model not trained in epochs."""
        return None

    @property
    def validation_accuracy_(self) -> float | None:
        """Accuracy on ``fit``'s ``validation`` data after the last epoch; None when nothing was monitored."""
        return None

    def sized_for(self, n_fit: int, *, min_steps: int = 0, max_epochs: int | None = None):
        """A fresh, unfitted copy to fit on ``n_fit`` images (the learning curve's models).

        Models not trained in epochs ignore the size: the copy is ``clone(self)``.
        """
        return clone(self)

    def call_path(self, batch_size: int = 1) -> str:
        """Name of the code path that predicts a batch of ``batch_size`` images (the latency table's label)."""
        return "predict"
