"""`sqoop import`, rebuilt from what exists: parallel PostgreSQL `COPY ... TO STDOUT` streams, one per mapper.

Apache Sqoop is retired (the Attic, 2021) and Airflow removed its Sqoop provider, so the lab keeps Sqoop's
*model* and its flags, and implements them with what PostgreSQL and pyarrow offer today:

- `-m N` mappers = N database sessions, each streaming one slice of the table with `COPY (SELECT ...)
  TO STDOUT (FORMAT csv)`, in threads (the work happens in the server and in pyarrow, outside the GIL);
- `--split-by col` slices a numeric column into N ranges between its min and max (Sqoop's boundary query);
  without it the slices are ranges of the table's physical blocks (`ctid`, a TID range scan on
  PostgreSQL >= 14), which needs no key and no index, and reads every block once;
- every mapper reads the same snapshot of the table (`pg_export_snapshot`), so the slices add up to one
  consistent table even while it changes, and the reconciliation compares like with like;
- the output looks like Sqoop's: `part-m-00000`, `part-m-00001`, ... (comma separated, no header) or
  `part-m-0000N.parquet`, plus an empty `_SUCCESS` written last;
- the import reconciles the rows the server sent for each slice (COPY's count) with the records found in
  the written files, and fails loudly, writing no `_SUCCESS`, when they differ; `--validate` (as in Sqoop)
  also compares an independent `count(*)` of the source in the same snapshot (one more scan of the table);
- output is staged in a hidden sibling folder and moved into place only when complete, so a failed run
  never loses what the target held before (`--delete-target-dir`), nor leaves half a run in it (`--append`).

Use it as a function (`import_table`) from notebooks, or as `labkit sqoop import --connect ...` from a
terminal or an Airflow BashOperator.

The package: `source` (the URL, the password file, the table, its splits), `engine` (the mappers and the
reconciliation), `files` (part files, staging), `results`, `interval` (a data interval's `--where` and
`--expect-rows`), and `cli` (the flags). No lab glue: the lab's own source and landing zone are
`labkit.workshop.landing`.
"""
from labkit.workshop.sqoop.cli import SQOOP_PASSWORD_WARNING, add_arguments, run
from labkit.workshop.sqoop.engine import DEFAULT_MAPPERS, import_table
from labkit.workshop.sqoop.files import CODECS, ROW_GROUP_ROWS
from labkit.workshop.sqoop.interval import check_expect_rows, interval_where
from labkit.workshop.sqoop.results import ImportResult, MapperResult
from labkit.workshop.sqoop.source import ctid_splits, numeric_splits, parse_connect, parse_target, read_password_file

__all__ = ["CODECS", "DEFAULT_MAPPERS", "ROW_GROUP_ROWS", "SQOOP_PASSWORD_WARNING", "ImportResult", "MapperResult",
           "add_arguments", "check_expect_rows", "ctid_splits", "import_table", "interval_where",
           "numeric_splits", "parse_connect", "parse_target", "read_password_file", "run"]
