import time

import numpy as np
import pytest

from conftest import FakeClock

from lussi import timing
from lussi.timing import (
    MemoryUse,
    directory_size,
    hardware_info,
    measure_memory,
    time_callable,
)


# --------------------------------------------------------------------------- time_callable


def test_time_callable_excludes_warmup_and_counts_repeats():
    calls = []
    times = time_callable(lambda: calls.append(1), repeats=4, warmup=2)
    assert times.shape == (4,) and times.dtype == np.float64
    assert len(calls) == 6
    assert np.all(times >= 0)


def test_time_callable_repeats_until_min_seconds(monkeypatch):
    # Each timed call reads the clock twice, so it "takes" 0.125 s.
    monkeypatch.setattr(timing.time, "perf_counter", FakeClock(0.125))
    times = time_callable(lambda: None, repeats=2, warmup=0, min_seconds=1.0)
    assert times.size == 8
    np.testing.assert_allclose(times, 0.125)
    capped = time_callable(lambda: None, repeats=2, warmup=0, min_seconds=1.0, max_repeats=5)
    assert capped.size == 5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"repeats": 0}, "repeats must be at least 1"),
        ({"warmup": -1}, "warmup must be >= 0"),
        ({"repeats": 5, "max_repeats": 2}, r"max_repeats \(2\) must be >= repeats \(5\)"),
        ({"min_seconds": -1}, "min_seconds must be >= 0"),
    ],
)
def test_time_callable_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        time_callable(lambda: None, **kwargs)


def test_time_callable_rejects_non_callable():
    with pytest.raises(TypeError, match="fn must be callable"):
        time_callable(42)


# --------------------------------------------------------------------------- memory and disk


def test_measure_memory_sees_a_native_allocation():
    size = 64 * 2**20

    def allocate():
        block = np.ones(size, dtype=np.uint8)  # written, so resident
        time.sleep(0.05)  # hold it across several samples
        return block

    use = measure_memory(allocate)
    assert isinstance(use, MemoryUse)
    assert use.peak_rss_bytes_delta >= size // 2
    assert use.peak_rss_bytes == use.baseline_rss_bytes + use.peak_rss_bytes_delta
    assert use.samples >= 2 and use.elapsed_s >= 0.05


def test_measure_memory_validates():
    with pytest.raises(TypeError, match="fn must be callable"):
        measure_memory(None)
    with pytest.raises(ValueError, match="interval must be positive"):
        measure_memory(lambda: None, interval=0)


def test_directory_size(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_bytes(b"y" * 23)
    (tmp_path / "link").symlink_to(tmp_path / "a.bin")
    assert directory_size(tmp_path) == 123
    assert directory_size(tmp_path / "a.bin") == 100
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        directory_size(tmp_path / "missing")


def test_hardware_info():
    info = hardware_info()
    assert {
        "cpu_model",
        "logical_cores",
        "available_cores",
        "memory_total_bytes",
        "python",
        "platform",
        "versions",
        "blas",
    } <= set(info)
    assert isinstance(info["cpu_model"], str) and info["cpu_model"]
    assert info["available_cores"] >= 1
    assert info["versions"]["numpy"] == np.__version__
    assert "tensorflow" in info["versions"] and "faiss" in info["versions"]
