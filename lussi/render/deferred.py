"""Large inline scripts kept out of pandoc and put back into its output.

``--embed-resources`` makes pandoc re-parse its whole HTML output to find
resources to inline, and the time grows with the document: the report's
drawing pad (3.7 MB of network weights as JSON, 380 kB of TensorFlow.js) made
each format's pandoc run take 4.0 s instead of 0.5 s. The body of an inline
``<script>`` is text pandoc passes through untouched, so the built-in engine
hands pandoc a comment in its place and writes the body back into pandoc's
output. Everything else of the HTML (its images, styles, attributes) still goes
through pandoc, which adds what it adds there (``role``/``aria-label`` on
images, CSS without comments).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

__all__ = ["DeferredScripts"]

# Below this size pandoc's own pass costs less than the round trip.
MIN_DEFERRED_CHARS = 32_000
# An inline script (no src: pandoc would fetch that one and write its text in the body). By the HTML
# tokenizer's rules a script's text ends at the first "</script", whatever the quotes or comments before it.
_INLINE_SCRIPT = re.compile(r"(<script\b(?![^>]*\ssrc\s*=)[^>]*>)(.*?)(</script[\s/>])", re.IGNORECASE | re.DOTALL)
_RAW_HTML_FENCE = re.compile(r"\A\s*(?P<fence>`{3,})\{=html\}\n(?P<html>.*)\n(?P=fence)\s*\Z", re.DOTALL)


class DeferredScripts:
    """Takes large inline script bodies out of raw HTML; :meth:`restore` writes them into pandoc's output.

    Parameters
    ----------
    min_chars : int
        Bodies shorter than this stay where they are.
    """

    def __init__(self, min_chars: int = MIN_DEFERRED_CHARS):
        self.min_chars = min_chars
        # A fresh token per render: no text of the document can spell a placeholder by chance.
        self._token = secrets.token_hex(8)
        self._bodies: list[str] = []

    def __len__(self) -> int:
        return len(self._bodies)

    def hollow(self, html: str) -> str:
        """``html`` with each large inline script body replaced by a placeholder comment."""

        def swap(match: re.Match) -> str:
            body = match.group(2)
            if len(body) < self.min_chars:
                return match.group(0)
            self._bodies.append(body)
            return f"{match.group(1)}<!--lussi-deferred-{self._token}-{len(self._bodies) - 1}-->{match.group(3)}"

        return _INLINE_SCRIPT.sub(swap, html)

    def hollow_markdown(self, markdown: str) -> str:
        """The same for a ``text/markdown`` output that is one raw HTML fence (how report views hand over HTML)."""
        match = _RAW_HTML_FENCE.match(markdown)
        if match is None or re.search(rf"^{match['fence']}", match["html"], re.MULTILINE):
            return markdown  # not a lone fence (the closing fence found is not the opening one's): left to pandoc
        return f"{match['fence']}{{=html}}\n{self.hollow(match['html'])}\n{match['fence']}"

    def restore(self, path: Path) -> None:
        """Put every body back in the file ``path`` (a format can drop some, e.g. a slide-only cell)."""
        if not self._bodies:
            return
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(rf"<!--lussi-deferred-{self._token}-(\d+)-->")
        path.write_text(pattern.sub(lambda m: self._bodies[int(m.group(1))], text), encoding="utf-8")
