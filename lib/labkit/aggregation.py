"""The Spark aggregation step of the workshop job, and the ways to check it (notebook 05, bench/aggregate.py).

Where things are (local profile; on EMR the same job gets hdfs:// or s3:// paths):

    <landing>/tbl_airflow_dummy/part-m-0000N.parquet              the landed table (the import's output)
    <landing>/aggregates/rows_per_line_hour/run_date=<ds>/*.parquet  line, day, hour, rows
    <landing>/aggregates/rows_per_line_day/run_date=<ds>/*.parquet   line, day, rows

`run()` submits `spark_jobs/aggregate_dummy.py` with spark-submit; `duckdb_aggregate()` computes the same
two tables with DuckDB (the benchmark's yardstick); `postgres_daily()` is the same GROUP BY in the source
database; `land_synthetic()` writes a landed table of the right shape without PostgreSQL (tests, bench).
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from labkit import connections, spark_submit, sqoop
from labkit.config import Config
from labkit.datasets import dummy
from labkit.errors import LabError
from labkit.progress import tqdm

JOB = "aggregate_dummy"
TABLE, LINES, COMMENT = dummy.TABLE, dummy.LINES, dummy.COMMENT   # the dummy table's, asked of its home
HOURLY, DAILY = "rows_per_line_hour", "rows_per_line_day"

# The same aggregation in SQL: what the Spark job does, and what DuckDB and PostgreSQL are asked.
HOURLY_SQL = """
SELECT line,
       CAST(left(hour_key, 10) AS DATE)          AS day,
       CAST(substr(hour_key, 12, 2) AS INTEGER)  AS hour,
       rows
FROM (SELECT line, left(created, 13) AS hour_key, count(*) AS rows
      FROM {source}
      GROUP BY line, left(created, 13)) AS keyed
