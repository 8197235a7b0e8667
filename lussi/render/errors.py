"""The renderer's error type, and the ANSI stripping its messages go through."""

from __future__ import annotations

import re

__all__ = ["RenderError", "strip_ansi"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


class RenderError(RuntimeError):
    """Rendering failed: a cell raised, the kernel died, or pandoc/Quarto failed.

    Attributes
    ----------
    traceback : str or None
        The kernel's traceback (ANSI escapes removed) when a cell failed, or
        the end of Quarto's output when ``quarto render`` failed.
    """

    def __init__(self, message: str, *, traceback: str | None = None):
        super().__init__(message)
        self.traceback = traceback


def strip_ansi(text: str) -> str:
    """Remove ANSI colour/control escapes (kernel tracebacks and Quarto's terminal are coloured)."""
    return _ANSI.sub("", text)
