"""Serving cost: best batch size, CPU-seconds per million digits, memory, the latency lookup, record, text."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from experiment_fakes import FakeStudy, latency_table

from lussi.experiments import serving
from lussi.report.text import render_text


def test_costs_at_the_best_batch_size():
    sweep = latency_table(["slow", "fast"], threads=4)
    costs = serving.serving_costs(sweep, {"slow": 10, "fast": 20}).set_index("model")
    fast = sweep[sweep["model"] == "fast"].assign(per_image=lambda t: t["median_s"] / t["batch_size"])
    best = fast.loc[fast["per_image"].idxmin()]
    assert costs.loc["fast", "batch_size"] == best["batch_size"] == 100
    assert costs.loc["fast", "cpu_seconds_low"] == pytest.approx(best["per_image"] * 1e6)
    assert costs.loc["fast", "cpu_seconds_high"] == pytest.approx(4 * best["per_image"] * 1e6)
    assert costs.loc["fast", "single_cpu_seconds_high"] == pytest.approx(4 * 1e-3 * 1e6)
    assert costs.loc["slow", "cpu_seconds_high"] == pytest.approx(10 * costs.loc["fast", "cpu_seconds_high"])
    assert costs["memory_bytes"].to_dict() == {"slow": 10, "fast": 20}


def test_skipped_cells_are_ignored_and_a_missing_model_is_an_error():
    sweep = latency_table(["a"])
    sweep.loc[sweep["batch_size"] == 100, "median_s"] = np.nan
    # Batches of 10 and 1,000 now tie per digit: the smaller one wins (the same cost, less waiting).
    assert serving.serving_costs(sweep, {"a": 1})["batch_size"].iloc[0] == 10
    with pytest.raises(ValueError, match="no timed row for 'b'"):
        serving.serving_costs(sweep, {"b": 1})


def test_latency_is_read_from_the_study_result():
    study = FakeStudy()
    assert serving.latency_of(study) is study.result("latency").table
    study._results["latency"] = None  # timing switched off: no sweep, and the experiment is skipped
    assert serving.latency_of(study) is None and serving.EXPERIMENT.skip(study) == "no latency sweep"


def test_record_round_trip_and_views():
    study = FakeStudy()
    result = study.result("serving")
    back = serving.ServingResult.from_record(json.loads(json.dumps(result.to_record())))
    pd.testing.assert_frame_equal(back.table, result.table)
    assert set(result.table["model"]) == set(study.models)
    assert "CPU-s per million digits" in serving.table(study)
    assert [ax.get_title() for ax in serving.figure(study).axes] == ["CPU time at the best batch size",
                                                                     "Memory to serve"]


def test_text_quotes_the_facts():
    study = FakeStudy()
    facts = serving.facts(study)
    text = " ".join(render_text("serving", {"serving": facts}).split())  # line breaks are layout
    assert f"{round(facts['knn']['cpu_seconds_high']):,} CPU-seconds" in text
    assert f"wall time × {facts['threads']}" in text
    assert facts["cpu_ratio"] == pytest.approx(10)
    assert "did not run" in render_text("serving", {"serving": None})
