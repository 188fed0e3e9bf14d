"""What Airflow adds: the workshop DAG's run vs the same three steps run directly, side by side.

    python bench/dag_overhead.py --scale smoke|full [--repeat N]

Each round runs, in turn, for one day: (a) the three steps directly, as the DAG's tasks would run them (the
DAG's own SQL file, the same `labkit sqoop import` and `spark-submit` command lines), and (b) one DAG run triggered
through the REST API, from the trigger until the run is `success`. The lab (PostgreSQL + Airflow) is
started if needed. Prints the medians and
    ratio dag_overhead_seconds = <DAG median - direct median> (goal <= 15)
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import time

import labkit
from labkit import services
from labkit.services.airflow import airflow_env
from labkit.workshop import daily_runs, dummy, landing
from labkit.workshop.sqoop.interval import interval_where

GOAL = 15.0


def direct(cfg, ds: str) -> dict[str, float]:
    """The DAG's three steps for day `ds` without Airflow (the DAG's SQL file, the same command lines)."""
    timings = {}
    out = cfg.landing_dir / "bench_direct"
    landed = out / daily_runs.TABLE / f"ds={ds}"
    env = airflow_env(cfg)

    start = time.perf_counter()
    with dummy.connect(cfg) as conn, conn.cursor() as cur:        # one transaction, as the DAG's SQL task
        for statement in dummy.statements(daily_runs.generate_sql(cfg, ds)):
            cur.execute(statement)
        expected = cur.fetchone()[0]
    timings["generate"] = time.perf_counter() - start

    start = time.perf_counter()
    subprocess.run(landing.lab_command(cfg, daily_runs.TABLE, f"file://{landed}",
                                     "--where", interval_where(*daily_runs.day_interval(ds)), "--split-by", "id",
                                     "-m", "2", "--expect-rows", str(expected), "--as-parquetfile",
                                     "--delete-target-dir", "--no-progress"), check=True, env=env, capture_output=True)
    timings["import"] = time.perf_counter() - start

    start = time.perf_counter()
    subprocess.run(["spark-submit", str(cfg.spark_jobs_dir / "aggregate_dummy.py"), "--input", f"file://{landed}",
                    "--output", f"file://{out / 'aggregates'}", "--run-date", ds],
                   check=True, env=env, capture_output=True)
    timings["aggregate"] = time.perf_counter() - start
    timings["total"] = sum(timings.values())
    return timings


def via_airflow(api, ds: str) -> float:
    """One DAG run for day `ds` (a manual run's interval is the day before its logical date: give the next day)."""
    start = time.perf_counter()
    after = (dt.date.fromisoformat(ds) + dt.timedelta(days=1)).isoformat()
    run_id = api.trigger(daily_runs.DAG_ID, logical_date=f"{after}T00:00:00Z",
                         run_id=f"bench__{ds}__{time.time():.0f}")
    run = api.follow(daily_runs.DAG_ID, run_id, progress=False, interval=0.5)
    if run["state"] != "success":
        raise SystemExit(f"the DAG run {run_id} ended {run['state']}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--scale", choices=("smoke", "full"), default=os.environ.get("LAB_SCALE", "smoke"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ["LAB_SCALE"] = args.scale
    cfg = labkit.load()
    services.up(cfg, only=["airflow"], report=lambda _: None)
    api = services.get(cfg, "airflow").api()
    api.wait_for_dag(daily_runs.DAG_ID)
    was_paused = api.get(f"dags/{daily_runs.DAG_ID}")["is_paused"]
    api.unpause(daily_runs.DAG_ID)   # manual runs of a paused DAG never start
    time.sleep(8)                      # unpausing may schedule the latest interval: let it finish first
    for run in api.dag_runs(daily_runs.DAG_ID):
        if run["state"] in ("queued", "running"):
            api.follow(daily_runs.DAG_ID, run["dag_run_id"], progress=False)
    directs, dags = [], []
    try:
        for i in range(args.repeat):
            ds = f"2021-03-{i + 1:02d}"
            directs.append(direct(cfg, ds))
            dags.append(via_airflow(api, ds))
            print(f"round {i + 1}: direct {directs[-1]['total']:.1f} s, DAG run {dags[-1]:.1f} s", flush=True)
    finally:
        if was_paused:
            api.pause(daily_runs.DAG_ID)
        shutil.rmtree(cfg.landing_dir / "bench_direct", ignore_errors=True)
    med = {k: statistics.median(d[k] for d in directs) for k in directs[0]}
    dag_med = statistics.median(dags)
    print(f"\nscale {args.scale}, {args.repeat} rounds, load average {os.getloadavg()[0]:.1f}")
    print(f"{'':<34}{'median s':>10}")
    for step in ("generate", "import", "aggregate", "total"):
        print(f"{'direct: ' + step:<34}{med[step]:>10.1f}")
    print(f"{'Airflow: trigger -> success':<34}{dag_med:>10.1f}")
    overhead = dag_med - med["total"]
    print(f"ratio dag_overhead_seconds = {overhead:.1f} (goal <= {GOAL:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
