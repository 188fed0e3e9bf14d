"""Benchmark: the Spark aggregation (spark-submit, local[*]) vs DuckDB on the same landed parquet, in one run.

    python bench/aggregate.py --scale smoke|full [--input DIR] [--repeat N]

Target (issue 3):
  ratio spark_vs_duckdb = Spark aggregation seconds / DuckDB seconds   (goal <= 3)

Both compute the same two tables (rows per line per hour, rows per line per day) from the same files, the
same way (one pass for the hourly table, the daily one rolled up from it), and write them as parquet. The
results must be identical (EXCEPT ALL both ways, and the column types), else the benchmark fails. The Spark
side is `labkit.workshop.spark_aggregation.run` (what notebook 06 and the DAG run): its aggregation time is measured inside
the job once the SparkSession exists; the session start and the whole spark-submit wall time are reported
beside it, not inside the ratio. DuckDB runs with one thread per core, as Spark's local[*] does.

Input: --input DIR, else the landed table in the landing zone when it holds the scale's row count (from
`labkit sqoop import --as-parquetfile`), else a synthetic landed table of the same shape written with pyarrow
into <state>/bench/ (kept for the next run): 144,000 rows at smoke, 25,992,100 at full.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import labkit
from labkit import services, state
from labkit.errors import LabError
from labkit.workshop import aggregates, crosschecks, dummy, landing, spark_aggregation, synthetic

RUN_DATE = "2021-07-01"
THREADS = os.cpu_count() or 1   # Spark's local[*] (spark-defaults.conf): one task thread per core
WARM_ROUNDS = 2      # the job runs the aggregation again this many times in its JVM (context, not the ratio)


def expected_rows(cfg) -> int:
    first, last = (datetime.strptime(t, "%Y-%m-%d %H:%M") for t in cfg.date_range)
    return (int((last - first).total_seconds() // 60) + 1) * dummy.LINES


def choose_input(cfg, given: str | None) -> tuple[Path, str]:
    if given:
        path = Path(given)
        if landing.parquet_rows(path) is None:
            raise LabError(f"--input {path} is not a landed parquet table (part-m-*.parquet and _SUCCESS)")
        return path, "given with --input"
    want = expected_rows(cfg)
    landed = landing.input_dir(cfg)
    if landing.parquet_rows(landed) == want:
        return landed, "the landing zone (labkit sqoop import)"
    state.ensure_state_dir(cfg)             # the lab's state folder (made, or checked to be ours)
    generated = cfg.state_dir / "bench" / f"aggregate-landed-{cfg.scale}"
    if landing.parquet_rows(generated) == want:
        return generated, "synthetic (pyarrow, kept from an earlier run)"
    done = synthetic.land_synthetic(generated, cfg.date_range)
    return generated, f"synthetic (pyarrow, written in {done.seconds:.1f} s)"


def duckdb_two_scans(source: Path, threads: int = THREADS) -> float:
    """For context only: the two GROUP BYs written the plain way, each scanning the files (not the job's plan)."""
    import time

    import duckdb

    files = f"read_parquet('{source}/*.parquet')"
    start = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(f"SET threads = {threads}")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SELECT line, left(created, 13) AS hour_key, count(*) FROM {files} GROUP BY ALL").fetchall()
        con.execute(f"SELECT line, left(created, 10) AS day, count(*) FROM {files} GROUP BY ALL").fetchall()
    return time.perf_counter() - start


def warm_page_cache(folder: Path) -> int:
    """Read every file once, so neither engine pays for the first read from disk."""
    size = 0
    for f in folder.glob("*.parquet"):
        with open(f, "rb") as fh:
            while chunk := fh.read(8 << 20):
                size += len(chunk)
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=("smoke", "full"), default=os.environ.get("LAB_SCALE", "smoke"))
    parser.add_argument("--input", help="a landed parquet folder (default: see the module docstring)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each engine; the median counts (default 1)")
    args = parser.parse_args(argv)
    os.environ["LAB_SCALE"] = args.scale
    cfg = labkit.load()

    source, how = choose_input(cfg, args.input)
    rows = landing.parquet_rows(source)
    size = warm_page_cache(source)
    print(f"input: {source} ({rows:,} rows, {size / 2**20:.0f} MiB parquet; {how})", flush=True)

    work = Path(tempfile.mkdtemp(prefix="bench-aggregate-"))
    try:
        sparks, ducks = [], []
        for i in range(args.repeat):
            run = spark_aggregation.run(cfg, RUN_DATE, input=source, output=work / "spark", repeat=WARM_ROUNDS + 1)
            r = run.result
            warm = min(r["repeat_seconds"][1:])
            sparks.append((r["aggregate_seconds"], r["session_seconds"], run.seconds, warm))
            print(f"  spark  run {i + 1}: aggregation {r['aggregate_seconds']:6.2f} s  (session start "
                  f"{r['session_seconds']:.2f} s, spark-submit wall {run.seconds:.2f} s; the same aggregation "
                  f"again in that JVM: {', '.join(f'{s:.2f}' for s in r['repeat_seconds'][1:])} s)", flush=True)
            duck = crosschecks.duckdb_aggregate(source, work / "duckdb", threads=THREADS)
            ducks.append(duck.seconds)
            print(f"  duckdb run {i + 1}: aggregation {duck.seconds:6.2f} s", flush=True)

        # same input, same results: row counts, then every row and the column types
        assert r["input_rows"] == duck.input_rows == rows, (r["input_rows"], duck.input_rows, rows)
        assert (r["hourly_rows"], r["daily_rows"]) == (duck.hourly_rows, duck.daily_rows), (r, duck)
        diff = crosschecks.differences(work / "spark", RUN_DATE, work / "duckdb")
        assert diff == {aggregates.HOURLY: 0, aggregates.DAILY: 0}, f"Spark and DuckDB results differ: {diff}"

        plain = duckdb_two_scans(source)
        spark_agg = statistics.median(s[0] for s in sparks)
        session = statistics.median(s[1] for s in sparks)
        wall = statistics.median(s[2] for s in sparks)
        warm = statistics.median(s[3] for s in sparks)
        duck_s = statistics.median(ducks)
        print()
        print(f"{'engine':<30} {'aggregation s':>14} {'session start s':>16} {'wall s':>8} {'rows/s':>14}")
        print(f"{f'Spark local[*] = {THREADS} threads':<30} {spark_agg:14.2f} {session:16.2f} {wall:8.2f} {rows / spark_agg:14,.0f}")
        print(f"{'  context: Spark, warm JVM':<30} {warm:14.2f} {'-':>16} {'-':>8} {rows / warm:14,.0f}"
              "   (best rerun inside the same spark-submit; not in the ratio)")
        print(f"{f'DuckDB ({THREADS} threads)':<30} {duck_s:14.2f} {'-':>16} {duck_s:8.2f} {rows / duck_s:14,.0f}")
        print(f"{'  context: DuckDB, 2 scans':<30} {plain:14.2f} {'-':>16} {plain:8.2f} {rows / plain:14,.0f}"
              "   (hourly and daily each from the files; not in the ratio)")
        print(f"results identical: {r['hourly_rows']:,} hourly rows, {r['daily_rows']:,} daily rows, "
              f"{rows:,} input rows")
        print()
        print(f"context: the warm JVM's aggregation is {warm / duck_s:.2f}x DuckDB's; the first run in a fresh JVM "
              f"pays {spark_agg - warm:.1f} s of JIT compilation and class loading on top")
        print(f"ratio spark_vs_duckdb = {spark_agg / duck_s:.2f} (goal <= 3)")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LabError as exc:
        print(f"bench/aggregate.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
