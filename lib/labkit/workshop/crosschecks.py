"""The yardsticks of the Spark aggregation: DuckDB on the same landed files, PostgreSQL on the source table.

`duckdb_aggregate()` computes the same two tables with DuckDB (the benchmark's yardstick) and `differences()`
compares them with Spark's; `postgres_daily()` is the same GROUP BY in the source database and
`cross_check()` sets it beside Spark's daily table (notebook 06, bench/aggregate.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from labkit.config import Config
from labkit.workshop import dummy
from labkit.workshop.aggregates import DAILY, HOURLY, partition_dir

TABLE = dummy.TABLE

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
