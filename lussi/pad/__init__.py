"""Try it in the page: a pad to draw a digit on, and what the report's models make of it.

The report (and its reveal.js deck) gets one self-contained HTML fragment.
When a stroke ends, the page converts the drawing as :func:`lussi.picture.convert`
does (crop to the ink, fit 20×20 keeping the aspect ratio, centre of mass in
28×28, anti-aliased), shows that 28×28 image, each network's top classes, and
a small KNN's nearest training digits and vote shares. Everything runs in the
page: TensorFlow.js (vendored under ``assets/tfjs``) runs the networks' layers
in float32, as Keras does; the KNN is an exact search over a sample of the
training set that :class:`lussi.models.knn.KNNClassifier` reproduces.

Public functions
----------------
``fit_pad_knn(train_images, train_labels, test_images=None, test_labels=None, *, config=None) -> PadKNN``
    Draw the page's KNN sample (:class:`PadKNNConfig`: ``n_train=6000``,
    ``n_neighbors=5``, ``weights="distance"``, ``random_state=0``) and measure
    its test accuracy once. ``PadKNN.describe()`` is the sentence the page
    prints; ``PadKNN.to_record()`` / ``PadKNN.from_record(record, train_images,
    train_labels)`` are its JSON cache form; ``PadKNN.classifier()`` is the same
    KNN as a fitted ``KNNClassifier``.
``pad_html(networks, knn, *, pen_width=18, top=3, element_id="lussi-pad") -> str``
    The fragment: ``networks`` maps the names to show to fitted
    ``NetworkClassifier`` models (``{"MLP": mlp, "CNN": cnn}``). Put it in a
    ```` ```{=html} ```` block.
``pad_payload(networks, knn) -> dict``
    Bytes of the fragment's parts (scripts, tfjs, each network, the KNN, total).
``export_network(model, *, name) -> ExportedNetwork``
    A network's layer list and float32 weights, as the page runs them.

Modules: :mod:`.export` (Keras → layers + weights), :mod:`.knn` (the small
KNN), :mod:`.widget` (the fragment), :mod:`.replay` (recorded pen strokes as
DevTools input events, for the browser tests and the benchmark), ``assets/`` (``numeric.js`` and
``picture.js``: the conversion; ``pad.js``, ``pad.css``: the pad; ``tfjs/``:
TensorFlow.js 4.22 core + CPU backend, Apache 2.0). ``benchmarks/pad.py``
measures the payload and the delay from the end of a stroke to the results.
Importing this package imports neither Keras nor TensorFlow.
"""

from .export import ExportedNetwork, export_network
from .knn import PadKNN, PadKNNConfig, fit_pad_knn, sample_indices
from .widget import DEFAULT_PEN_WIDTH, PAD_SIDE, pad_html, pad_payload

__all__ = [
    "DEFAULT_PEN_WIDTH",
    "PAD_SIDE",
    "ExportedNetwork",
    "PadKNN",
    "PadKNNConfig",
    "export_network",
    "fit_pad_knn",
    "pad_html",
    "pad_payload",
    "sample_indices",
]
