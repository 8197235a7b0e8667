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

__all__ = ["Steps", "bar", "enabled", "log", "showing"]

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


class Steps:
    """The overall line of a long run: before each step, "step i of n", the time elapsed and an estimate of what is left.

    The estimate adds up the typical cold cost of the steps still to come (each
    step's ``cost``: its seconds on a 2-core machine with an empty cache), scaled
    by how this machine has done so far on the steps that did run cold. A step that
    finishes in under a tenth of its cost was read from the cache: it says nothing
    about this machine's speed, and the estimate keeps the steps still to come.

    Parameters
    ----------
    costs : sequence of (str, float)
        Each step's name and typical cold seconds, in the order they run.
    """

    def __init__(self, costs):
        import time

        self._clock = time.perf_counter
        self._costs = [(str(name), max(float(cost), 0.0)) for name, cost in costs]
        self._began = self._clock()
        self._index = -1
        self._step_began = None
        self._cold_cost = self._cold_seconds = 0.0

    def start(self, name: str | None = None) -> None:
        """Log the overall line for the next step (``name`` overrides the declared name)."""
        self._finish_step()
        self._index += 1
        if self._index >= len(self._costs):
            return
        declared, _ = self._costs[self._index]
        speed = self._cold_seconds / self._cold_cost if self._cold_cost > 0 else 1.0
        left = speed * sum(cost for _, cost in self._costs[self._index:])
        log.info("== step %d of %d: %s (%s elapsed, about %s left)", self._index + 1, len(self._costs),
                 name or declared, _duration(self._clock() - self._began), _duration(left))
        self._step_began = self._clock()

    def done(self) -> None:
        """Log the total when the last step has finished."""
        self._finish_step()
        log.info("== done: %d steps in %s", len(self._costs), _duration(self._clock() - self._began))

    def _finish_step(self) -> None:
        if self._step_began is None or self._index >= len(self._costs):
            return
        took, cost = self._clock() - self._step_began, self._costs[self._index][1]
        if cost > 0 and took >= 0.1 * cost:
            self._cold_cost += cost
            self._cold_seconds += took
        self._step_began = None


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"
