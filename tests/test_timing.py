import time

import numpy as np
import pytest

from lussi import timing
from lussi.timing import (
    SWEEP_COLUMNS,
    MemoryUse,
    directory_size,
    hardware_info,
    latency_sweep,
    measure_memory,
    time_callable,
)


class FakeClock:
    """perf_counter stand-in: every call advances time by ``step`` seconds."""

    def __init__(self, step):
        self.now = 0.0
        self.step = step

    def __call__(self):
        self.now += self.step
        return self.now


@pytest.fixture
def images():
    # Image i is filled with the value i, so a batch shows which images it holds.
    return np.broadcast_to(np.arange(7, dtype=np.uint8)[:, None, None], (7, 8, 8)).copy()


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


# --------------------------------------------------------------------------- latency_sweep


def test_latency_sweep_table_and_batches(images):
    seen = {"knn": [], "cnn": []}
    fns = {
        "knn": lambda x: seen["knn"].append(x.shape),
        "cnn": (lambda x: seen["cnn"].append(x.shape), "model(x, training=False)"),
    }
    table = latency_sweep(
        fns,
        images,
        batch_sizes=(1, 5, 20),
        min_repeats=3,
        max_repeats=4,
        time_budget=0.0,
        progress=False,
    )
    assert tuple(table.columns) == SWEEP_COLUMNS
    assert len(table) == 6
    assert list(table["model"]) == ["knn", "cnn"] * 3
    assert list(table["batch_size"]) == [1, 1, 5, 5, 20, 20]
    assert (table["repeats"] == 3).all()  # budget 0: stop at min_repeats
    assert (table["note"] == "").all()
    assert table.loc[table["model"] == "cnn", "call_path"].eq("model(x, training=False)").all()
    assert table.loc[0, "call_path"].endswith("<lambda>")
    # 1 warm-up + 3 timed calls per cell; batch 20 tiles the 7 images.
    assert seen["knn"] == [(1, 8, 8)] * 4 + [(5, 8, 8)] * 4 + [(20, 8, 8)] * 4
    assert (table["threads"] >= 1).all()


def test_latency_sweep_derived_columns(images, monkeypatch):
    # Binary-exact steps keep the budget arithmetic exact: 0.25 s per call.
    monkeypatch.setattr(timing.time, "perf_counter", FakeClock(0.25))
    table = latency_sweep(
        {"m": lambda x: None},
        images,
        batch_sizes=(10, 100),
        min_repeats=3,
        max_repeats=8,
        time_budget=1.0,
        threads=4,
        progress=False,
    )
    np.testing.assert_allclose(table["median_s"], 0.25)
    np.testing.assert_allclose(table["p90_s"], 0.25)
    np.testing.assert_allclose(table["per_image_ms"], [25.0, 2.5])
    np.testing.assert_allclose(table["throughput_per_s"], [40.0, 400.0])
    assert list(table["repeats"]) == [4, 4]  # 4 x 0.25 s reaches the 1 s budget
    assert list(table["threads"]) == [4, 4]


def test_latency_sweep_tiles_a_small_pool_with_every_image(images):
    batches = []
    latency_sweep(
        {"m": batches.append},
        images,
        batch_sizes=(14,),
        min_repeats=1,
        max_repeats=1,
        time_budget=0,
        warmup=0,
        progress=False,
    )
    (batch,) = batches
    # Two full copies of the 7-image pool, each image exactly twice.
    flat = batch.reshape(14, -1)[:, 0]
    values, counts = np.unique(flat, return_counts=True)
    assert values.size == 7 and (counts == 2).all()


def test_latency_sweep_skips_batches_over_max_batch(images):
    calls = []
    table = latency_sweep(
        {"small": lambda x: calls.append(len(x)), "big": lambda x: None},
        images,
        batch_sizes=(1, 10, 100),
        max_batch={"small": 10},
        min_repeats=1,
        max_repeats=1,
        time_budget=0,
        progress=False,
    )
    skipped = table[table["repeats"] == 0]
    assert list(zip(skipped["model"], skipped["batch_size"], strict=True)) == [("small", 100)]
    assert skipped["median_s"].isna().all()
    assert skipped["note"].iloc[0] == "skipped: batch size 100 > max_batch 10"
    assert 100 not in calls
    assert table.loc[table["model"] == "big", "median_s"].notna().all()

    global_cap = latency_sweep(
        {"m": lambda x: None},
        images,
        batch_sizes=(1, 10),
        max_batch=1,
        min_repeats=1,
        max_repeats=1,
        time_budget=0,
        progress=False,
    )
    assert list(global_cap["repeats"]) == [1, 0]


def test_latency_sweep_progress_goes_to_stderr(images, capsys):
    latency_sweep(
        {"m": lambda x: None},
        images,
        batch_sizes=(1,),
        min_repeats=1,
        max_repeats=1,
        time_budget=0,
        progress=True,
    )
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "m batch 1" in captured.err


@pytest.mark.parametrize(
    "fns, kwargs, error, match",
    [
        ({}, {}, ValueError, "predict_fns must be a non-empty dict"),
        ({"m": 3}, {}, TypeError, r"predict_fns\['m'\] must be a callable or a \(callable, call_path\)"),
        ({"m": print}, {"batch_sizes": (0, 1)}, ValueError, "batch_sizes must be positive"),
        ({"m": print}, {"min_repeats": 5, "max_repeats": 2}, ValueError, "min_repeats <= max_repeats"),
    ],
)
def test_latency_sweep_validates(images, fns, kwargs, error, match):
    with pytest.raises(error, match=match):
        latency_sweep(fns, images, progress=False, **kwargs)


def test_latency_sweep_rejects_empty_images():
    with pytest.raises(ValueError, match=r"images must be a non-empty batch.*\(0, 8, 8\)"):
        latency_sweep({"m": print}, np.zeros((0, 8, 8), np.uint8), progress=False)


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
