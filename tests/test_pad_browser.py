"""The pad in headless Chromium: recorded strokes in, lussi's own answers out.

Real pen trajectories (tests/fixtures/pad, three digits written by people on a tablet) are replayed as
DevTools input events; the page's 28x28 array and its probabilities are read from the DOM and compared
with Keras and lussi's KNNClassifier on that same array, and the canvas's own PNG goes through lussi's
picture conversion. The deck tests render a small document with lussi's renderer and draw on its slide.
Everything here starts Chromium or trains Keras: slow.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from lussi.pad import PadKNNConfig, fit_pad_knn, pad_html
from lussi.pad.replay import fit_to_pad, load_strokes, mouse_events, touch_events

pytestmark = pytest.mark.slow

STROKES = Path(__file__).parent / "fixtures" / "pad" / "strokes.json"
LABELS = (7, 0, 4)
# The page's probabilities against Keras' predict on the same 28x28 input (float32 on both sides; only the
# order of the sums differs, which moves a probability by ~1e-7).
PROBABILITY_TOLERANCE = 1e-4
# The page's digit against lussi's conversion of the canvas's PNG, in grey levels. The JavaScript repeats
# lussi's arithmetic (float32 steps, NumPy's sums, Pillow's filters); what can still differ is the last bit
# of a Lanczos weight (the browser's Math.sin against the C library's sin), which can move a pixel that
# sits on a rounding boundary of x * 255 by one level. So: at most 1 level anywhere, on at most 1% of pixels.
MAX_LEVEL_DIFFERENCE, MAX_SHARE_DIFFERENT = 1, 0.01
PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>pad</title></head><body>{fragment}</body></html>'
QMD = """---
title: "Pad"
jupyter: python3
format:
  html:
    embed-resources: true
  revealjs:
    output-file: pad-slides.html
    embed-resources: true
---

## Before

A slide before the pad.

## Try it

```{python}
#| echo: false
#| output: asis
print("```{=html}\\n" + open("pad-fragment.html", encoding="utf-8").read() + "\\n```")
```

## After

