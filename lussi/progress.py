"""Progress of long work: lines through :mod:`logging`, bars through one tqdm helper.

Nothing threads a ``progress`` flag through its signatures. The entry points
(:func:`lussi.study.run_study`, the CLI, the report) decide once, with
:func:`showing`, whether this run shows progress; :func:`bar` then draws a tqdm bar
on stderr only while it does, and :data:`log` lines reach stderr through the
handler :func:`showing` installs.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from typing import Iterable, Iterator

__all__ = ["bar", "enabled", "log", "showing"]

log = logging.getLogger("lussi")
_SHOWN: contextvars.ContextVar[bool] = contextvars.ContextVar("lussi_progress_shown", default=False)


class _LineHandler(logging.StreamHandler):
    """Plain ``message`` lines on stderr, looked up at each record (pytest and Jupyter swap ``sys.stderr``)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.setStream(sys.stderr)
        super().emit(record)


@contextlib.contextmanager
def showing(enabled: bool = True) -> Iterator[None]:
    """Within the block, show progress bars and log lines (``enabled``) or keep quiet."""
    token = _SHOWN.set(bool(enabled))
    handler = None
    if enabled and not any(isinstance(h, _LineHandler) for h in log.handlers):
        handler = _LineHandler()
        log.addHandler(handler)
    previous = log.level
    log.setLevel(logging.INFO if enabled else logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(previous)
        if handler is not None:
            log.removeHandler(handler)
        _SHOWN.reset(token)


def enabled() -> bool:
    """Whether this run shows progress (see :func:`showing`)."""
    return _SHOWN.get()


def bar(iterable: Iterable | None = None, *, desc: str, total: int | None = None, unit: str = "it", **options):
    """A tqdm bar on stderr, drawn only while progress is shown."""
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, disable=not enabled(), **options)
