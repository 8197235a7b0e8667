"""Tests for lussi.pad without a browser: the small KNN, the network export, the fragment, the stroke replay.

The fragment's tests use hand-made ExportedNetwork objects, so they need no Keras; the export's tests train
tiny networks and are slow. What the page computes is checked in a browser by tests/test_pad_browser.py.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest

from lussi.pad import (
    PAD_SIDE,
    ExportedNetwork,
    PadKNN,
    PadKNNConfig,
    export_network,
    fit_pad_knn,
    pad_html,
    pad_payload,
    sample_indices,
)
from lussi.pad.replay import fit_to_pad, load_strokes, mouse_events, touch_events

STROKES = Path(__file__).parent / "fixtures" / "pad" / "strokes.json"
ASSETS = Path(__file__).parents[1] / "lussi" / "pad" / "assets"


@pytest.fixture(scope="module")
def digits28():
    """scikit-learn's 8x8 digits blown up to 28x28 uint8 (3x, centred): 1,797 small, learnable images."""
    from sklearn.datasets import load_digits

    data = load_digits()
    big = np.kron(np.rint(data.images * 255 / 16), np.ones((3, 3)))
    images = np.zeros((len(big), 28, 28), dtype=np.uint8)
    images[:, 2:26, 2:26] = big
    return images, data.target.astype(np.int64)


@pytest.fixture(scope="module")
def small_knn(digits28):
    images, labels = digits28
    return fit_pad_knn(images[:1200], labels[:1200], images[1200:], labels[1200:],
                       config=PadKNNConfig(n_train=500, n_neighbors=3))


def _dense_network(name="Dense", description="a dense layer") -> ExportedNetwork:
    """A 784 -> 10 softmax layer written by hand (what export_network would give for one Dense layer)."""
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(784, 10)).astype("<f4"), rng.normal(size=10).astype("<f4")
    layers = ({"name": "dense", "type": "dense", "activation": "softmax", "kernel": {"offset": 0, "shape": [784, 10]},
               "bias": {"offset": 7840, "shape": [10]}},)
    return ExportedNetwork(name, description, (784,), tuple(range(10)), layers, kernel.tobytes() + bias.tobytes())


def _unpack(text: str) -> bytes:
    return gzip.decompress(base64.b64decode(text))


def _page_data(fragment: str) -> dict:
    found = re.search(r'<script type="application/json" class="lussi-pad-data">(.*?)</script>', fragment, re.S)
    return json.loads(found.group(1))


# ----------------------------------------------------------------------------------------------- the small KNN

def test_pad_knn_config_checks():
    with pytest.raises(ValueError, match="n_train must be a positive integer"):
        PadKNNConfig(n_train=0)
    with pytest.raises(ValueError, match="weights must be one of"):
        PadKNNConfig(weights="cosine")
    with pytest.raises(ValueError, match="exceeds n_train"):
        PadKNNConfig(n_train=3, n_neighbors=5)
    knn = PadKNNConfig().knn_config()
    assert knn.is_raw and (knn.metric, knn.n_neighbors, knn.weights) == ("euclidean", 5, "distance")


def test_sample_is_stratified_seeded_and_ascending(digits28):
    _, labels = digits28
    config = PadKNNConfig(n_train=500)
    chosen = sample_indices(labels, config)
    assert len(chosen) == 500 and np.all(np.diff(chosen) > 0)
    np.testing.assert_array_equal(chosen, sample_indices(labels, config))
    assert not np.array_equal(chosen, sample_indices(labels, PadKNNConfig(n_train=500, random_state=1)))
    shares = np.bincount(labels[chosen], minlength=10) / 500
    np.testing.assert_allclose(shares, np.bincount(labels, minlength=10) / len(labels), atol=0.003)
    with pytest.raises(ValueError, match="exceeds the 1797 training images"):
        sample_indices(labels, PadKNNConfig(n_train=2000))


