"""What the workshop DAG (`airflow_workshop_job`) works on and leaves behind, one data interval (a day) per run.

Each run writes its day's rows into `tbl_airflow_dummy_daily` in PostgreSQL (the DAG's SQL file), imports
those rows only into `<landing>/airflow_workshop_job/tbl_airflow_dummy_daily/ds=<day>` and aggregates them
into the `run_date=<day>` partitions. Here: the same SQL rendered for a day, and the three counts that must
agree per day: rows in PostgreSQL, rows landed, rows aggregated.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from labkit.config import Config
from labkit.errors import LabError
from labkit.workshop import aggregates, dummy
from labkit.workshop.sqoop.interval import MINUTE, interval_where

DAG_ID = "airflow_workshop_job"
TABLE = "tbl_airflow_dummy_daily"                                 # the DAG's source table, one day per run
GENERATE_SQL = Path("sql") / "generate_interval_rows.sql"        # under dags/: the DAG's first task


def dag_dir(cfg: Config, dag_id: str = DAG_ID) -> Path:
    """A workshop DAG's corner of the landing zone: <landing>/<dag_id>/ (the reference DAG's, or a learner's
    `my_workshop_job`: its templates name `{{ dag.dag_id }}`)."""
    return cfg.landing_dir / dag_id


def landed_dir(cfg: Config, ds: str, dag_id: str = DAG_ID) -> Path:
    return dag_dir(cfg, dag_id) / TABLE / f"ds={ds}"


def day_interval(ds: str) -> tuple[datetime, datetime]:
    """The data interval of the daily run for `ds` ('YYYY-MM-DD'): [that midnight, the next), UTC."""
    try:
        start = datetime.combine(date.fromisoformat(ds), datetime.min.time())
    except (TypeError, ValueError):
        raise LabError(f"{ds!r} is not a day in YYYY-MM-DD form (the run's ds)") from None
    return start, start + timedelta(days=1)


def generate_sql(cfg: Config, ds: str) -> str:
    """The DAG's first task's SQL for day `ds`, rendered as Airflow renders it (for benchmarks and tests)."""
    import jinja2

    start, end = day_interval(ds)

    def interval(lo: datetime, hi: datetime) -> dict:        # what the DAG's `interval` macro returns
        return {"start": f"{lo:{MINUTE}}", "end": f"{hi:{MINUTE}}", "ds": f"{lo:%Y-%m-%d}"}

    text = (cfg.dags_dir / GENERATE_SQL).read_text()
    return jinja2.Template(text).render(interval=interval, data_interval_start=start, data_interval_end=end)


def source_rows(cfg: Config, ds: str) -> int:
    """Rows of day `ds` in PostgreSQL's `tbl_airflow_dummy_daily` (what the run's import had to land)."""
    return int(dummy.query(cfg, f"select count(*) as n from {TABLE} where {interval_where(*day_interval(ds))}").n[0])


def landed_rows(cfg: Config, ds: str, dag_id: str = DAG_ID) -> int:
    """Rows the import landed for day `ds` (from the parquet footers; only a finished import)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in _landed_files(cfg, ds, dag_id))


def _landed_files(cfg: Config, ds: str, dag_id: str = DAG_ID) -> list[Path]:
    folder = landed_dir(cfg, ds, dag_id)
    if not (folder / "_SUCCESS").exists():
        raise LabError(f"no finished import for {ds} in {folder} (no _SUCCESS); run the DAG for that date first")
    return sorted(folder.glob("part-*.parquet"))     # Sqoop's part-m-NNNNN, or Spark's part-NNNNN-<uuid> (emr)


def landed_span(cfg: Config, ds: str, dag_id: str = DAG_ID) -> tuple[str, str]:
    """The first and last `created` minute among the rows landed for `ds`: which day's rows they are."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    created = pq.ParquetDataset(_landed_files(cfg, ds, dag_id)).read(columns=["created"]).column("created")
    span = pc.min_max(created)
    return span["min"].as_py(), span["max"].as_py()


def aggregated_rows(cfg: Config, ds: str, dag_id: str = DAG_ID) -> int:
    """The total of the daily aggregate for run date `ds` (equals the landed rows when all went well)."""
    daily = aggregates.read(dag_dir(cfg, dag_id) / "aggregates", aggregates.DAILY, ds)
    return int(daily["rows"].sum())


def outputs_table(cfg: Config, dates: list[str], label: str = "", dag_id: str = DAG_ID):
    """Per day: rows in PostgreSQL, landed, aggregated, and the minutes the landed rows cover, as a DataFrame."""
    import pandas as pd

    rows = []
    for ds in dates:
        first, last = landed_span(cfg, ds, dag_id)
        rows.append({"run": f"{ds}{label}", "rows in PostgreSQL": source_rows(cfg, ds),
                     "landed": landed_rows(cfg, ds, dag_id), "aggregated": aggregated_rows(cfg, ds, dag_id),
                     "landed created": f"{first} .. {last}"})
    return pd.DataFrame(rows).set_index("run")
