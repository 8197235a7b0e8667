"""Time to the first report: README command 1 from a fresh clone with an empty cache, step by step.

    python benchmarks/first_report.py                 # clone, venv + install, render (full profile)
    python benchmarks/first_report.py --no-install    # reuse this checkout's .venv (render only)
    python benchmarks/first_report.py --json out.json

It clones this checkout into a temporary folder, runs README command 1 there
exactly as written (the line between the render-command markers) with
``LUSSI_CACHE_DIR`` pointing at an empty temporary cache, and prints the wall time
of the install and the render, then each step's seconds as the cache records
them (training, tuning, test predictions, each experiment), and the remainder
(kernel start, figures, pandoc) as the render's wall time minus the recorded steps.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What each cache entry's record says its step cost (a model's own training and tuning, a stage's seconds).
SECONDS_KEYS = ("training_seconds", "sweep_seconds", "seconds")


def readme_command(readme: Path, marker: str = "render-command") -> str:
    text = readme.read_text(encoding="utf-8")
    block = re.search(rf"<!-- {marker} -->(.*?)<!-- /{marker} -->", text, flags=re.S)
    if block is None:
        raise SystemExit(f"{readme} has no {marker} markers")
    lines = [line.strip() for line in block.group(1).splitlines()]
    return " && ".join(line for line in lines if line and not line.startswith("```"))


def step_table(cache: Path) -> list[dict]:
    """One row per cache entry with a recorded cost: step (entry name without its key) and seconds."""
    rows = []
    for entry in sorted(cache.iterdir()):
        record_path = entry / "record.json"
        if not record_path.is_file():
            continue
        record = json.loads(record_path.read_text())
        step = entry.name.rsplit("-", 1)[0]
        for key in SECONDS_KEYS:
            value = record.get(key)
            if isinstance(value, (int, float)):
                rows.append({"step": step if key == "seconds" else f"{step} ({key.split('_')[0]})",
                             "seconds": float(value)})
    return rows


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="lussi-first-report-"))
    try:
        clone = work / "lussi"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        cache = work / "cache"
        env = {**os.environ, "LUSSI_CACHE_DIR": str(cache)}
        env.pop("LUSSI_HANDWRITING_SET", None) if args.no_real_set else None
        command = readme_command(clone / "README.md")
        install_seconds = None
        if args.no_install:
            os.symlink(ROOT / ".venv", clone / ".venv")
            render = command.split("&&")[-1].strip()
        else:
            install, render = command.rsplit("&&", 1)
            start = time.perf_counter()
            subprocess.run(install, shell=True, cwd=clone, env=env, check=True)
            install_seconds = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run(render.strip(), shell=True, cwd=clone, env=env, check=True)
        render_seconds = time.perf_counter() - start
        steps = step_table(cache)
        sizes = {name: (clone / name).stat().st_size for name in ("report.html", "report-slides.html")
                 if (clone / name).exists()}
        return {"command": command, "install_seconds": install_seconds, "render_seconds": render_seconds,
                "steps": steps, "remainder_seconds": render_seconds - sum(row["seconds"] for row in steps),
                "sizes": sizes}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-install", action="store_true", help="reuse this checkout's .venv")
    parser.add_argument("--no-real-set", action="store_true", help="leave out $LUSSI_HANDWRITING_SET")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone and cache")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    result = run(args)
    print(f"\ncommand: {result['command']}")
    if result["install_seconds"] is not None:
        print(f"install: {result['install_seconds']:.1f} s")
    print(f"render:  {result['render_seconds']:.1f} s")
    total = (result["install_seconds"] or 0) + result["render_seconds"]
    print(f"total:   {total:.1f} s ({total / 60:.1f} min)\n")
    print(f"{'step':<36} {'seconds':>9}")
    for row in sorted(result["steps"], key=lambda row: -row["seconds"]):
        print(f"{row['step']:<36} {row['seconds']:>9.1f}")
    print(f"{'remainder (kernel, figures, pandoc)':<36} {result['remainder_seconds']:>9.1f}")
    for name, size in result["sizes"].items():
        print(f"{name}: {size / 1e6:.2f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
