"""Wall-clock timing of one callable, memory use and the machine's description.

Timings use :func:`time.perf_counter`, exclude warm-up calls, are repeated, and are
reported as median and 90th percentile together with the batch size, thread count
and call path, because ``model.predict`` and ``model(x, training=False)`` differ by
orders of magnitude per call.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MemoryUse",
    "available_cpus",
    "directory_size",
    "hardware_info",
    "measure_memory",
    "time_callable",
]

def available_cpus() -> int:
    """Logical CPUs this process may run on (CPU affinity aware, unlike ``os.cpu_count``)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# --------------------------------------------------------------------------- timing


def time_callable(
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    min_seconds: float = 0.0,
    max_repeats: int = 1000,
) -> np.ndarray:
    """Time repeated calls of ``fn()`` with :func:`time.perf_counter`.

    ``warmup`` untimed calls come first (graph tracing, caches, lazy imports). Then at
    least ``repeats`` timed calls, continuing until their total reaches
    ``min_seconds`` or ``max_repeats`` calls were made.

    Parameters
    ----------
    fn : callable taking no arguments
    repeats : int, default 5
        Minimum number of timed calls.
    warmup : int, default 1
        Untimed calls before timing.
    min_seconds : float, default 0.0
        Keep calling until the timed calls add up to this many seconds.
    max_repeats : int, default 1000
        Upper bound on timed calls.

    Returns
    -------
    ndarray of float64, shape (n_calls,)
        Seconds per timed call, ``repeats <= n_calls <= max_repeats``.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if max_repeats < repeats:
        raise ValueError(f"max_repeats ({max_repeats}) must be >= repeats ({repeats})")
    if min_seconds < 0:
        raise ValueError(f"min_seconds must be >= 0, got {min_seconds}")
    for _ in range(warmup):
        fn()
    times: list[float] = []
    total = 0.0
    while len(times) < repeats or (total < min_seconds and len(times) < max_repeats):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        total += elapsed
    return np.asarray(times, dtype=np.float64)


# --------------------------------------------------------------------------- memory


@dataclass(frozen=True)
class MemoryUse:
    """Resident memory of this process while a function ran.

    Attributes
    ----------
    peak_rss_bytes_delta : int
        Peak RSS during the call minus RSS just before it (>= 0).
    baseline_rss_bytes, peak_rss_bytes : int
        RSS before the call and the highest RSS sampled during it.
    elapsed_s : float
        Wall-clock duration of the call.
    samples : int
        Number of RSS samples taken.
    """

    peak_rss_bytes_delta: int
    baseline_rss_bytes: int
    peak_rss_bytes: int
    elapsed_s: float
    samples: int


def measure_memory(fn: Callable[[], Any], *, interval: float = 0.005) -> MemoryUse:
    """Peak resident-set growth while ``fn()`` runs, sampled by a background thread.

    RSS sampling with psutil rather than :mod:`tracemalloc`, because tracemalloc only
    sees Python's allocator and misses native allocations by TensorFlow, faiss and
    BLAS. Caveats: peaks shorter than ``interval`` can be missed, and memory the
    allocator kept from earlier calls is already resident, so a repeated call can
    show a smaller delta than the first.

    Parameters
    ----------
    fn : callable taking no arguments
    interval : float, default 0.005
        Seconds between samples.

    Returns
    -------
    MemoryUse
    """
    import psutil

    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if interval <= 0:
        raise ValueError(f"interval must be positive seconds, got {interval}")
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = [baseline]
    count = [1]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            count[0] += 1
            done.wait(interval)

    sampler = threading.Thread(target=sample, name="lussi-rss-sampler", daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        fn()
    finally:
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
    peak_rss = max(peak[0], process.memory_info().rss)
    return MemoryUse(
        peak_rss_bytes_delta=int(peak_rss - baseline),
        baseline_rss_bytes=int(baseline),
        peak_rss_bytes=int(peak_rss),
        elapsed_s=elapsed,
        samples=count[0] + 1,
    )


def directory_size(path: str | os.PathLike) -> int:
    """Total bytes of the regular files under ``path`` (or of ``path`` itself if a file).

    Symbolic links are not followed, so a saved model is counted once.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or directory: {path}")
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


# --------------------------------------------------------------------------- machine

_PACKAGES = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "scikit-learn": ("scikit-learn",),
    "pandas": ("pandas",),
    "keras": ("keras",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "faiss": ("faiss-cpu", "faiss-gpu", "faiss"),
    "matplotlib": ("matplotlib",),
}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_total() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        return None


def _package_version(candidates: Sequence[str]) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for dist in candidates:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def hardware_info() -> dict:
    """Describe the machine and library versions for a benchmark's caption.

    Versions come from installed package metadata, so nothing heavy (TensorFlow,
    faiss) is imported; missing packages map to None.

    Returns
    -------
    dict
        ``cpu_model``, ``logical_cores`` (``os.cpu_count()``), ``available_cores``
        (affinity), ``memory_total_bytes``, ``platform``, ``python``, ``versions``
        (dict of package -> version or None) and ``blas`` (list of threadpoolctl
        entries ``{"internal_api", "num_threads"}`` for libraries already loaded).
    """
    blas = []
    try:
        from threadpoolctl import threadpool_info

        blas = [
            {"internal_api": info.get("internal_api"), "num_threads": info.get("num_threads")}
            for info in threadpool_info()
        ]
    except ImportError:
        pass
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "available_cores": available_cpus(),
        "memory_total_bytes": _memory_total(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _package_version(dists) for name, dists in _PACKAGES.items()},
        "blas": blas,
    }
