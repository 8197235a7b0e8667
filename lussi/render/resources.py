"""Check that a rendered HTML page fetches nothing from the network."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import ClassVar

__all__ = ["external_resources"]


class _ResourceScanner(HTMLParser):
    # Attributes through which a browser fetches something by itself; <a href> is navigation.
    _FETCHING: ClassVar[dict] = {
        "script": ("src",),
        "img": ("src", "srcset"),
        "link": ("href",),
        "iframe": ("src",),
        "frame": ("src",),
        "embed": ("src",),
        "object": ("data",),
        "source": ("src", "srcset"),
        "video": ("src", "poster"),
        "audio": ("src",),
        "track": ("src",),
        "input": ("src",),
        "image": ("href", "xlink:href"),
        "use": ("href", "xlink:href"),
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        names = self._FETCHING.get(tag, ())
        for name, value in attrs:
            if value is None:
                continue
            if name in names and _is_remote(value):
                self.found.append(value.strip())
            elif name == "style":
                self.found.extend(_css_remote(value))
        self._in_style = tag == "style"

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.found.extend(_css_remote(data))


def _is_remote(url: str) -> bool:
    return re.match(r"\s*(https?:)?//", url, flags=re.IGNORECASE) is not None


def _css_remote(css: str) -> list[str]:
    urls = re.findall(r"""url\(\s*['"]?([^'")\s]+)""", css, flags=re.IGNORECASE)
    urls += re.findall(r"""@import\s+['"]([^'"]+)['"]""", css, flags=re.IGNORECASE)
    return [url for url in urls if _is_remote(url)]


def external_resources(html: str) -> list[str]:
    """List the network resources an HTML page would fetch by itself.

    Scans ``src``/``href``/``srcset``/``data``/``poster`` attributes of fetching
    elements (``script``, ``img``, ``link``, ``iframe``, ``source``, ``video``,
    ``audio``, ``embed``, ``object``, SVG ``image``/``use``...) and CSS ``url()``
    / ``@import`` in ``<style>`` blocks and ``style`` attributes, for absolute
    ``http(s)://`` and protocol-relative ``//`` URLs. Hyperlinks (``<a href>``)
    are navigation, not resources, and are ignored.

    Parameters
    ----------
    html : str
        The page's source.

    Returns
    -------
    list of str
        The remote URLs, in document order (empty for a self-contained page).
    """
    scanner = _ResourceScanner()
    scanner.feed(html)
    scanner.close()
    return scanner.found
