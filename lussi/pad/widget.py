"""The pad as one self-contained HTML fragment: :func:`pad_html`, and what it weighs: :func:`pad_payload`.

The fragment holds everything inline: its styles, TensorFlow.js, the
conversion and the pad's scripts (``assets/``), and its data in one JSON
``<script>``: each network's layer list (:func:`lussi.pad.export.export_network`)
and weights, and the KNN's sample (:class:`lussi.pad.knn.PadKNN`), binary data
gzipped and base64-encoded (the page unpacks it with the browser's
``DecompressionStream``). It reads no file and no network, so it works in an
``embed-resources`` report and in a reveal.js deck alike. Put it in a raw HTML
block (```` ```{=html} ````), not through ``display(HTML(...))``, which makes
real Quarto add require.js from a CDN.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from collections.abc import Mapping
from importlib import resources

import numpy as np

from .export import ExportedNetwork, export_network
from .knn import PadKNN

__all__ = ["DEFAULT_PEN_WIDTH", "PAD_SIDE", "pad_html", "pad_payload"]

# The pad's canvas, in its own pixels: within picture.WORK_SIDE (400), so the conversion never shrinks it.
PAD_SIDE = 280
# Pen width in canvas pixels: a digit drawn 200 px tall gets MNIST's stroke share of its height (about 9%
# before the conversion thickens strokes under 12% of the box).
DEFAULT_PEN_WIDTH = 18
# Scripts in the order the page runs them (tfjs-core before its CPU backend, the conversion before the pad).
_LIBRARIES = ("tfjs/tf-core.es2017.min.js", "tfjs/tf-backend-cpu.es2017.min.js")
_SCRIPTS = ("numeric.js", "picture.js", "pad.js")


def _asset(name: str) -> str:
    return resources.files("lussi.pad").joinpath("assets", name).read_text(encoding="utf-8")


def _script(source: str, name: str) -> str:
    # Inline script text ends at the first "</script" and "<!--" changes how it is parsed: refuse either.
    if re.search(r"</script|<!--", source, flags=re.IGNORECASE):
        raise ValueError(f"{name} holds '</script' or '<!--' and cannot be inlined")
    return f"<script>{source}</script>"


def _library(source: str, name: str) -> str:
    # The UMD bundles would register with an AMD loader or CommonJS if the page had one (Quarto pages with
    # widgets load require.js): hiding define/module/exports makes them set the global `tf`. Loaded once a page.
    loaded = "globalThis.tf && globalThis.tf." + ('findBackendFactory("cpu")' if "cpu" in name else "conv2d")
    return _script(f"(function (define, module, exports) {{\nif ({loaded}) return;\n{source}\n}}).call(globalThis);", name)


def _packed(data: bytes) -> str:
    """gzip (fixed mtime: the same input gives the same page) + base64.

    Level 6, not 9: on the pad's 6,000 digits level 9 took 1.31 s against 0.10 s for a page 2% (19 KB) lighter,
    and the report draws the pad twice (page and slides).
    """
    return base64.b64encode(gzip.compress(data, compresslevel=6, mtime=0)).decode("ascii")


def _json_for_html(value) -> str:
    # Inside <script type="application/json"> only "</" and "<!--" matter; \u003c keeps it valid JSON.
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _exported(networks: Mapping) -> list[ExportedNetwork]:
    if not isinstance(networks, Mapping) or not networks:
        raise ValueError("networks must be a non-empty mapping of name -> fitted NetworkClassifier")
    exported = []
    for name, model in networks.items():
        exported.append(model if isinstance(model, ExportedNetwork) else export_network(model, name=name))
    return exported


def _knn_spec(knn: PadKNN) -> dict:
    if not isinstance(knn, PadKNN):
        raise ValueError(f"knn must be a PadKNN (lussi.pad.fit_pad_knn), got {type(knn).__name__}")
    labels = np.asarray(knn.labels)
    payload = labels.astype(np.uint8).tobytes() + np.ascontiguousarray(knn.images, dtype=np.uint8).tobytes()
    return {"n_train": int(len(labels)), "n_neighbors": knn.config.n_neighbors, "weights": knn.config.weights,
            "classes": [int(c) for c in np.unique(labels)], "description": knn.describe(), "data": _packed(payload)}


def _data(networks: Mapping, knn: PadKNN, *, pen_width: float, top: int) -> dict:
    specs = []
    for network in _exported(networks):
        specs.append({**network.spec(), "weights": _packed(network.weights)})
    return {"networks": specs, "knn": _knn_spec(knn), "pen_width": float(pen_width), "top": int(top)}


def _check_options(pen_width, top, element_id) -> None:
    if isinstance(pen_width, bool) or not isinstance(pen_width, (int, float)) or not 1 <= pen_width <= PAD_SIDE / 4:
        raise ValueError(f"pen_width must be a number of canvas pixels in [1, {PAD_SIDE // 4}], got {pen_width!r}")
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 10:
        raise ValueError(f"top must be an integer in [1, 10], got {top!r}")
    if not re.fullmatch(r"[A-Za-z][\w-]*", str(element_id)):
        raise ValueError(f"element_id must be an HTML id (a letter, then letters, digits, '-' or '_'), got {element_id!r}")


def _markup(data: dict, element_id: str) -> str:
    models = "".join(
        f'<div class="lussi-pad-model" data-model="network" data-model-index="{i}">'
        f'<div class="lussi-pad-name">{html.escape(spec["name"])}</div><ol class="lussi-pad-top"></ol></div>'
        for i, spec in enumerate(data["networks"])
    )
    models += ('<div class="lussi-pad-model" data-model="knn"><div class="lussi-pad-name">KNN</div>'
               '<ol class="lussi-pad-top"></ol></div>')
    about = "; ".join(html.escape(s["description"] if s["description"].startswith(s["name"])
                                  else f"{s['name']}: {s['description']}") for s in data["networks"])
    knn = data["knn"]
    return (
        f'<div class="lussi-pad" id="{element_id}" data-state="loading" data-prevent-swipe>'
        f'<style>{_asset("pad.css")}</style>'
        '<div class="lussi-pad-row"><div class="lussi-pad-draw">'
        f'<canvas class="lussi-pad-canvas" width="{PAD_SIDE}" height="{PAD_SIDE}" role="img" '
        'aria-label="Drawing pad: draw one digit with the mouse, a pen or a finger"></canvas>'
        '<div class="lussi-pad-tools"><button type="button" class="lussi-pad-clear">Clear</button>'
        '<span class="lussi-pad-status" aria-live="polite">Loading the models…</span></div></div>'
        '<div class="lussi-pad-out"><div class="lussi-pad-input">'
        '<canvas class="lussi-pad-digit" width="28" height="28" role="img" aria-label="The 28×28 digit the models see">'
        '</canvas><span>What the models see: the drawing converted like MNIST (28×28).</span></div>'
        f'<div class="lussi-pad-models">{models}</div>'
        f'<div class="lussi-pad-name">The KNN\'s {knn["n_neighbors"]} nearest training digits (label · distance)</div>'
        '<div class="lussi-pad-neighbours"></div></div></div>'
        f'<p class="lussi-pad-about">Top {data["top"]} classes with their probabilities (networks) or vote shares '
        f'(KNN). The networks are the report\'s: {about}. The KNN is a smaller one that fits in the page: '
        f'{html.escape(knn["description"])}</p>'
        f'<script type="application/json" class="lussi-pad-data">{_json_for_html(data)}</script>'
    )


def pad_html(networks: Mapping, knn: PadKNN, *, pen_width: float = DEFAULT_PEN_WIDTH, top: int = 3,
             element_id: str = "lussi-pad") -> str:
    """One self-contained HTML fragment: a pad to draw a digit on, and what each model makes of it.

    When a stroke ends the page converts the drawing as :func:`lussi.picture.convert`
    does, shows the 28×28 image, each network's ``top`` classes and
    probabilities, and the KNN's neighbours (label, distance) and vote shares.

    Parameters
    ----------
    networks : mapping of str to NetworkClassifier or ExportedNetwork
        The report's networks by the name the page shows (``{"MLP": mlp, "CNN": cnn}``),
        fitted on 28×28 images.
    knn : PadKNN
        The page's KNN (:func:`lussi.pad.fit_pad_knn`); its :meth:`~lussi.pad.knn.PadKNN.describe`
        sentence is printed under the pad.
    pen_width : float, default 18
        Stroke width in pad pixels (the pad is 280×280).
    top : int, default 3
        Classes listed per model.
    element_id : str, default "lussi-pad"
        The fragment's HTML id (unique in the page).

    Returns
    -------
    str
        ``<div>`` with inline ``<style>`` and ``<script>`` elements; put it in a raw HTML block.
    """
    _check_options(pen_width, top, element_id)
    data = _data(networks, knn, pen_width=pen_width, top=top)
    scripts = [_library(_asset(name), name) for name in _LIBRARIES] + [_script(_asset(n), n) for n in _SCRIPTS]
    start = _script(f'LussiPad.start(document.getElementById("{element_id}"));', "start")
    return _markup(data, element_id) + "".join(scripts) + start + "</div>"


def pad_payload(networks: Mapping, knn: PadKNN) -> dict:
    """What the fragment weighs, in bytes of HTML (UTF-8).

    Returns
    -------
    dict
        ``scripts`` (the pad's own JavaScript and CSS), ``tfjs`` (the vendored
        library), ``networks`` (name -> its weights in base64 plus its layer
        list), ``knn`` (the sample in base64), ``total`` (the whole fragment).
    """
    data = _data(networks, knn, pen_width=DEFAULT_PEN_WIDTH, top=3)
    sizes = {
        "scripts": sum(len(_asset(n).encode()) for n in (*_SCRIPTS, "pad.css")),
        "tfjs": sum(len(_asset(n).encode()) for n in _LIBRARIES),
        "networks": {spec["name"]: len(_json_for_html(spec)) for spec in data["networks"]},
        "knn": len(data["knn"]["data"]),
    }
    sizes["total"] = len(pad_html(networks, knn).encode("utf-8"))
    return sizes