"""
DAILY_SQL = "SELECT line, day, CAST(sum(rows) AS BIGINT) AS rows FROM {hourly} GROUP BY line, day"
POSTGRES_DAILY_SQL = f"""
SELECT line, left(created, 10)::date AS day, count(*) AS rows
FROM {TABLE}
GROUP BY line, left(created, 10)
ORDER BY line, day
"""


def input_dir(cfg: Config) -> Path:
    """Where the import lands the table by default (`--target-dir`)."""
    return cfg.landing_dir / TABLE


def output_dir(cfg: Config) -> Path:
    return cfg.landing_dir / "aggregates"


def partition_dir(output: Path, table: str, run_date: str) -> Path:
    return Path(output) / table / f"run_date={run_date}"


def run(cfg: Config, run_date: str, *, input: Path | None = None, output: Path | None = None,
        echo=None, repeat: int = 1, **kwargs) -> spark_submit.SubmitRun:
    """spark-submit the aggregation for one run date (what the DAG's task runs).

    `repeat` > 1 (benchmarks) runs the same aggregation again in the same JVM: result["repeat_seconds"].
    """
    args = ["--input", str(input or input_dir(cfg)), "--output", str(output or output_dir(cfg)),
            "--run-date", run_date]
    if repeat > 1:
        args += ["--repeat", str(repeat)]
    return spark_submit.submit(cfg, JOB, args, echo=echo, **kwargs)


# -- reading the results ------------------------------------------------------------------------------
def read(output: Path, table: str, run_date: str):
    """One run date's partition of an aggregate table as a pandas DataFrame, sorted by its keys."""
    import duckdb

    folder = partition_dir(output, table, run_date)
    if not folder.is_dir():
        raise LabError(f"no {table} for run_date {run_date} in {output} ({folder} missing); run the aggregation first")
    keys = "line, day, hour" if table == HOURLY else "line, day"
    with duckdb.connect() as con:
        return con.sql(f"SELECT * FROM read_parquet('{folder}/*.parquet', hive_partitioning = false) ORDER BY {keys}").df()


def run_dates(output: Path, table: str = DAILY) -> list[str]:
    return sorted(p.name.split("=", 1)[1] for p in (Path(output) / table).glob("run_date=*") if p.is_dir())


# -- the yardsticks: DuckDB on the same files, PostgreSQL on the source table --------------------------
@dataclass
class DuckRun:
    seconds: float
    hourly_rows: int
    daily_rows: int
    input_rows: int


def duckdb_aggregate(input: Path, output: Path, threads: int = 2) -> DuckRun:
    """The same two tables with DuckDB, from the same parquet files, written as parquet to `output`."""
    import duckdb

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET enable_progress_bar = false")
        source = f"read_parquet('{Path(input)}/*.parquet')"
        con.execute("CREATE TEMP TABLE hourly AS " + HOURLY_SQL.format(source=source))
        con.execute(f"COPY hourly TO '{output / HOURLY}.parquet' (FORMAT parquet)")
        con.execute(f"COPY ({DAILY_SQL.format(hourly='hourly')}) TO '{output / DAILY}.parquet' (FORMAT parquet)")
        hourly_rows, input_rows = con.execute("SELECT count(*), sum(rows) FROM hourly").fetchone()
        daily_rows = con.execute(f"SELECT count(*) FROM '{output / DAILY}.parquet'").fetchone()[0]
    return DuckRun(time.perf_counter() - start, hourly_rows, daily_rows, int(input_rows or 0))


def differences(spark_output: Path, run_date: str, duck_output: Path) -> dict[str, int]:
    """Rows that are in one result and not the other (EXCEPT ALL both ways), per table: all zero = identical."""
    import duckdb

    found = {}
    with duckdb.connect() as con:
        for table in (HOURLY, DAILY):
            spark = f"read_parquet('{partition_dir(spark_output, table, run_date)}/*.parquet', hive_partitioning = false)"
            duck = f"read_parquet('{Path(duck_output) / table}.parquet')"
            found[table] = con.execute(f"""SELECT (SELECT count(*) FROM (SELECT * FROM {spark} EXCEPT ALL SELECT * FROM {duck}))
                                            + (SELECT count(*) FROM (SELECT * FROM {duck} EXCEPT ALL SELECT * FROM {spark}))
                                   """).fetchone()[0]
            types = [con.execute(f"DESCRIBE SELECT * FROM {src}").df()[["column_name", "column_type"]].values.tolist()
                     for src in (spark, duck)]
            if types[0] != types[1]:
                found[table] = max(found[table], 1)
                found[f"{table} schema"] = f"spark {types[0]} vs duckdb {types[1]}"
    return found


def postgres_daily(cfg: Config, table: str = TABLE):
    """The same daily GROUP BY, asked of the source table in airline_db (as role airline)."""
    return dummy.query(cfg, POSTGRES_DAILY_SQL.replace(TABLE, table))


def cross_check(spark_daily, pg_daily):
    """Spark's daily table next to PostgreSQL's: one row per (line, day), and where they disagree."""
    import pandas as pd

    a = spark_daily.assign(day=pd.to_datetime(spark_daily["day"]))
    b = pg_daily.assign(day=pd.to_datetime(pg_daily["day"]))
    both = a.merge(b, on=["line", "day"], how="outer", suffixes=("_spark", "_postgres"), indicator=True)
    both["agrees"] = (both["_merge"] == "both") & (both["rows_spark"] == both["rows_postgres"])
    return both.drop(columns="_merge")


# -- the landed input, from the real pipeline ----------------------------------------------------------
def parquet_rows(folder: Path) -> int | None:
    """Rows in a landed parquet folder (from the files' footers), None if it is not a finished import."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    files = sorted(folder.glob("*.parquet"))
    if not files or not (folder / "_SUCCESS").exists():
        return None
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def ensure_landed(cfg: Config, *, mappers: int = 2, progress: bool = True) -> str:
    """The fixed dummy table of cfg.scale in PostgreSQL and its import in the landing zone (notebooks 03, 04).

    Both are reused when they already hold the scale's rows; otherwise the table is (re)built and/or
    imported again (`--as-parquetfile --delete-target-dir`). Returns what was done, in words.
    """
    want = dummy.expected_rows(cfg)
    source_ok = dummy.table_is_complete(cfg)
    if source_ok and parquet_rows(input_dir(cfg)) == want:
        return f"reused: {TABLE} ({want:,} rows) and its import in {input_dir(cfg)}"
    done = [dummy.ensure_table(cfg, progress=progress)]
    pg = connections.get(cfg, "postgres")
    sqoop.import_table(pg.jdbc_url, username=pg.login, table=TABLE, target_dir=input_dir(cfg),
                       password=pg.password, num_mappers=mappers,
                       as_parquetfile=True, delete_target_dir=True, progress=progress, log=lambda *_: None)
    done.append(f"imported {want:,} rows into {input_dir(cfg)}")
    return "; ".join(done)


# -- the picture ------------------------------------------------------------------------------------------
def plot(hourly, daily, title: str = ""):
    """Two views of the counts: rows per day (all lines) and rows per hour of the day (all lines, all days)."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.ticker import StrMethodFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4))
    per_day = daily.groupby("day")["rows"].sum()
    days = pd.to_datetime(per_day.index)
    if len(days) <= 14:                       # a few days: one labelled bar each
        left.bar([d.strftime("%Y-%m-%d") for d in days], per_day.values, width=0.6, color="#1565c0")
    else:                                     # months of days: a date axis
        left.bar(days, per_day.values, width=1.0, color="#1565c0")
        left.xaxis.set_major_formatter(mdates.ConciseDateFormatter(left.xaxis.get_major_locator()))
    left.set_title("rows per day (all lines)")
    per_hour = hourly.groupby("hour")["rows"].sum().reindex(range(24), fill_value=0)
    right.bar(per_hour.index, per_hour.values, color="#2e7d32")
    right.set_title("rows per hour of the day (all lines, all days)")
    right.set_xlabel("hour")
    right.set_xticks(range(0, 24, 3))
    for ax in (left, right):
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    left.set_ylabel("rows")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# -- a landed table without the database ----------------------------------------------------------------
@dataclass
class Landed:
    path: Path
    rows: int
    files: int
    seconds: float


def land_synthetic(target: Path, date_range: tuple[str, str], *, lines: int = LINES, files: int = 4,
                   progress: bool = True) -> Landed:
    """Write what `labkit sqoop import --as-parquetfile -m <files>` lands, straight from pyarrow, no database.

    The same rows as the fixed variant of tbl_airflow_dummy (notebook 03): one row per line per minute of
    `date_range`, id dense 1..N in line-major order, created 'YYYY-MM-DD HH24:MI'; files part-m-0000N.parquet
    split by id ranges, row groups of about a million rows, snappy, plus `_SUCCESS`. Replaces `target`
    (like --delete-target-dir). For tests and benchmarks that need the landed shape without PostgreSQL.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if files < 1:
        raise LabError(f"files={files}: need at least one output file (like -m 1)")
    start = time.perf_counter()
    first, last = (datetime.strptime(t, "%Y-%m-%d %H:%M") for t in date_range)
    minutes = int((last - first) / timedelta(minutes=1)) + 1
    if minutes < 1:
        raise LabError(f"date range {date_range} is empty: the first minute must not be after the last")
    stamps = pa.array(np.arange(np.datetime64(first, "m"), np.datetime64(first, "m") + minutes).astype("datetime64[s]"))
    created = pc.strftime(stamps, format="%Y-%m-%d %H:%M")
    comment = pa.array([COMMENT] * minutes)
    total = minutes * lines
    bounds = [1 + k * total // files for k in range(files + 1)]     # id ranges per "mapper"

    target = Path(target)
    if target.exists():
        foreign = [p.name for p in target.iterdir() if not p.name.startswith(("part-m-", "_", "."))]
        if foreign:
            raise LabError(f"{target} holds files that are not a landed table ({', '.join(foreign[:3])}); "
                           "choose an empty or landed folder")
        shutil.rmtree(target)
    target.mkdir(parents=True)
    schema = pa.schema([("id", pa.int64()), ("line", pa.string()), ("comment", pa.string()), ("created", pa.string())])
    writers = [pq.ParquetWriter(target / f"part-m-{k:05d}.parquet", schema, compression="snappy") for k in range(files)]
    pending: list[list] = [[] for _ in range(files)]

    def flush(k: int) -> None:
        if pending[k]:
            table = pa.concat_tables(pending[k])
            writers[k].write_table(table, row_group_size=table.num_rows)
            pending[k].clear()

    try:
        for n in tqdm(range(1, lines + 1), desc="landing", unit="line", disable=not progress):
            first_id = (n - 1) * minutes + 1
            ids = pa.array(np.arange(first_id, first_id + minutes, dtype=np.int64))
            chunk = pa.table([ids, pa.array([f"dummy{n:02d}"] * minutes), comment, created], schema=schema)
            for k in range(files):                   # the part of this line's ids that falls in file k
                lo, hi = max(bounds[k], first_id), min(bounds[k + 1], first_id + minutes)
                if lo < hi:
                    pending[k].append(chunk.slice(lo - first_id, hi - lo))
                    if sum(t.num_rows for t in pending[k]) >= sqoop.ROW_GROUP_ROWS:
                        flush(k)
        for k in range(files):
            flush(k)
    finally:
        for writer in writers:
            writer.close()
    (target / "_SUCCESS").touch()
    return Landed(target, total, files, time.perf_counter() - start)
