"""Benchmark: faults injected into a running lab, and whether each one is survived.

    python bench/faults.py --scale smoke|full [--only NAME ...] [--list]

Each fault is one scenario of tests/faults/scenarios.py (the injection code is tests/faults/inject.py, shared
with the tests): PostgreSQL killed during the generation (fast path and seed CTAS), during the DAG's per-day
generation, during the import, and between generation and import (the UNLOGGED table, the DAG's daily table);
the landing zone's disk full; a truncated landed parquet file under the aggregation; MariaDB killed during the
EMR step's write; Airflow's api-server killed during a run; a crash during a DAG task followed by `labkit up` and
nothing else (the scheduler killed during the Spark task, PostgreSQL during the import: the interrupted task's own
retry must finish the run, the day counted in PostgreSQL, the landed parquet and the aggregates; after the
scheduler's kill no process of Airflow's tree, its workers and their task included, may outlive it; the EMR endpoint
killed as the cluster's teardown is due and left down 150 s: terminate_cluster's retries must end the cluster).
At --scale full the same scenarios work on the
full table (25,992,100 rows) where they use the dummy table; the DAG's scenarios work on one day at any scale.

A fault is survived when the learner is shown one line (cause and fix), the state from before the fault is
kept, no process of a crashed tree is left running, and after the recovery the notebooks teach (retry, clear,
`labkit up`) no row is lost or doubled.

It kills the servers of the lab it runs on (LAB_STATE_DIR, default `.lab/`) and starts them again; it needs
root for the small file system of the disk-full fault (tmpfs). Target (issue 16):
  ratio faults_survived = <survived>/<faults> (goal = all)
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))
import inject  # noqa: E402
import scenarios  # noqa: E402

import labkit  # noqa: E402
from labkit.state import ensure_state_dir  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--scale", choices=("smoke", "full"), default=os.environ.get("LAB_SCALE", "smoke"))
    parser.add_argument("--only", nargs="+", choices=list(scenarios.SCENARIOS), metavar="NAME",
                        help="run only these faults (default: all)")
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, run in scenarios.SCENARIOS.items():
            print(f"{name:<34} {run.__doc__.splitlines()[0]}")
        return 0
    os.environ["LAB_SCALE"] = args.scale
    cfg = labkit.load()
    ensure_state_dir(cfg)                             # a fresh lab: its folder is the lab's before anything is put in it
    work = cfg.state_dir / "bench-faults"
    outcomes: list[tuple[str, scenarios.Outcome | None, str, float]] = []
    for name in args.only or scenarios.SCENARIOS:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        t0 = time.perf_counter()
        try:
            inject.recover(cfg)                       # every scenario starts on a whole, healthy lab
            outcome, error = scenarios.SCENARIOS[name](cfg, work), ""
        except inject.NoSmallDisk as exc:
            outcome, error = None, f"not run: {exc}"
        except Exception as exc:  # noqa: BLE001 - a scenario that breaks is a fault not survived
            outcome, error = None, f"the scenario itself failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        seconds = time.perf_counter() - t0
        outcomes.append((name, outcome, error, seconds))
        state = error or ("survived" if outcome.survived else "NOT survived")
        print(f"{name}: {state} ({seconds:.0f} s)", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    inject.recover(cfg)

    print(f"\nscale {args.scale}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
    print(f"{'fault':<62} {'outcome':<13} {'lost':>6} {'doubled':>8}  recovery")
    for name, o, error, _ in outcomes:
        if o is None:
            print(f"{name:<62} {'not run' if error.startswith('not run') else 'broke':<13} {'-':>6} {'-':>8}  -")
            continue
        verdict = "survived" if o.survived else ("two+ lines" if not o.one_line else
                                                 "state lost" if not o.kept else
                                                 "procs left" if o.left else "not survived")
        lost, doubled = (f"{o.lost:,}", f"{o.doubled:,}") if o.counted else ("-", "-")   # "-": not counted
        print(f"{o.fault:<62} {verdict:<13} {lost:>6} {doubled:>8}  "
              f"{o.recovery}{'' if o.recovered else ' (did not recover)'}")
    print("\nwhat the learner is shown:")
    for name, o, error, _ in outcomes:
        shown = error if o is None else (o.line if o.one_line else o.line.strip().splitlines()[-1] + "  [traceback]")
        print(f"  {name}: {shown}")
    survived = sum(1 for _, o, _, _ in outcomes if o is not None and o.survived)
    print(f"\nratio faults_survived = {survived}/{len(outcomes)} (goal = all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
