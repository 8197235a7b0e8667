"""File locks that say who holds them, and stop waiting after a time limit.

A lock is an ``flock`` on a small file, so the kernel releases it when its
holder dies, however it dies. The holder writes its pid, start time and
command line into the file, so that a process kept waiting can say, after a
few seconds, who it is waiting for (and whether that process is stopped, as
after Ctrl-Z), and give up after ``LUSSI_LOCK_TIMEOUT`` seconds.

The lock path is lussi's own: a directory, FIFO or symlink found there is
removed and replaced by a lock file (a symlink is never followed, so a
planted link cannot make lussi create or write a file elsewhere). Such
repairs happen under an ``flock`` of the directory itself, so two processes
cannot both repair, and a valid lock file is never removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import shutil
import socket
import stat
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator

from .errors import CacheError, CacheWarning
from .safe_io import describe_os_error

__all__ = ["DEFAULT_TIMEOUT", "NOTICE_AFTER", "TIMEOUT_ENV", "hold", "lock_timeout", "parse_timeout", "try_hold"]

TIMEOUT_ENV = "LUSSI_LOCK_TIMEOUT"
# Long enough for another run to finish training the full study's CNN on 2 cores (about 25 minutes).
DEFAULT_TIMEOUT = 3600.0
# Seconds of waiting before saying who holds the lock, and between reminders.
NOTICE_AFTER = 3.0
REMIND_EVERY = 60.0


def parse_timeout(value, where: str) -> float:
    """Seconds from ``value`` (a number or text; ``inf`` waits forever), refusing negatives and NaN."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if math.isnan(seconds) or seconds < 0:
        raise CacheError(f"{where} must be a number of seconds, 0 or more ('inf' waits forever), got {value!r}")
    return seconds


def lock_timeout(value=None) -> float:
    """``value``, else ``$LUSSI_LOCK_TIMEOUT``, else :data:`DEFAULT_TIMEOUT` (seconds)."""
    if value is not None:
        return parse_timeout(value, "lock_timeout")
    env = os.environ.get(TIMEOUT_ENV)
    return DEFAULT_TIMEOUT if env is None else parse_timeout(env, TIMEOUT_ENV)


def _replace_non_file(path: Path) -> None:
    """Remove whatever non-regular thing sits at ``path``, under a lock of its directory."""
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISREG(mode):  # another process repaired it first
            return
        kind = "a directory" if stat.S_ISDIR(mode) else "a symbolic link" if stat.S_ISLNK(mode) else "a special file"
        warnings.warn(f"{path} was {kind}, not a lock file; replacing it", CacheWarning, stacklevel=4)
        if stat.S_ISDIR(mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    finally:
        os.close(directory)


def _open(path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    for _ in range(3):
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as error:
            if error.errno not in (errno.EISDIR, errno.ELOOP):
                raise CacheError(f"cannot open the lock file {describe_os_error(error)}") from None
            _replace_non_file(path)
            continue
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.set_blocking(fd, True)
            return fd
        os.close(fd)
        _replace_non_file(path)
    raise CacheError(f"{path}: cannot be turned into a lock file; remove it by hand")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago" if seconds < 7200 else f"{seconds / 3600:.1f} h ago"


def _holder(fd: int) -> str:
    """Who holds the lock, from what its holder wrote into the file."""
    import psutil

    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        pid, since, command = int(info["pid"]), float(info["since"]), str(info["command"])
    except (OSError, ValueError, KeyError, TypeError):
        return "held by another process (it wrote no details)"
    text = (f"held by pid {pid} ({command[:80]}) since {time.strftime('%H:%M:%S', time.localtime(since))} "
            f"({_ago(time.time() - since)})")
    with contextlib.suppress(psutil.Error):
        if psutil.Process(pid).status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP):
            text += f", and that process is stopped (resume it with `kill -CONT {pid}` or end it)"
    return text


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _acquire(fd: int, what: str, timeout: float, notify: Callable[[str], None]) -> None:
    start, notice, delay = time.monotonic(), NOTICE_AFTER, 0.01
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waited = time.monotonic() - start
        if waited >= timeout:
            raise CacheError(
                f"gave up after {timeout:g} s waiting for {what}: {_holder(fd)}; let that run finish, end it, "
                f"or wait longer with --lock-timeout SECONDS (or {TIMEOUT_ENV})"
            )
        if waited >= notice:
            notify(f"lussi: waiting for {what}: {_holder(fd)}; giving up after {timeout:g} s")
            notice = waited + REMIND_EVERY
        time.sleep(min(delay, max(0.0, timeout - waited)))
        delay = min(2 * delay, 0.25)


def _write_holder(fd: int) -> None:
    details = {"pid": os.getpid(), "since": time.time(), "host": socket.gethostname(),
               "command": " ".join(sys.argv)[:300]}
    with contextlib.suppress(OSError):  # only a courtesy to waiters: a full disk must not stop the run
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(details).encode("utf-8"), 0)


@contextlib.contextmanager
def hold(path: str | os.PathLike, *, what: str, timeout: float | None = None,
         notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the exclusive lock ``path`` for the duration of the block.

    Parameters
    ----------
    path : path-like
        The lock file; created (mode 0600) if missing.
    what : str
        What the lock protects, for messages ("the cache entry knn-...").
    timeout : float, optional
        Seconds to wait for another holder; default :func:`lock_timeout`.
    notify : callable, optional
        Receives the "waiting for ..." lines; default: print to stderr.

    Raises
    ------
    CacheError
        The lock file cannot be created, or the wait exceeded ``timeout``;
        the message names the holder.
    """
    path = Path(path)
    fd = _open(path)
    try:
        _acquire(fd, what, lock_timeout(timeout), notify or _stderr)
        _write_holder(fd)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def try_hold(path: str | os.PathLike) -> Iterator[bool]:
    """Hold the lock ``path`` if nobody else does: yields True when held, False (at once) when busy."""
    fd = _open(Path(path))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