def test_fit_pad_knn_measures_and_describes(small_knn, digits28):
    images, labels = digits28
    assert small_knn.images.shape == (500, 28, 28) and small_knn.images.dtype == np.uint8
    np.testing.assert_array_equal(small_knn.images, images[small_knn.indices])
    assert small_knn.n_test == 597 and 0.8 < small_knn.test_accuracy <= 1
    # The accuracy is lussi's KNNClassifier's, on the same sample.
    predicted = small_knn.classifier().predict(images[1200:])
    assert small_knn.test_accuracy == pytest.approx(np.mean(predicted == labels[1200:]))
    text = small_knn.describe()
    assert text.startswith("k = 3 nearest of 500 training digits")
    assert "seed 0" in text and "raw pixels, Euclidean distance" in text and "1/distance" in text
    assert f"{100 * small_knn.test_accuracy:.2f}% correct on the 597 test digits" in text
    unmeasured = fit_pad_knn(images, labels, config=PadKNNConfig(n_train=300))
    assert unmeasured.test_accuracy is None and unmeasured.describe().endswith("votes weighted by 1/distance.")


def test_pad_knn_record_round_trip(small_knn, digits28):
    images, labels = digits28
    record = json.loads(json.dumps(small_knn.to_record()))
    back = PadKNN.from_record(record, images[:1200], labels[:1200])
    np.testing.assert_array_equal(back.images, small_knn.images)
    assert back.config == small_knn.config and back.test_accuracy == small_knn.test_accuracy
    with pytest.raises(ValueError, match="does not match these training labels"):
        PadKNN.from_record(record, images[:1200], np.roll(labels[:1200], 1))


def test_fit_pad_knn_checks_its_inputs(digits28):
    images, labels = digits28
    with pytest.raises(ValueError, match=r"uint8 of shape \(n, 28, 28\)"):
        fit_pad_knn(images.reshape(len(images), -1), labels)
    with pytest.raises(ValueError, match="digits 0..9"):
        fit_pad_knn(images, labels + 10, config=PadKNNConfig(n_train=100))
    with pytest.raises(ValueError, match="give both test_images and test_labels"):
        fit_pad_knn(images, labels, images[:5], config=PadKNNConfig(n_train=100))


# ------------------------------------------------------------------------------------------------ the fragment

def test_fragment_is_self_contained(small_knn):
    fragment = pad_html({"Dense": _dense_network()}, small_knn)
    assert fragment.startswith('<div class="lussi-pad" id="lussi-pad" data-state="loading" data-prevent-swipe>')
    assert fragment.endswith("</div>") and fragment.count('class="lussi-pad"') == 1
    # Nothing is fetched: no element refers to a file or a URL.
    assert not re.search(r"\s(src|href)=", fragment)
    assert "touch-action: none" in fragment
    assert 'LussiPad.start(document.getElementById("lussi-pad"))' in fragment
    assert "k = 3 nearest of 500 training digits" in fragment


def test_fragment_data_round_trips(small_knn):
    network = _dense_network()
    data = _page_data(pad_html({"Dense": network}, small_knn, pen_width=12, top=2))
    assert (data["pen_width"], data["top"]) == (12.0, 2)
    (spec,) = data["networks"]
    assert _unpack(spec.pop("weights")) == network.weights
    assert spec == network.spec()
    knn = data["knn"]
    assert (knn["n_train"], knn["n_neighbors"], knn["weights"], knn["classes"]) == (500, 3, "distance", list(range(10)))
    payload = _unpack(knn["data"])
    np.testing.assert_array_equal(np.frombuffer(payload[:500], np.uint8), small_knn.labels)
    np.testing.assert_array_equal(np.frombuffer(payload[500:], np.uint8).reshape(500, 28, 28), small_knn.images)


def test_fragment_escapes_its_text(small_knn):
    fragment = pad_html({"A <b>&</b>": _dense_network("A <b>&</b>", "ends </script><!--")}, small_knn)
    assert "A &lt;b&gt;&amp;&lt;/b&gt;" in fragment
    # Inside the JSON script "</script" and "<!--" would end or change it.
    data_script = re.search(r'class="lussi-pad-data">(.*?)</script>', fragment, re.S).group(1)
    assert "</" not in data_script and "<!--" not in data_script
    assert _page_data(fragment)["networks"][0]["description"] == "ends </script><!--"


