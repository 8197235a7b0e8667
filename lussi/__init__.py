"""lussi: K-nearest neighbours vs Keras neural networks on handwritten digits.

Importing :mod:`lussi` is cheap: Keras/TensorFlow are imported only inside the
functions that build, train or run a network.
"""

__version__ = "0.1.0"
