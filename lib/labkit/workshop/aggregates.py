"""The aggregate tables the Spark job writes, and reading them back (notebook 06, the DAG-run checks, bench).

    <landing>/aggregates/rows_per_line_hour/run_date=<ds>/*.parquet  line, day, hour, rows
    <landing>/aggregates/rows_per_line_day/run_date=<ds>/*.parquet   line, day, rows

(on EMR the same job gets hdfs:// or s3:// paths; the workshop DAG writes under its own corner, see daily_runs).
"""
from __future__ import annotations

from pathlib import Path

from labkit.config import Config
from labkit.errors import LabError

HOURLY, DAILY = "rows_per_line_hour", "rows_per_line_day"


def output_dir(cfg: Config) -> Path:
    return cfg.landing_dir / "aggregates"


def partition_dir(output: Path, table: str, run_date: str) -> Path:
    return Path(output) / table / f"run_date={run_date}"


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
