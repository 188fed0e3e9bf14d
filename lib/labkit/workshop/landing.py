"""The lab's import of the dummy table: its source database, its `labkit sqoop import` command, where it lands,
and `ensure_landed` (the table and its import, reused when complete). The only lab glue around `sqoop`."""
from __future__ import annotations

import os
from pathlib import Path

from labkit import connections
from labkit.config import Config
from labkit.workshop import dummy, sqoop
from labkit.workshop.dummy import TABLE


def lab_connect(cfg) -> str:
    """The JDBC URL of the lab's source database (`airline_db`) on the active profile."""
    return connections.get(cfg, "postgres").jdbc_url


def lab_command(cfg, table: str = TABLE, target_dir: str | os.PathLike | None = None,
                *extra: str) -> list[str]:
    """`labkit sqoop import ...` for the lab: its URL, user `airline`, the password file, the landing zone."""
    pg = connections.get(cfg, "postgres")
    pg.password                                   # the file exists before the command names it
    target = os.fspath(target_dir) if target_dir else cfg.landing_dir / table   # a path or a file:// URI
    return ["labkit", "sqoop", "import", "--connect", pg.jdbc_url, "--username", pg.login,
            "--password-file", str(pg.secret_file), "--table", table,
            "--target-dir", str(target), *extra]


def input_dir(cfg: Config) -> Path:
    """Where the import lands the table by default (`--target-dir`): the aggregation's input."""
    return cfg.landing_dir / TABLE


def parquet_rows(folder: Path) -> int | None:
    """Rows in a landed parquet folder (from the files' footers), None if it is not a finished import."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    files = sorted(folder.glob("*.parquet"))
    if not files or not (folder / "_SUCCESS").exists():
        return None
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def ensure_landed(cfg: Config, *, mappers: int = 2, progress: bool = True) -> str:
    """The fixed dummy table of cfg.scale in PostgreSQL and its import in the landing zone (notebooks 04, 05).

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