def test_pad_html_checks_its_options(small_knn):
    networks = {"Dense": _dense_network()}
    with pytest.raises(ValueError, match="pen_width must be a number of canvas pixels"):
        pad_html(networks, small_knn, pen_width=0)
    with pytest.raises(ValueError, match="top must be an integer in"):
        pad_html(networks, small_knn, top=11)
    with pytest.raises(ValueError, match="element_id must be an HTML id"):
        pad_html(networks, small_knn, element_id="no spaces")
    with pytest.raises(ValueError, match="non-empty mapping"):
        pad_html({}, small_knn)
    with pytest.raises(ValueError, match="knn must be a PadKNN"):
        pad_html(networks, object())


def test_pad_payload_adds_up(small_knn):
    networks = {"Dense": _dense_network()}
    sizes = pad_payload(networks, small_knn)
    assert sizes["total"] == len(pad_html(networks, small_knn).encode())
    assert 350_000 < sizes["tfjs"] < 450_000 and sizes["scripts"] > 20_000
    parts = sizes["scripts"] + sizes["tfjs"] + sum(sizes["networks"].values()) + sizes["knn"]
    assert parts < sizes["total"] < parts + 20_000  # the rest is markup and the KNN's description


def test_assets_are_inlinable_and_licensed():
    for script in ASSETS.rglob("*.js"):
        text = script.read_text(encoding="utf-8")
        assert not re.search(r"</script|<!--", text, re.I), script.name
        assert "sourceMappingURL" not in text, script.name
    assert "Apache License" in (ASSETS / "tfjs" / "LICENSE").read_text()
    for bundle in ("tf-core.es2017.min.js", "tf-backend-cpu.es2017.min.js"):
        assert "Licensed under the Apache License, Version 2.0" in (ASSETS / "tfjs" / bundle).read_text()[:600]


# ---------------------------------------------------------------------------------------------- the replay

def test_recorded_strokes_fit_the_pad():
    digits = load_strokes(STROKES)
    assert [d["label"] for d in digits] == [7, 0, 4]
    for digit in digits:
        placed = fit_to_pad(digit["strokes"])
        points = np.array([p for stroke in placed for p in stroke])
        assert points.min() >= 0 and points.max() <= PAD_SIDE
        extent = points.max(axis=0) - points.min(axis=0)
        assert extent.max() == pytest.approx(0.7 * PAD_SIDE)
        raw = np.array([p for stroke in digit["strokes"] for p in stroke], dtype=float)
        raw_extent = raw.max(axis=0) - raw.min(axis=0)
        assert extent[0] / extent[1] == pytest.approx(raw_extent[0] / raw_extent[1])  # one scale: the writer's shape
    # The tablet's y points up, the pad's down: the 7's bar (its highest points) lands near the pad's top.
    seven = np.array(fit_to_pad(digits[0]["strokes"])[0])
    raw = np.array(digits[0]["strokes"][0])
    assert seven[np.argmax(raw[:, 1]), 1] == pytest.approx(seven[:, 1].min())


def test_input_events_per_stroke():
    strokes = [[(10.0, 20.0), (30.0, 40.0)], [(50.0, 60.0)]]
    box = (100, 200, PAD_SIDE / 2, PAD_SIDE / 2)  # a pad shown at half size
    mouse = mouse_events(strokes, box)
    assert [e["type"] for e in mouse] == ["mouseMoved", "mousePressed", "mouseMoved", "mouseReleased",
                                          "mouseMoved", "mousePressed", "mouseReleased"]
    assert (mouse[1]["x"], mouse[1]["y"], mouse[1]["buttons"]) == (105.0, 210.0, 1)
    touch = touch_events(strokes, box)
    assert [e["type"] for e in touch] == ["touchStart", "touchMove", "touchEnd", "touchStart", "touchEnd"]
    assert touch[1]["touchPoints"] == [{"x": 115.0, "y": 220.0, "id": 0}]


# ------------------------------------------------------------------------------------- the export (trains Keras)

