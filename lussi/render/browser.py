"""Look at a rendered report in headless Chromium (for tests and sanity checks).

Chromium runs offline-minded (``--disable-background-networking`` and friends)
with a fresh profile each time. Two runs per page: ``--dump-dom`` reads the DOM
after scripts ran (reveal.js lays out the deck), ``--screenshot`` takes a PNG.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["ChromiumNotFound", "find_chromium", "inspect_page"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    # Lets the page's scripts and load event finish before the DOM/screenshot is taken.
    "--virtual-time-budget=5000",
)
# Appended to a copy of the page: records what only the live DOM knows (layout-aware
# text via innerText, whether <img> elements decoded) as attributes that --dump-dom shows.
_PROBE = """
<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var root = document.documentElement;
  root.setAttribute("data-probe-images", String(imgs.length));
  root.setAttribute("data-probe-images-loaded",
    String(imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length));
  root.setAttribute("data-probe-text-length", String((document.body.innerText || "").trim().length));
});
</script>
"""


class ChromiumNotFound(FileNotFoundError):
    """No Chromium/Chrome executable was found."""


def find_chromium() -> str | None:
    """Path of a Chromium-compatible browser, or None.

    Looks for ``chromium``, ``chromium-browser``, ``google-chrome`` and
    ``google-chrome-stable`` on PATH, then ``/usr/bin/chromium``.
    """
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return None


def _run(browser: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="lussi-chromium-") as profile:
        cmd = [browser, *_FLAGS, f"--user-data-dir={profile}", *args]
        try:
            return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"chromium did not finish within {timeout} s: {' '.join(cmd)}") from None


class _TitleParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self._in_title = tag == "title" and not self.title

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def _probe(dom: str, name: str) -> int:
    match = re.search(rf'{name}="(\d+)"', dom)
    return int(match.group(1)) if match else -1


def inspect_page(html_path, screenshot=None, *, window_size=(1280, 2000), timeout=60.0) -> dict:
    """Load an HTML file in headless Chromium and report what it shows.

    Parameters
    ----------
    html_path : str or Path
        The page to load (a local file).
    screenshot : str or Path, optional
        Where to write a PNG of the page; no screenshot when omitted.
    window_size : tuple of int, default (1280, 2000)
        Browser window (width, height) in pixels.
    timeout : float, default 60
        Seconds each Chromium run may take.

    Returns
    -------
    dict
        ``title`` (str, the document title after scripts ran), ``text_length``
        (int, characters of rendered text, ``document.body.innerText``),
        ``images`` and ``images_loaded`` (int, ``<img>`` elements and those that
        decoded; -1 if the probe did not run), ``dom_length`` (int), and with a
        screenshot also ``screenshot`` (Path), ``screenshot_bytes`` (int),
        ``screenshot_size`` ((width, height)) and ``nonwhite_fraction`` (float
        in [0, 1], share of pixels that are not near-white).

    Raises
    ------
    ChromiumNotFound
        No browser found (see :func:`find_chromium`).
    FileNotFoundError
        ``html_path`` does not exist.
    RuntimeError
        Chromium failed or produced no screenshot.
    """
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(f"no such page: {html_path}")
    browser = find_chromium()
    if browser is None:
        raise ChromiumNotFound("no chromium found on PATH; install it (e.g. `apt-get install chromium`)")
    width, height = (int(v) for v in window_size)
    dom = _dump_dom(browser, html_path, width, height, timeout)
    parser = _TitleParser()
    parser.feed(dom)
    result = {
        "title": " ".join(parser.title.split()),
        "text_length": _probe(dom, "data-probe-text-length"),
        "images": _probe(dom, "data-probe-images"),
        "images_loaded": _probe(dom, "data-probe-images-loaded"),
        "dom_length": len(dom),
    }
    if screenshot is not None:
        result.update(_screenshot(browser, html_path, Path(screenshot), width, height, timeout))
    return result


def _dump_dom(browser: str, html_path: Path, width: int, height: int, timeout: float) -> str:
    """The DOM after scripts ran, with the probe's attributes."""
    source = html_path.read_text(encoding="utf-8", errors="replace")
    # The probe goes into a copy next to the original so relative resources still resolve.
    fd, probe_name = tempfile.mkstemp(prefix=f".{html_path.stem}.probe-", suffix=".html", dir=html_path.parent)
    probe_path = Path(probe_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            cut = source.lower().rfind("</body>")
            handle.write(source + _PROBE if cut < 0 else source[:cut] + _PROBE + source[cut:])
        proc = _run(browser, [f"--window-size={width},{height}", "--dump-dom", probe_path.as_uri()], timeout)
    finally:
        probe_path.unlink(missing_ok=True)
    dom = proc.stdout
    if proc.returncode != 0 or "<html" not in dom.lower():
        raise RuntimeError(f"chromium --dump-dom failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
    return dom


def _screenshot(browser, html_path: Path, target: Path, width: int, height: int, timeout: float) -> dict:
    from PIL import Image

    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    proc = _run(browser, [f"--window-size={width},{height}", f"--screenshot={target}", html_path.as_uri()], timeout)
    if not target.is_file():
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
    with Image.open(target) as image:
        gray = image.convert("L")
        histogram = gray.histogram()
        size = gray.size
    nonwhite = sum(histogram[:245]) / max(1, size[0] * size[1])
    return {
        "screenshot": target,
        "screenshot_bytes": target.stat().st_size,
        "screenshot_size": size,
        "nonwhite_fraction": nonwhite,
    }
