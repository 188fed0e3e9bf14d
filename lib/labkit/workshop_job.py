"""What the workshop DAG (`airflow_workshop_job`) leaves in the landing zone for one logical date."""
from __future__ import annotations

from pathlib import Path

from labkit import aggregation
from labkit.config import Config
from labkit.errors import LabError

DAG_ID = "airflow_workshop_job"


def dag_dir(cfg: Config) -> Path:
    """The DAG's corner of the landing zone: <landing>/airflow_workshop_job/."""
    return cfg.landing_dir / DAG_ID


def landed_dir(cfg: Config, ds: str) -> Path:
    return dag_dir(cfg) / "tbl_airflow_dummy" / f"ds={ds}"


def landed_rows(cfg: Config, ds: str) -> int:
    """Rows the import landed for logical date `ds` (from the parquet footers; only a finished import)."""
    import pyarrow.parquet as pq

    folder = landed_dir(cfg, ds)
    if not (folder / "_SUCCESS").exists():
        raise LabError(f"no finished import for {ds} in {folder} (no _SUCCESS); run the DAG for that date first")
    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(folder.glob("part-m-*.parquet")))


def aggregated_rows(cfg: Config, ds: str) -> int:
    """The total of the daily aggregate for run date `ds` (equals the landed rows when all went well)."""
    daily = aggregation.read(dag_dir(cfg) / "aggregates", aggregation.DAILY, ds)
    return int(daily["rows"].sum())


def outputs_table(cfg: Config, dates: list[str]):
    """Landed and aggregated rows per logical date, as a DataFrame."""
    import pandas as pd

    return pd.DataFrame([{"logical date": ds, "landed rows": landed_rows(cfg, ds),
                          "aggregated rows": aggregated_rows(cfg, ds)} for ds in dates]).set_index("logical date")
