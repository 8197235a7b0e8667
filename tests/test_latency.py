"""lussi.experiments.latency: the latency sweep, its record, facts and figure."""

import numpy as np
import pandas as pd
import pytest

from lussi import progress, timing
from conftest import FakeClock

from lussi.experiments.latency import SWEEP_COLUMNS, LatencyResult, latency_sweep, plot_latency


@pytest.fixture
def images():
    # Image i is filled with the value i, so a batch shows which images it holds.
    return np.broadcast_to(np.arange(7, dtype=np.uint8)[:, None, None], (7, 8, 8)).copy()


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


def test_warm_up_calls_predict_only_the_rows_asked_for(images):
    seen = {"knn": [], "cnn": []}
    fns = {name: (lambda x, name=name: seen[name].append(x.shape[0])) for name in seen}
    latency_sweep(fns, images, batch_sizes=(1, 5, 20), min_repeats=2, max_repeats=2, time_budget=0.0,
                  warmup=1, warmup_rows={"knn": 3})
    # The k-NN warms up on at most 3 rows, then is timed on the whole batch; the network warms up on all of it.
    assert seen["knn"] == [1, 1, 1, 3, 5, 5, 3, 20, 20]
    assert seen["cnn"] == [1, 1, 1, 5, 5, 5, 20, 20, 20]


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
    )
    assert list(global_cap["repeats"]) == [1, 0]


def test_latency_sweep_progress_goes_to_stderr(images, capsys):
    with progress.showing():
        latency_sweep(
            {"m": lambda x: None}, images, batch_sizes=(1,), min_repeats=1, max_repeats=1, time_budget=0,
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
        latency_sweep(fns, images, **kwargs)


def test_latency_sweep_rejects_empty_images():
    with pytest.raises(ValueError, match=r"images must be a non-empty batch.*\(0, 8, 8\)"):
        latency_sweep({"m": print}, np.zeros((0, 8, 8), np.uint8))


def test_plot_latency_skips_unmeasured_cells():
    sweep = pd.DataFrame(
        {
            "model": ["knn", "knn", "cnn", "cnn", "cnn", "cnn"],
            "batch_size": [1, 100, 1, 100, 1, 100],
            "median_s": [0.01, 0.5, 0.05, np.nan, 0.001, 0.01],
            "p90_s": [0.012, 0.6, 0.06, np.nan, 0.002, 0.02],
            "call_path": ["predict", "predict", "model.predict", "model.predict", "call", "call"],
        }
    )
    fig = plot_latency(sweep)
    per_ax, thr_ax = fig.axes
    assert per_ax.get_xscale() == "log" and per_ax.get_yscale() == "log"
    assert len(per_ax.lines) == 3 and len(thr_ax.lines) == 3
    labels = [line.get_label() for line in thr_ax.lines]
    assert labels == ["knn", "cnn · model.predict", "cnn · call"]
    np.testing.assert_allclose(per_ax.lines[0].get_ydata(), [10.0, 5.0])  # ms per image
    np.testing.assert_allclose(thr_ax.lines[0].get_ydata(), [100.0, 200.0])
    with pytest.raises(ValueError, match="no measured cells"):
        plot_latency(sweep.assign(median_s=np.nan))


def test_latency_result_round_trips_and_compares_two_models(images):
    table = latency_sweep({"a": lambda x: None, "b": lambda x: None}, images, batch_sizes=(1, 4), min_repeats=1,
                          max_repeats=1, time_budget=0)
    result = LatencyResult(table, 123.0)
    again = LatencyResult.from_record(result.to_record())
    pd.testing.assert_frame_equal(again.table, table, check_dtype=False)
    assert again.measured_at == 123.0
    assert [row["batch_size"] for row in again.compare("a", "b")] == [1, 4]
    assert again.compare("a", "missing") == []
    assert list(again.shown().columns) == ["model", "batch", "median", "p90", "per image", "images/s", "repeats",
                                          "call path"]
