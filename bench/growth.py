"""Benchmark: the workshop's import and aggregation at a quarter, a half and all of the table, in one run.

    python bench/growth.py --scale smoke|full [--write] [--mappers N]

Each size is the first quarter, half or all of the table's minutes, imported the way notebook 05 does
(`labkit sqoop import --where "created >= ... and created < ..." -m 2 --as-parquetfile`, checked with
`--expect-rows`) and aggregated the way notebook 06 does (spark-submit of `aggregate_dummy.py`, wall time).
The `--where` has no index to use: every size reads the whole table and keeps its part.

Targets (issue 14, "How it grows"):
  ratio growth_import_all_over_quarter      = import seconds(all) / seconds(quarter)        (goal <= 5)
  ratio growth_aggregation_all_over_quarter = aggregation seconds(all) / seconds(quarter)   (goal <= 5)
Four times the rows should take at most about four times as long (less with fixed costs: the JVM, the
session, the scan of the whole table); above 5 the stage degrades as it grows, and notebook 09's straight-line
projection to 10x and 100x would be optimistic.

`--write` saves the figures, the machine (cores, RAM, CPU model, load average) and the date in
`lib/labkit/workshop/growth_reference.json`, which notebook 09 shows as reference figures. The table is the
fixed dummy table of the scale (144,000 rows at smoke, 25,992,100 at full), built when missing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import labkit
from labkit import connections, services
from labkit.errors import LabError
from labkit.workshop import dummy, growth, spark_aggregation, sqoop
from labkit.workshop.dummy import TABLE

RUN_DATE = "2021-07-01"       # the output partition only (notebook 06's)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def measure(cfg, label: str, fraction: float, work: Path, mappers: int) -> dict:
    where, rows = growth.interval(cfg.date_range, fraction)
    pg = connections.get(cfg, "postgres")
    landed = work / f"landed-{label}"
    done = sqoop.import_table(pg.jdbc_url, username=pg.login, password=pg.password, table=TABLE, target_dir=landed,
                              where=where, expect_rows=rows, num_mappers=mappers, as_parquetfile=True,
                              delete_target_dir=True, progress=False, log=lambda *_: None)
    output = work / f"aggregates-{label}"
    run = spark_aggregation.run(cfg, RUN_DATE, input=landed, output=output)
    if run.result is None or run.result.get("input_rows") != rows:
        raise LabError(f"the aggregation of the {label} read {run.result and run.result.get('input_rows')} rows, "
                       f"not {rows:,}: see {output}")
    point = {"fraction": fraction, "rows": rows, "import_seconds": round(done.seconds, 2),
             "aggregation_seconds": round(run.seconds, 2),
             "aggregation_job_seconds": round(run.result["aggregate_seconds"], 2),
             "landed_bytes": folder_bytes(landed), "aggregate_bytes": folder_bytes(output)}
    shutil.rmtree(landed)
    shutil.rmtree(output)
    print(f"  {label:<8} {rows:>12,} rows  import {point['import_seconds']:7.2f} s  aggregation "
          f"{point['aggregation_seconds']:7.2f} s (of which the job {point['aggregation_job_seconds']:.2f} s)", flush=True)
    return point


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("smoke", "full"), default=os.environ.get("LAB_SCALE", "smoke"))
    parser.add_argument("--mappers", type=int, default=2, help="-m of the import (default 2, as notebook 05)")
    parser.add_argument("--write", action="store_true", help=f"save the figures in {growth.REFERENCE_FILE.name}")
    args = parser.parse_args(argv)
    os.environ["LAB_SCALE"] = args.scale
    cfg = labkit.load()
    started = time.perf_counter()
    pg = services.get(cfg, "postgres")
    started_postgres = pg.pid() is None
    services.up(cfg, only=["postgres"], report=lambda _: None)
    work = Path(tempfile.mkdtemp(prefix="bench-growth-", dir=cfg.state_dir))
    try:
        how = dummy.ensure_table(cfg, progress=sys.stderr.isatty())
        conn = dummy.connect(cfg)
        try:
            conn.autocommit = True        # VACUUM refuses a transaction
            with conn.cursor() as cur:
                cur.execute(f"vacuum analyze {TABLE}")     # hint bits set once: the first size pays no extra
                cur.execute(f"select pg_relation_size('{TABLE}')")
                heap = cur.fetchone()[0]
        finally:
            conn.close()
        rows = dummy.expected_rows(cfg)
        load_before = os.getloadavg()[0]
        print(f"{TABLE}: {rows:,} rows, {heap / 2**20:,.0f} MiB heap ({how}); scale {args.scale}, "
              f"{os.cpu_count()} cores, -m {args.mappers}, load average {load_before:.1f}", flush=True)
        points = [measure(cfg, label, fraction, work, args.mappers) for label, fraction in growth.FRACTIONS.items()]
        machine = growth.machine()
        machine["load_average"] = round(max(load_before, machine["load_average"]), 2)
        ref = {"bench": "bench/growth.py", "date": time.strftime("%Y-%m-%d", time.gmtime()), "scale": args.scale,
               "table": TABLE, "table_rows": rows, "heap_bytes": heap, "mappers": args.mappers,
               "machine": machine, "points": points}
        if os.environ.get("BENCH_RECORD"):     # run by bench/reference.py: the file that keeps this run's output
            ref["record"] = os.environ["BENCH_RECORD"]
        growth.check(ref)

        print()
        print(growth.table(ref).to_string())
        print(f"\nscale {args.scale}, {machine['cores']} cores ({machine['cpu']}), load average "
              f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}, {time.perf_counter() - started:.0f} s in all")
        if args.write:
            print(f"wrote {growth.save(ref)}")
        print()
        for stage in ("import", "aggregation"):
            print(f"ratio growth_{stage}_all_over_quarter = {growth.linearity(ref, stage):.2f} (goal <= 5)")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if started_postgres:
            pg.stop()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LabError as exc:
        print(f"bench/growth.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
