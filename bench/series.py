"""The whole series, headless, as `make run` executes it: seconds and peak memory per notebook.

    python bench/series.py --scale smoke|full

Starts the lab if needed (notebook 09 stops it at the end, as in `make run`), runs every numbered notebook
with the same runner, writes the executed copies to a temporary folder, prints the runner's table and
    ratio series_minutes = <minutes> (goal <= 13 smoke | 10 full)
    ratio series_peak_gib = <GiB> (goal <= 6)
    ratio series_peak_disk_gib = <GiB> (goal <= what `labkit doctor` asks to be free: 2 smoke | 12 full)
The peak disk use is the largest size of the lab's state folder (databases, landing zone, buckets, logs),
sampled every two seconds while the series runs.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import labkit
from labkit import runner
from labkit.doctor import DISK_MIN_GB

# At smoke the data is small and the series is mostly fixed costs that do not shrink with it: notebook 07 runs
# its DAG seven times (dag.test, a CLI and a REST trigger, three backfilled days, one rerun: each a day of
# 144,000 rows at both scales) and each run's spark-submit is ~15 s of CPU-bound JVM work on 2 cores (two at
# once take twice as long, so running them side by side would not help). The goal was 4 min before 07 and 08
# became exercises; 2026-12-01 it measured 5.5 (07: 198 s of it). Restated 2026-12-04 from a run at a load below 2
# (bench/reference/series-smoke-2026-12-04.txt: 10.4 minutes at a mean load of 1.75; an earlier run that day, at a
# mean load of 11, took 28.5 and was not kept): the series has grown by the primer (02: 62 s, five `airflow` CLI
# commands and a DAG run) and by the checks that run the learner's tasks in 04-06 (each a dag.test(); 06's two
# Spark runs, its check and `airflow dags test`, made 06 143 s), while 07 took 241 s. Goal: 11 minutes at smoke.
# Restated again the same day to 13 (the record of that name was replaced: 12.5 minutes at a mean load of 1.31):
# notebook 08 now builds its DAG task by task and each of its three checks runs the learner's tasks with
# dag.test() on the local EMR endpoint, two of them with the Spark step: 08 went from 56 s to 158 s.
GOAL_MINUTES = {"smoke": 13, "full": 10}
GOAL_PEAK_GIB = 6


def folder_bytes(path: Path) -> int:
    """Disk space the files under `path` take (allocated blocks; files that vanish while counting are skipped)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


class PeakDisk(threading.Thread):
    """The largest size of a folder, sampled every `interval` seconds until stop()."""

    def __init__(self, path: Path, interval: float = 2.0):
        super().__init__(daemon=True)
        self.path, self.interval, self.done = path, interval, threading.Event()
        self.start_bytes = self.peak = folder_bytes(path)

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.peak = max(self.peak, folder_bytes(self.path))

    def stop(self) -> int:
        self.done.set()
        self.join()
        self.peak = max(self.peak, folder_bytes(self.path))
        return self.peak


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
    disk = PeakDisk(cfg.state_dir)
    disk.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = runner.run_series(cfg, output=Path(args.output or tmp))
    finally:
        disk.stop()
    print()
    print(runner.format_summary(results))
    print(f"scale {args.scale}, load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    print(f"state folder {cfg.state_dir}: {disk.start_bytes / 2**30:.2f} GiB before, {disk.peak / 2**30:.2f} GiB at its peak")
    if any(r.status != "ok" for r in results):
        print("a notebook failed: no ratio")
        return 1
    minutes = sum(r.seconds for r in results) / 60
    peak = max(r.peak_memory_mib for r in results) / 1024
    # each notebook's minutes and share of the whole, as the README and notebook 00 quote them
    for r in sorted(results, key=lambda r: -r.seconds):
        print(f"share {r.notebook.split('_')[0]} = {r.seconds / 60:.1f} minutes, {100 * r.seconds / 60 / minutes:.0f}% "
              f"of the series ({r.notebook})")
    print(f"ratio series_minutes = {minutes:.1f} (goal <= {GOAL_MINUTES[args.scale]})")
    print(f"ratio series_peak_gib = {peak:.2f} (goal <= {GOAL_PEAK_GIB})")
    print(f"ratio series_peak_disk_gib = {disk.peak / 2**30:.2f} (goal <= {DISK_MIN_GB[args.scale]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