def _numpy_forward(network: ExportedNetwork, pixels: np.ndarray) -> np.ndarray:
    """The exported layer list run in NumPy (float64): an independent reading of what export_network wrote."""
    values = np.frombuffer(network.weights, dtype="<f4").astype(np.float64)

    def array(ref):
        return values[ref["offset"]: ref["offset"] + int(np.prod(ref["shape"]))].reshape(ref["shape"])

    def activate(x, name):
        if name == "relu":
            return np.maximum(x, 0)
        if name == "softmax":
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        return x

    x = (pixels.astype(np.float32) / np.float32(255)).astype(np.float64).reshape(len(pixels), *network.input_shape)
    for layer in network.layers:
        if layer["type"] == "dense":
            x = x @ array(layer["kernel"]) + (array(layer["bias"]) if layer["bias"] else 0)
            x = activate(x, layer["activation"])
        elif layer["type"] == "conv2d":
            kernel = array(layer["kernel"])
            padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
            windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
            x = np.einsum("nhwcij,ijco->nhwo", windows, kernel) + (array(layer["bias"]) if layer["bias"] else 0)
            x = activate(x, layer["activation"])
        elif layer["type"] == "batchnorm":
            x = (x - array(layer["mean"])) / np.sqrt(array(layer["variance"]) + layer["epsilon"])
            x = x * array(layer["gamma"]) + array(layer["beta"])
        elif layer["type"] == "maxpool":
            n, h, w, c = x.shape
            x = x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
        elif layer["type"] == "flatten":
            x = x.reshape(len(x), -1)
        elif layer["type"] == "activation":
            x = activate(x, layer["activation"])
    return x


@pytest.fixture(scope="module")
def tiny_networks(digits28):
    from lussi.models.network import NetworkClassifier

    images, labels = digits28
    mlp = NetworkClassifier(architecture="mlp", hidden_units=(16, 8), epochs=1).fit(images[:300], labels[:300])
    cnn = NetworkClassifier(architecture="cnn", filters=(4, 8), hidden_units=(8,), batch_norm=True, epochs=1)
    return {"MLP": mlp, "CNN": cnn.fit(images[:300], labels[:300])}


@pytest.mark.slow
def test_export_lists_the_layers_the_page_runs(tiny_networks):
    cnn = export_network(tiny_networks["CNN"], name="CNN")
    assert cnn.input_shape == (28, 28, 1) and cnn.classes == tuple(range(10))
    assert [layer["type"] for layer in cnn.layers] == ["conv2d", "batchnorm", "activation", "maxpool"] * 2 + [
        "flatten", "dense", "dense"]  # the dropouts are gone
    assert cnn.layers[0]["bias"] is None and cnn.layers[0]["padding"] == "same"
    assert cnn.n_params == tiny_networks["CNN"].n_params
    mlp = export_network(tiny_networks["MLP"], name="MLP")
    assert mlp.input_shape == (784,) and mlp.description.startswith("MLP, dense 16-8")
    assert mlp.spec()["layers"][-1]["activation"] == "softmax"


@pytest.mark.slow
def test_export_reproduces_keras(tiny_networks, digits28):
    images, _ = digits28
    batch = images[1500:1540]
    for name, model in tiny_networks.items():
        exported = export_network(model, name=name)
        np.testing.assert_allclose(_numpy_forward(exported, batch), model.predict_proba(batch), atol=1e-5)


@pytest.mark.slow
def test_export_refuses_what_the_page_cannot_run(tiny_networks):
    import keras

    model = tiny_networks["MLP"]
    original = model.keras_model_
    try:
        model.keras_model_ = keras.Sequential([keras.Input(shape=(784,)), keras.layers.LayerNormalization(),
                                               keras.layers.Dense(10, activation="softmax")])
        with pytest.raises(ValueError, match="of type LayerNormalization is not one the page runs"):
            export_network(model, name="MLP")
        model.keras_model_ = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(10, activation="gelu")])
        with pytest.raises(ValueError, match="activation 'gelu' is not one the page runs"):
            export_network(model, name="MLP")
    finally:
        model.keras_model_ = original
