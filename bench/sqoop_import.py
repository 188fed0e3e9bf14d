"""Benchmark: the Sqoop-shaped import vs Spark JDBC (1 partition) vs a bare COPY, on the same table, in one run.

    python bench/sqoop_import.py --scale smoke|full [--mappers N] [--repeat N]

Targets (issue 3):
  ratio import_vs_spark_jdbc_m1 = Spark JDBC 1-partition seconds / our parquet import seconds   (goal >= 3)
  ratio import_vs_bare_copy     = our throughput / bare `COPY (SELECT ...) TO STDOUT` > /dev/null   (goal >= 0.7)

Both ratios use `-m 1` by default: the seed's `sqoop import -m 1`, like for like with Spark's single JDBC
partition. The table also shows -m 2 and -m 4, which are no faster on a 2-core machine: there the database
server and the parquet writer share the same two cores, and one stream already runs as fast as a bare COPY.

The table is the fixed dummy table (`tbl_airflow_dummy`: id bigint, line, comment, created) of the scale:
144,000 rows at smoke, 25,992,100 at full; it is created when missing (full: ~30-50 s). Spark's JVM start is
measured and reported beside its import, not inside it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import labkit
from labkit import connections, secrets, services
from labkit.config import POSTGRES_JDBC_JAR
from labkit.workshop import dummy, landing, sqoop

TABLE = dummy.TABLE
FIXED_COLUMNS = ["id", "line", "comment", "created"]


def ensure_table(cfg, conn) -> str:
    """The fixed dummy table of cfg.scale: reused if it has the expected shape and rows, else (re)created."""
    with conn.cursor() as cur:
        cur.execute("select array_agg(attname::text order by attnum) from pg_attribute "
                    "where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped", (TABLE,))
        reuse = False
        if cur.fetchone()[0] == FIXED_COLUMNS:
            cur.execute(f"select count(*) from {TABLE}")
            reuse = cur.fetchone()[0] == dummy.expected_rows(cfg)
        how = "reused" if reuse else \
            f"created: {dummy.create_table(cfg, variant='fixed', table=TABLE, progress=sys.stderr.isatty())}"
        cur.execute(f"vacuum analyze {TABLE}")     # hint bits, visibility map, statistics: every method reads alike
    return how


def bare_copy(cfg, password: str, where: str = "") -> float:
    """`psql -c "COPY (SELECT * FROM t) TO STDOUT"` into /dev/null: what the database alone can send."""
    env = {**os.environ, "PGPASSWORD": password}
    pg = connections.get(cfg, "postgres")
    cmd = ["psql", "-X", "-q", "-h", pg.host, "-p", str(pg.port), "-U", pg.login, "-d", pg.database,
           "-c", f"COPY (SELECT * FROM {TABLE} {where}) TO STDOUT WITH (FORMAT csv)"]
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        subprocess.run(cmd, stdout=null, env=env, check=True)
    return time.perf_counter() - t0


def bare_copy_parallel(cfg, password: str, streams: int) -> float:
    """The same, `streams` ctid ranges at once (the database's limit with N sessions)."""
    from concurrent.futures import ThreadPoolExecutor

    pg = services.get(cfg, "postgres")
    with pg.connect("airline_db", "airline", password) as conn, conn.cursor() as cur:
        cur.execute(f"select pg_relation_size('{TABLE}') / current_setting('block_size')::int")
        blocks = cur.fetchone()[0]
    wheres = []
    for split in sqoop.ctid_splits(blocks, streams, 0):
        wheres.append("WHERE " + split.where.as_string(conn) if split.where is not None else "")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(wheres)) as pool:
        list(pool.map(lambda w: bare_copy(cfg, password, w), wheres))
    return time.perf_counter() - t0


def our_import(cfg, target: Path, mappers: int, parquet: bool, codec: str = "snappy", validate: bool = False):
    return sqoop.import_table(landing.lab_connect(cfg), username="airline",
                              password_file=secrets.path(cfg, "postgres_airline"), table=TABLE, target_dir=target,
                              num_mappers=mappers, as_parquetfile=parquet, compression_codec=codec,
                              validate=validate, delete_target_dir=True, progress=False, log=lambda *_: None)


