"""The whole series, headless, as `make run` executes it: seconds and peak memory per notebook.

    python bench/series.py --scale smoke|full

Starts the lab if needed (notebook 08 stops it at the end, as in `make run`), runs every numbered notebook
with the same runner, writes the executed copies to a temporary folder, prints the runner's table and
    ratio series_minutes = <minutes> (goal <= 4 smoke | 10 full)
    ratio series_peak_gib = <GiB> (goal <= 6)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import labkit
from labkit import runner

GOAL_MINUTES = {"smoke": 4, "full": 10}
GOAL_PEAK_GIB = 6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("smoke", "full"), default=os.environ.get("LAB_SCALE", "smoke"))
    parser.add_argument("--output", help="keep the executed notebooks here (default: a temporary folder)")
    args = parser.parse_args(argv)
    os.environ["LAB_SCALE"] = args.scale
    cfg = labkit.load()
    # Started by another process (as `make run` does): the runner's peak memory counts this process's
    # descendants, which must be the notebooks' kernels and what they start, not the lab's servers.
    subprocess.run([str(Path(sys.executable).with_name("labkit")), "up"], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        results = runner.run_series(cfg, output=Path(args.output or tmp))
    print()
    print(runner.format_summary(results))
    print(f"scale {args.scale}, load average {os.getloadavg()[0]:.1f}")
    if any(r.status != "ok" for r in results):
        print("a notebook failed: no ratio")
        return 1
    minutes = sum(r.seconds for r in results) / 60
    peak = max(r.peak_memory_mib for r in results) / 1024
    print(f"ratio series_minutes = {minutes:.1f} (goal <= {GOAL_MINUTES[args.scale]})")
    print(f"ratio series_peak_gib = {peak:.2f} (goal <= {GOAL_PEAK_GIB})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
