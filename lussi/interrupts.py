"""Ctrl-C that always stops the run.

Python turns SIGINT into a ``KeyboardInterrupt`` raised in whatever Python
code runs next. When that code is a ``__del__`` method, a weakref or garbage
collector callback or an ``atexit`` function, Python cannot propagate it: it
prints ``Exception ignored in ... KeyboardInterrupt`` and carries on, and the
interrupted run finishes with exit status 0 (TensorFlow and Keras run many
finalisers while a network is built).

:func:`install` replaces the handler with one that also records the
interrupt. The run then stops at the next checkpoint (:func:`check`: before
a cache entry is committed, between Keras batches) even if the exception
itself was swallowed, and :func:`finish` turns a recorded interrupt into exit
status 130. A swallowed interrupt's "Exception ignored" report is silenced,
because it is handled.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading

__all__ = ["EXIT_INTERRUPTED", "check", "finish", "install", "received"]

EXIT_INTERRUPTED = 130

_state = {"received": False, "installed": False, "previous_handler": None, "previous_hook": None}


def received() -> bool:
    """Whether SIGINT arrived since :func:`install`."""
    return _state["received"]


def check() -> None:
    """Raise ``KeyboardInterrupt`` if SIGINT arrived (a no-op unless :func:`install` was called)."""
    if _state["received"]:
        raise KeyboardInterrupt


def _raise(signum, frame):
    _state["received"] = True
    raise KeyboardInterrupt


def _record(signum, frame):
    _state["received"] = True


def _unraisable(report):
    if isinstance(report.exc_value, KeyboardInterrupt) and _state["received"]:
        return  # handled: the run stops at the next checkpoint or with status 130
    _state["previous_hook"](report)


def _exit_if_interrupted():
    if _state["received"]:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed or broken stream must not keep the status from being 130
                pass
        os._exit(EXIT_INTERRUPTED)


def install(*, until_exit: bool = False) -> None:
    """Record SIGINT (and raise ``KeyboardInterrupt``) from now on; main thread only.

    Parameters
    ----------
    until_exit : bool
        For the ``lussi`` process itself: after :func:`finish`, an interrupt
        that arrives while the interpreter shuts down still ends the process
        with status 130. In-process callers (tests) leave it False and get
        the previous handler back from :func:`finish`.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    _state.update(received=False, installed=True, until_exit=until_exit)
    _state["previous_handler"] = signal.signal(signal.SIGINT, _raise)
    _state["previous_hook"] = sys.unraisablehook
    sys.unraisablehook = _unraisable
    if until_exit:
        atexit.register(_exit_if_interrupted)  # registered first, so it runs after every later atexit function


def finish(status: int) -> int:
    """The exit status of the run: 130 if SIGINT arrived, else ``status``; undoes :func:`install`."""
    if not _state["installed"]:
        return status
    interrupted = _state["received"]
    if _state.get("until_exit"):
        signal.signal(signal.SIGINT, _record)  # from here on only record: the atexit check sets the status
    else:
        signal.signal(signal.SIGINT, _state["previous_handler"])
        sys.unraisablehook = _state["previous_hook"]
        _state.update(installed=False, received=False)
    return EXIT_INTERRUPTED if interrupted else status