def spark_jdbc(cfg, password: str, target: Path) -> tuple[float, float]:
    """Spark's JDBC source, one partition (Sqoop's -m 1), written as snappy parquet. Returns (JVM start, import)."""
    t0 = time.perf_counter()
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("bench-sqoop-spark-jdbc")
             .config("spark.jars", str(POSTGRES_JDBC_JAR)).config("spark.driver.memory", "2g")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.host", "127.0.0.1").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.range(1).count()
    started = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        (spark.read.format("jdbc")
         .option("url", connections.get(cfg, "postgres").jdbc_url)
         .option("driver", "org.postgresql.Driver").option("dbtable", TABLE)
         .option("user", "airline").option("password", password)
         .option("fetchsize", 10_000)            # without it the driver buffers the whole result: OutOfMemoryError
         .load().write.mode("overwrite").parquet(str(target)))
        return started, time.perf_counter() - t1
    finally:
        spark.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["smoke", "full"], default=os.environ.get("LAB_SCALE", "smoke"))
    parser.add_argument("--mappers", type=int, default=1,
                        help="-m of our import in the ratios (default 1: the seed's -m 1, like Spark's one partition)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per method, median kept (default: 3 smoke, 1 full)")
    parser.add_argument("--no-spark", action="store_true", help="skip Spark JDBC (no ratio against it)")
    args = parser.parse_args()
    os.environ["LAB_SCALE"] = args.scale
    repeat = args.repeat or (3 if args.scale == "smoke" else 1)
    cfg = labkit.load()

    pg = services.get(cfg, "postgres")
    started_postgres = pg.pid() is None
    services.up(cfg, only=["postgres"], report=lambda _: None)
    password = secrets.get(cfg, "postgres_airline")
    work = Path(tempfile.mkdtemp(prefix="bench-sqoop-", dir=cfg.state_dir))
    try:
        conn = pg.connect("airline_db", "airline", password)
        conn.autocommit = True              # (`with conn:` would open a transaction, and VACUUM refuses those)
        try:
            how = ensure_table(cfg, conn)
            with conn.cursor() as cur:
                cur.execute(f"select count(*), pg_relation_size('{TABLE}') from {TABLE}")
                rows, heap = cur.fetchone()
        finally:
            conn.close()
        print(f"{TABLE}: {rows:,} rows, {heap / 2**20:,.0f} MiB heap ({how}); scale {args.scale}, "
              f"{os.cpu_count()} cores, median of {repeat}", flush=True)

        results: list[tuple[str, float, int | None]] = []     # (method, seconds, output bytes)

        def measure(name, fn, out_bytes=None):
            times, size = [], None
            for _ in range(repeat):
                value = fn()
                times.append(value.seconds if hasattr(value, "seconds") else value)
                size = value.bytes if hasattr(value, "bytes") else out_bytes
            results.append((name, statistics.median(times), size))
            print(f"  {name:<46} {statistics.median(times):7.2f} s", flush=True)
            return statistics.median(times)

        bare = measure("bare COPY > /dev/null (psql, 1 stream)", lambda: bare_copy(cfg, password))
        measure(f"bare COPY > /dev/null (psql, {args.mappers} ctid streams)",
                lambda: bare_copy_parallel(cfg, password, args.mappers))
        ours = measure(f"labkit sqoop -m {args.mappers} --as-parquetfile (snappy)",
                       lambda: our_import(cfg, work / "ours", args.mappers, True))
        for m in sorted({1, 2, 4} - {args.mappers}):
            measure(f"labkit sqoop -m {m} --as-parquetfile (snappy)", lambda m=m: our_import(cfg, work / "ours", m, True))
        measure(f"labkit sqoop -m {args.mappers} --as-parquetfile --validate",
                lambda: our_import(cfg, work / "ours", args.mappers, True, validate=True))
        measure(f"labkit sqoop -m {args.mappers} --as-parquetfile (zstd)",
                lambda: our_import(cfg, work / "ours", args.mappers, True, "zstd"))
        measure(f"labkit sqoop -m {args.mappers} --as-textfile",
                lambda: our_import(cfg, work / "ours", args.mappers, False))
        shutil.rmtree(work / "ours", ignore_errors=True)

        spark = None
        if not args.no_spark:
            jvm, spark = spark_jdbc(cfg, password, work / "spark")
            size = sum(p.stat().st_size for p in (work / "spark").glob("*.parquet"))
            results.append(("Spark JDBC, 1 partition, parquet (snappy)", spark, size))
            print(f"  {'Spark JDBC, 1 partition, parquet (snappy)':<46} {spark:7.2f} s  (+ {jvm:.1f} s JVM start, "
                  "not counted)", flush=True)

        print()
        print(f"{'method':<48} {'seconds':>8} {'rows/s':>12} {'output MiB':>11}")
        for name, seconds, size in results:
            print(f"{name:<48} {seconds:8.2f} {rows / seconds:12,.0f} {size / 2**20 if size else 0:11.1f}")
        print()
        if spark is not None:
            print(f"ratio import_vs_spark_jdbc_m1 = {spark / ours:.2f} (goal >= 3)")
        print(f"ratio import_vs_bare_copy = {bare / ours:.2f} (goal >= 0.7)")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if started_postgres:
            pg.stop()


if __name__ == "__main__":
    sys.exit(main())
