"""The report's latency sweep, run three times on the study's cached models: its cost and how stable it is.

    LUSSI_CACHE_DIR=... python benchmarks/latency_sweep.py            # full profile, 3 runs
    python benchmarks/latency_sweep.py --profile quick --runs 2

The models come from the cache (trained first when missing, without the
sweep). Each run is the sweep the report makes (same batch sizes, budget and
warm-up); the script prints each run's seconds, then per model and batch size
the three medians and their spread (largest over smallest), and the p90s.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    from lussi.experiments import latency
    from lussi.study import run_study

    study = run_study(args.profile, timing=False, progress=False)
    print(f"models: {', '.join(study.label(name) for name in study.models)}; cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    runs = []
    for run in range(args.runs):
        start = time.perf_counter()
        sweep = latency.EXPERIMENT.compute(study).table
        seconds = time.perf_counter() - start
        print(f"run {run + 1}: {seconds:.1f} s", flush=True)
        runs.append(sweep.assign(run=run + 1))
    table = pd.concat(runs)
    medians = table.pivot_table(index=["model", "batch_size"], columns="run", values="median_s")
    p90 = table.pivot_table(index=["model", "batch_size"], columns="run", values="p90_s")
    summary = pd.DataFrame({
        "medians (ms)": medians.apply(lambda row: " / ".join(f"{1000 * v:.3g}" for v in row), axis=1),
        "spread": (medians.max(axis=1) / medians.min(axis=1)).round(3),
        "p90s (ms)": p90.apply(lambda row: " / ".join(f"{1000 * v:.3g}" for v in row), axis=1),
        "repeats": table.groupby(["model", "batch_size"])["repeats"].min(),
    })
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(summary.to_string())
    spread = summary["spread"].to_numpy()
    print(f"spread of the medians across {args.runs} runs: median {np.median(spread):.3f}, max {spread.max():.3f}")


if __name__ == "__main__":
    main()