A slide after the pad.
"""


@pytest.fixture(scope="module")
def driver():
    from lussi.pad.replay import chromium_driver

    try:
        browser = chromium_driver()
    except RuntimeError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(str(error))
        pytest.skip(str(error))
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def networks(mnist):
    """A tiny MLP and a tiny CNN with batch norm (every layer type the study's networks use), one epoch each."""
    from lussi.models.network import NetworkClassifier

    images, labels = mnist.train_images[:800], mnist.train_labels[:800]
    mlp = NetworkClassifier(architecture="mlp", hidden_units=(32, 16), epochs=1).fit(images, labels)
    cnn = NetworkClassifier(architecture="cnn", filters=(4, 8), hidden_units=(16,), batch_norm=True, epochs=1)
    return {"MLP": mlp, "CNN": cnn.fit(images, labels)}


@pytest.fixture(scope="module")
def pad_knn(mnist):
    return fit_pad_knn(mnist.train_images, mnist.train_labels, mnist.test_images[:500], mnist.test_labels[:500],
                       config=PadKNNConfig(n_train=2000))


@pytest.fixture(scope="module")
def fragment(networks, pad_knn):
    return pad_html(networks, pad_knn)


@pytest.fixture(scope="module")
def page(tmp_path_factory, fragment):
    path = tmp_path_factory.mktemp("pad") / "pad.html"
    path.write_text(PAGE.format(fragment=fragment), encoding="utf-8")
    return path


def _open(driver, url):
    driver.get(url)
    deadline = time.monotonic() + 60
    while _js(driver, "return document.getElementById('lussi-pad').dataset.state") == "loading":
        assert time.monotonic() < deadline, "the pad did not load its models within 60 s"
        time.sleep(0.05)
    state = _js(driver, "return document.getElementById('lussi-pad').dataset.state")
    assert state == "ready", [entry["message"] for entry in driver.get_log("browser")]


def _js(driver, script, *args):
    return driver.execute_script(script, *args)


def _draw(driver, strokes, *, touch=False):
    """Replay ``strokes`` (pad pixels) on the pad and wait for the answer to the last one."""
    _js(driver, "document.querySelector('#lussi-pad .lussi-pad-clear').click()")
    box = _js(driver, "var r = document.querySelector('#lussi-pad canvas').getBoundingClientRect();"
                      "return [r.left, r.top, r.width, r.height];")
    command = "Input.dispatchTouchEvent" if touch else "Input.dispatchMouseEvent"
    for event in (touch_events if touch else mouse_events)(strokes, box):
        driver.execute_cdp_cmd(command, event)
    deadline = time.monotonic() + 10
    while _js(driver, "return document.getElementById('lussi-pad').dataset.strokes") != str(len(strokes)):
        assert time.monotonic() < deadline, "the pad did not answer the strokes"
        time.sleep(0.02)


def _read(driver) -> dict:
    """What the page shows, as numbers: its digit, each model's probabilities, the KNN's neighbours, its PNG."""
    found = _js(driver, """
        var root = document.getElementById('lussi-pad');
        var proba = {};
        root.querySelectorAll('.lussi-pad-model').forEach(function (box) {
          proba[box.querySelector('.lussi-pad-name').textContent] = JSON.parse(box.dataset.proba);
        });
        return {pixels: root.dataset.pixels, proba: proba, latency: Number(root.dataset.latencyMs),
                neighbours: Array.from(root.querySelectorAll('.lussi-pad-neighbour'), function (f) {
                  return [Number(f.dataset.index), Number(f.dataset.label), Number(f.dataset.distance)]; }),
                png: root.querySelector('canvas.lussi-pad-canvas').toDataURL('image/png')};""")
    assert found["pixels"], "the page found no digit"
    found["pixels"] = np.array(found["pixels"].split(","), dtype=np.uint8).reshape(28, 28)
    found["proba"] = {name: np.array(p, dtype=np.float32) for name, p in found["proba"].items()}
    found["png"] = base64.b64decode(found["png"].split(",", 1)[1])
    return found


@pytest.fixture(scope="module")
def drawn(driver, page):
    """Each recorded digit drawn once with the mouse: what the page showed, by label."""
    _open(driver, page.as_uri())
    results = {}
    for digit in load_strokes(STROKES):
        _draw(driver, fit_to_pad(digit["strokes"]))
        results[digit["label"]] = _read(driver)
    return results


# ------------------------------------------------------------------------ 1. the page computes as lussi does

@pytest.mark.parametrize("label", LABELS)
def test_page_answers_as_keras_and_lussis_knn(drawn, networks, pad_knn, label):
    from lussi.models.network_training import network_inputs

    shown = drawn[label]
    for name, model in networks.items():
        keras_proba = model.keras_model_.predict(network_inputs(shown["pixels"][None], model.architecture), verbose=0)[0]
        assert shown["proba"][name].argmax() == keras_proba.argmax(), name
        np.testing.assert_allclose(shown["proba"][name], keras_proba, atol=PROBABILITY_TOLERANCE, rtol=0, err_msg=name)
    knn = pad_knn.classifier()
    np.testing.assert_allclose(shown["proba"]["KNN"], knn.predict_proba(shown["pixels"][None])[0],
                               atol=PROBABILITY_TOLERANCE, rtol=0)
    assert shown["proba"]["KNN"].argmax() == knn.predict(shown["pixels"][None])[0]
    distances, indices = knn.kneighbors(shown["pixels"][None])
    neighbours = np.array(shown["neighbours"])
    np.testing.assert_array_equal(neighbours[:, 0], indices[0])
    np.testing.assert_array_equal(neighbours[:, 1], pad_knn.labels[indices[0]])
    np.testing.assert_allclose(neighbours[:, 2], distances[0], rtol=1e-6)


# ------------------------------------------------------------- 2. the canvas's PNG through lussi's conversion

@pytest.mark.parametrize("label", LABELS)
def test_canvas_png_converts_to_the_pages_digit(drawn, networks, pad_knn, tmp_path, label):
    from PIL import Image

    from lussi.handwriting.files import load_digit_image

    shown = drawn[label]
    png = tmp_path / f"pad-{label}.png"
    png.write_bytes(shown["png"])
    with Image.open(png) as picture:
        assert picture.size == (280, 280) and picture.getextrema()[3] == (255, 255)  # opaque: white paper
    converted = load_digit_image(png)
    difference = np.abs(converted.astype(int) - shown["pixels"].astype(int))
    assert difference.max() <= MAX_LEVEL_DIFFERENCE, f"max {difference.max()}, mean {difference.mean():.4f}"
    assert np.mean(difference > 0) <= MAX_SHARE_DIFFERENT
    both = np.stack([converted, shown["pixels"]])
    for model in (*networks.values(), pad_knn.classifier()):
        first, second = model.predict(both)
        assert first == second


def test_page_conversion_is_lussis_on_varied_drawings(driver, page):
    """The page's conversion (no models involved) against lussi.picture.convert on drawings made with Pillow from
    the recorded strokes: digits small (Lanczos upscaling) and large, hairline pens (stroke thickening) and
    broad ones, near the edge, with a stray dot."""
    from PIL import Image, ImageDraw

    from lussi.picture import NoDigitFound, convert

    _open(driver, page.as_uri())
    rng = np.random.default_rng(0)
    for i, digit in enumerate(load_strokes(STROKES) * 4):
        fill, pen = (0.12, 0.35, 0.7, 0.95)[i % 4], (2.0, 6.0, 14.0, 26.0)[(i // 3) % 4]
        placed = fit_to_pad(digit["strokes"], fill=fill)
        shift = rng.uniform(-1, 1, 2) * (1 - fill) * 140
        big = Image.new("L", (1120, 1120), 255)
        drawing = ImageDraw.Draw(big)
        for stroke in placed:
            points = [((x + shift[0]) * 4, (y + shift[1]) * 4) for x, y in stroke]
            drawing.line(points, fill=0, width=round(4 * pen), joint="curve")
        if i % 5 == 4:
            x, y = rng.uniform(40, 1080, 2)
            drawing.ellipse([x - 12, y - 12, x + 12, y + 12], fill=0)
        grey = np.asarray(big.resize((280, 280), Image.Resampling.BOX))  # anti-aliased, as a canvas draws
        page_answer = _js(driver, "var r = LussiPadPicture.convert(Uint8Array.from(arguments[0]), 280, 280);"
                                  "return r.error ? r.error : Array.from(r.pixels);", grey.ravel().tolist())
        try:
            expected = convert(grey.astype(np.float32))
        except NoDigitFound:
            assert isinstance(page_answer, str) and page_answer.startswith("no digit found"), i
            continue
        assert not isinstance(page_answer, str), f"drawing {i}: {page_answer}"
        difference = np.abs(np.array(page_answer).reshape(28, 28) - expected.astype(int))
        assert difference.max() <= MAX_LEVEL_DIFFERENCE and np.mean(difference > 0) <= MAX_SHARE_DIFFERENT, i


# ------------------------------------------------------------ 3. in a rendered report and on a reveal.js slide

def _render(tmp_path_factory, fragment, engine):
    from lussi.render import render_report

    folder = tmp_path_factory.mktemp(f"deck-{engine}")
    (folder / "pad.qmd").write_text(QMD, encoding="utf-8")
    (folder / "pad-fragment.html").write_text(fragment, encoding="utf-8")
    return render_report(folder / "pad.qmd", engine=engine, progress=False).outputs


@pytest.mark.parametrize("engine", ["builtin", "quarto"])
def test_pad_in_a_rendered_report_and_deck(driver, tmp_path_factory, fragment, drawn, engine):
    if engine == "quarto" and shutil.which("quarto") is None:
        if os.environ.get("LUSSI_REQUIRE_QUARTO") == "1":
            pytest.fail("quarto is required (LUSSI_REQUIRE_QUARTO=1) but not on PATH")
        pytest.skip("quarto not on PATH")
    outputs = _render(tmp_path_factory, fragment, engine)
    digits = {digit["label"]: fit_to_pad(digit["strokes"]) for digit in load_strokes(STROKES)}

    # The report: the same strokes give the same answers as in the bare page.
    _open(driver, outputs["html"].as_uri())
    _draw(driver, digits[0])
    shown = _read(driver)
    np.testing.assert_array_equal(shown["pixels"], drawn[0]["pixels"])
    for name, proba in drawn[0]["proba"].items():
        np.testing.assert_array_equal(shown["proba"][name], proba)

    # The deck: strokes by finger and by mouse draw, and neither swipes nor moves the slide.
    _open(driver, outputs["revealjs"].as_uri())
    where = _js(driver, "Reveal.configure({transition: 'none'});"
                        "var at = Reveal.getIndices(document.getElementById('lussi-pad').closest('section'));"
                        "Reveal.slide(at.h, at.v); return at;")
    time.sleep(0.3)
    for label, touch in ((4, True), (7, False)):
        _draw(driver, digits[label], touch=touch)
        assert _js(driver, "return Reveal.getIndices();")["h"] == where["h"]
        # The slide is scaled, so the points reach the canvas through a scale and back: sub-pixel shifts of
        # the anti-aliased stroke edges, a few grey levels at a few pixels.
        difference = np.abs(_read(driver)["pixels"].astype(int) - drawn[label]["pixels"].astype(int))
        assert difference.max() <= 16 and np.mean(difference > 0) <= 0.05, (difference.max(), np.mean(difference > 0))
    # The keyboard still moves the deck on.
    for kind in ("keyDown", "keyUp"):
        driver.execute_cdp_cmd("Input.dispatchKeyEvent", {"type": kind, "key": "ArrowRight", "code": "ArrowRight",
                                                          "windowsVirtualKeyCode": 39})
    time.sleep(0.3)
    assert _js(driver, "return Reveal.getIndices();")["h"] == where["h"] + 1
