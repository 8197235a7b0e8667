"""Recorded pen strokes replayed on the pad as DevTools input events (for the browser tests and the benchmark).

A stroke is a list of ``(x, y)`` points as a tablet recorded them (y upwards,
as in the UNIPEN files of the UCI pen-digits set). :func:`fit_to_pad` places a
digit's strokes on the pad; :func:`mouse_events` and :func:`touch_events` turn
them into the parameters of the Chrome DevTools Protocol's
``Input.dispatchMouseEvent`` / ``Input.dispatchTouchEvent``, which the browser
delivers like a real mouse or finger (pointer events included).
:func:`chromium_driver` starts headless Chromium under Selenium, which sends them.
"""

from __future__ import annotations

import json
from pathlib import Path

from .widget import PAD_SIDE

__all__ = ["chromium_driver", "fit_to_pad", "load_strokes", "mouse_events", "touch_events"]


def load_strokes(path) -> list[dict]:
    """The digits of a strokes file (``tests/fixtures/pad/strokes.json``): dicts with ``label`` and ``strokes``."""
    digits = json.loads(Path(path).read_text(encoding="utf-8"))["digits"]
    for digit in digits:
        if not digit["strokes"] or any(len(stroke) < 1 for stroke in digit["strokes"]):
            raise ValueError(f"digit {digit.get('label')!r} has an empty stroke")
    return digits


def fit_to_pad(strokes, *, side: float = PAD_SIDE, fill: float = 0.7) -> list[list[tuple[float, float]]]:
    """Scale and flip tablet strokes onto the pad: the digit's longer side ``fill`` of the pad, centred, y down.

    A similarity transform (one scale, a shift, a flip of y), so the trajectory stays the writer's.
    """
    points = [point for stroke in strokes for point in stroke]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    extent = max(max(xs) - min(xs), max(ys) - min(ys), 1)
    scale = fill * side / extent
    left = (side - (max(xs) - min(xs)) * scale) / 2
    top = (side - (max(ys) - min(ys)) * scale) / 2
    return [[(left + (x - min(xs)) * scale, top + (max(ys) - y) * scale) for x, y in stroke] for stroke in strokes]


def _to_page(point, box) -> tuple[float, float]:
    """Pad pixels -> page pixels in the canvas's bounding box ``(left, top, width, height)``."""
    left, top, width, height = box
    return left + point[0] * width / PAD_SIDE, top + point[1] * height / PAD_SIDE


def mouse_events(strokes, box) -> list[dict]:
    """``Input.dispatchMouseEvent`` parameters drawing ``strokes`` (pad pixels) with the left button.

    ``box`` is the canvas's ``getBoundingClientRect()`` as ``(left, top, width, height)``.
    """
    events = []
    for stroke in strokes:
        path = [_to_page(point, box) for point in stroke]
        events.append({"type": "mouseMoved", "x": path[0][0], "y": path[0][1], "button": "none", "buttons": 0})
        events.append({"type": "mousePressed", "x": path[0][0], "y": path[0][1], "button": "left", "buttons": 1,
                       "clickCount": 1})
        events += [{"type": "mouseMoved", "x": x, "y": y, "button": "left", "buttons": 1} for x, y in path[1:]]
        events.append({"type": "mouseReleased", "x": path[-1][0], "y": path[-1][1], "button": "left", "buttons": 0,
                       "clickCount": 1})
    return events


def touch_events(strokes, box) -> list[dict]:
    """``Input.dispatchTouchEvent`` parameters drawing ``strokes`` (pad pixels) with one finger."""
    events = []
    for stroke in strokes:
        path = [_to_page(point, box) for point in stroke]
        events.append({"type": "touchStart", "touchPoints": [{"x": path[0][0], "y": path[0][1], "id": 0}]})
        events += [{"type": "touchMove", "touchPoints": [{"x": x, "y": y, "id": 0}]} for x, y in path[1:]]
        events.append({"type": "touchEnd", "touchPoints": []})
    return events


def chromium_driver(*, window_size=(1280, 1000)):
    """Headless Chromium under Selenium (root-safe flags), with the system's chromedriver.

    Raises
    ------
    RuntimeError
        Selenium, Chromium or chromedriver is missing (``pip install selenium``,
        ``apt-get install chromium chromium-driver``).
    """
    import shutil

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise RuntimeError("the pad's browser checks need Selenium: pip install selenium") from None
    # The renderer's find_chromium looks the same; lussi.render is imported by nothing but the CLI.
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    browser = next((found for found in map(shutil.which, names) if found), None)
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if browser is None or not Path(driver).is_file():
        raise RuntimeError("no chromium or chromedriver found; install them (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", f"--window-size={window_size[0]},{window_size[1]}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager then downloads nothing.
    return webdriver.Chrome(service=Service(driver), options=options)
