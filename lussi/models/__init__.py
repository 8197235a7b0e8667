"""Models: KNN (:mod:`lussi.models.knn`) and Keras networks (:mod:`lussi.models.network`), as scikit-learn estimators.

:class:`KNNClassifier` and :class:`NetworkClassifier` share
:class:`~lussi.models.base.ImageClassifier`'s protocol (what callers may ask a
model). :func:`train_model` (:func:`train_knn`, :func:`train_neural_network`)
trains through the cache; :func:`predict_test` predicts the test split once per model.
"""

from .knn import KNNClassifier
from .network import NetworkClassifier
from .train import TestPredictions, TrainedModel, predict_test, train_knn, train_model, train_neural_network

__all__ = ["KNNClassifier", "NetworkClassifier", "TestPredictions", "TrainedModel", "predict_test", "train_knn",
           "train_model", "train_neural_network"]
