"""The cached-stage runner (lussi.stages) on a toy stage, and the study's declared stages."""

from __future__ import annotations

import types

import pandas as pd
import pytest

from lussi.cache import Cache, cache_key
from lussi.stages import Stage, run_stage, table_stage


def _toy(calls: list, *, timed: bool = True) -> Stage:
    def compute(study):
        calls.append(study.n)
        return {"total": study.n * 2}

    return Stage("toy", inputs=lambda study: {"n": study.n, "version": 1}, compute=compute,
                 to_record=lambda result: {"value": result["total"]},
                 from_record=lambda record: {"total": record["value"]}, schema={"value": int}, timed=timed)


def test_a_stage_is_built_once_then_read_back_under_the_key_of_its_inputs(tmp_path):
    cache, calls = Cache(tmp_path), []
    study = types.SimpleNamespace(n=21)
    result, seconds = run_stage(_toy(calls), study, cache)
    assert result == {"total": 42} and calls == [21] and seconds >= 0.0
    again, seconds_again = run_stage(_toy(calls), study, cache)
    assert again == result and calls == [21]  # read from the cache, not recomputed
    assert seconds_again == seconds  # a timed stage returns the cold computation's seconds
    # The entry is named by the stage and keyed by exactly its declared inputs.
    key = cache_key({"kind": "toy", "n": 21, "version": 1})
    assert cache.entry_path("toy", key).is_dir()
    record, problem = cache.verify("toy", key, schema={"value": int, "seconds": float})
    assert problem == ""
    assert record["value"] == 42 and record["seconds"] == seconds


def test_other_inputs_are_another_entry_and_rebuild_recomputes(tmp_path):
    cache, calls = Cache(tmp_path), []
    run_stage(_toy(calls), types.SimpleNamespace(n=1), cache)
    run_stage(_toy(calls), types.SimpleNamespace(n=2), cache)
    assert calls == [1, 2]
    result, _ = run_stage(_toy(calls), types.SimpleNamespace(n=1), cache, rebuild=True)
    assert result == {"total": 2} and calls == [1, 2, 1]
    run_stage(_toy(calls), types.SimpleNamespace(n=1), cache)
    assert calls == [1, 2, 1]


def test_an_untimed_stage_stores_no_seconds(tmp_path):
    cache, calls = Cache(tmp_path), []
    run_stage(_toy(calls, timed=False), types.SimpleNamespace(n=3), cache)
    record, _ = cache.verify("toy", cache_key({"kind": "toy", "n": 3, "version": 1}), schema={"value": int})
    assert record == {"value": 6}


def test_a_table_stage_keeps_its_column_order(tmp_path):
    table = pd.DataFrame({"zeta": [1, 2], "alpha": ["a", "b"]})
    stage = table_stage("table", lambda study: {"x": 1}, lambda study: table)
    built, _ = run_stage(stage, None, Cache(tmp_path))
    read, _ = run_stage(stage, None, Cache(tmp_path))
    pd.testing.assert_frame_equal(built, table)
    pd.testing.assert_frame_equal(read, table)


def test_the_study_declares_its_experiments_once():
    from lussi.experiments import ALL, CORE, EXTRAS
    from lussi.experiments.base import Experiment

    assert [module.EXPERIMENT.name for module in CORE] == ["latency", "seedsplit"]
    names = [module.EXPERIMENT.name for module in EXTRAS]
    assert names == ["pad", "robustness", "denoise", "learning", "drawn", "real", "validation_scores", "selective",
                     "calibration", "postal", "serving"]
    for module in ALL:
        experiment = module.EXPERIMENT
        assert isinstance(experiment, Experiment) and callable(module.facts)
        earlier = [m.EXPERIMENT.name for m in ALL[:ALL.index(module)]]
        assert experiment.after is None or experiment.after in earlier
        # A cached experiment says what its record holds (or runs its own stages).
        assert experiment.run is not None or set(experiment.result.SCHEMA) and experiment.inputs is not None


@pytest.mark.parametrize("shape, classes, expected", [
    ((8, 8), tuple("0123456789"), None), ((8, 8), ("a", "b"), "classes"), ((8, 6), tuple("0123456789"), "shape"),
])
def test_drawn_digits_apply_to_square_digit_images_only(shape, classes, expected):
    from lussi.experiments import drawn

    study = types.SimpleNamespace(dataset=types.SimpleNamespace(image_shape=shape, class_names=classes))
    assert drawn.EXPERIMENT.skip(study) == expected
