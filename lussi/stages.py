"""One cached-stage runner for the study's analyses.

A :class:`Stage` is data: the name of its cache entries, the inputs its result
depends on (which form the cache key), how to compute the result, and the
result's record form. :func:`run_stage` is the one place that looks a stage up in
the cache, computes it when absent and reads the result back from its record.
The experiments of :mod:`lussi.experiments` declare their stages.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

__all__ = ["TABLE_SCHEMA", "Stage", "frame", "records", "run_stage", "table_stage"]

# What a stage whose result is one DataFrame stores (see records); ``seconds`` is added by timed stages.
TABLE_SCHEMA = {"table": {"columns": list, "records": list}}


@dataclasses.dataclass(frozen=True)
class Stage:
    """One cached computation of the study.

    Attributes
    ----------
    name : str
        Prefix of the cache entry's name (``"robustness"``); also part of its key.
    inputs : callable
        ``inputs(study) -> dict``: JSON-ready description of everything the result
        depends on; the cache key is built from it and ``name`` alone.
    compute : callable
        ``compute(study) -> result``.
    to_record : callable
        ``to_record(result) -> dict``: the JSON-ready record stored in the cache.
    from_record : callable
        ``from_record(record) -> result``: the result read back (also after a build,
        so a cold and a warm run return the same thing).
    schema : dict
        Keys the record must hold (see :meth:`lussi.cache.Cache.get_or_build`).
    timed : bool
        Store the computation's seconds in the record (key ``seconds``), returned by
        :func:`run_stage` on every later run; otherwise it returns this call's seconds.
    """

    name: str
    inputs: Callable[[Any], dict]
    compute: Callable[[Any], Any]
    to_record: Callable[[Any], dict]
    from_record: Callable[[dict], Any]
    schema: dict
    timed: bool = True


def run_stage(stage: Stage, study, cache, rebuild: bool = False) -> tuple[Any, float]:
    """``(result, seconds)`` of ``stage`` on ``study``: read from ``cache``, or computed and stored there.

    ``seconds`` is the cold computation's time for a timed stage, else this call's.
    """
    start = time.perf_counter()

    def build(directory: Path) -> dict:
        began = time.perf_counter()
        record = dict(stage.to_record(stage.compute(study)))
        if stage.timed:
            record["seconds"] = time.perf_counter() - began
        return record

    schema = {**stage.schema, "seconds": float} if stage.timed else stage.schema
    entry = cache.get_or_build(stage.name, stage.inputs(study), build, rebuild=rebuild, schema=schema)
    record = dict(entry.record)
    seconds = float(record.pop("seconds")) if stage.timed else time.perf_counter() - start
    return stage.from_record(record), seconds


def records(table) -> dict:
    """A DataFrame as JSON-ready records with its column order (the cache's JSON sorts keys)."""
    return {"columns": [str(c) for c in table.columns], "records": table.to_dict(orient="records")}


def frame(stored: dict):
    """The DataFrame of :func:`records`."""
    import pandas as pd

    return pd.DataFrame(stored["records"], columns=stored["columns"])


def table_stage(name: str, inputs: Callable[[Any], dict], compute: Callable[[Any], Any]) -> Stage:
    """A timed stage whose result is one DataFrame, stored as ``{"table": records(...), "seconds": ...}``."""
    return Stage(name, inputs, compute, to_record=lambda table: {"table": records(table)},
                 from_record=lambda record: frame(record["table"]), schema=TABLE_SCHEMA)
