"""Models: KNN (:mod:`lussi.models.knn`) and Keras networks (:mod:`lussi.models.network`).

:func:`train_knn` and :func:`train_neural_network` train through the cache;
:func:`predict_test` predicts the test split once per model.
"""

from .train import TestPredictions, TrainedModel, predict_test, train_knn, train_neural_network

__all__ = ["TestPredictions", "TrainedModel", "predict_test", "train_knn", "train_neural_network"]
