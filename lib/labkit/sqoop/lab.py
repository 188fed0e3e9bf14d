"""The lab's own values for the import: its source database and landing zone (notebooks, bench, tests)."""
from __future__ import annotations

import os

from labkit import connections
from labkit.datasets.dummy import TABLE


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
