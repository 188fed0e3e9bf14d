"""`labkit sqoop import ...`: Sqoop's flags on the command line."""
from __future__ import annotations

import argparse
import sys

from labkit.workshop.sqoop.engine import DEFAULT_MAPPERS, import_table
from labkit.workshop.sqoop.files import CODECS


SQOOP_PASSWORD_WARNING = "Setting your password on the command-line is insecure. Consider using --password-file instead."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `import` and its Sqoop flags to `parser` (the `labkit sqoop` subcommand)."""
    sub = parser.add_subparsers(dest="tool", required=True, metavar="import")
    p = sub.add_parser("import", help="import one table (like `sqoop import`)",
                       description="Import one PostgreSQL table into --target-dir as part-m-NNNNN files + _SUCCESS.")
    p.add_argument("--connect", required=True, metavar="JDBC_URL", help="jdbc:postgresql://host:port/database")
    p.add_argument("--username", required=True)
    p.add_argument("--password-file", metavar="FILE", help="file holding the password (a path or file:// URI)")
    p.add_argument("--password", help="the password itself (insecure: visible in `ps` and in task logs)")
    p.add_argument("--table", required=True)
    p.add_argument("--target-dir", required=True, metavar="DIR", help="folder to land the files in (path or file:// URI)")
    p.add_argument("-m", "--num-mappers", type=int, default=DEFAULT_MAPPERS, metavar="N",
                   help=f"parallel streams (default {DEFAULT_MAPPERS})")
    p.add_argument("--split-by", metavar="COLUMN", help="numeric column to split on (default: block ranges, ctid)")
    p.add_argument("--where", metavar="CONDITION", help="import only rows matching this SQL condition")
    p.add_argument("--validate", action="store_true",
                   help="also count(*) the source (same snapshot) and compare; costs one more scan of the table")
    p.add_argument("--expect-rows", type=int, metavar="N",
                   help="fail (no _SUCCESS) unless the source holds exactly N rows (matching --where)")
    p.add_argument("--append", action="store_true", help="add this run's files to an existing target")
    p.add_argument("--delete-target-dir", action="store_true", help="replace the target (idempotent reruns)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--as-textfile", action="store_true", help="comma-separated text files (default)")
    fmt.add_argument("--as-parquetfile", action="store_true", help="parquet files")
    p.add_argument("--compression-codec", default="snappy", choices=CODECS, help="parquet compression (default snappy)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (e.g. in task logs)")


def run(args: argparse.Namespace) -> int:
    """Run the parsed `import` command."""
    if args.password is not None:
        print(f"warning: {SQOOP_PASSWORD_WARNING}", file=sys.stderr)
    import_table(args.connect, username=args.username, password_file=args.password_file, password=args.password,
                 table=args.table, target_dir=args.target_dir, num_mappers=args.num_mappers, split_by=args.split_by,
                 where=args.where, validate=args.validate, expect_rows=args.expect_rows, append=args.append,
                 delete_target_dir=args.delete_target_dir,
                 as_parquetfile=args.as_parquetfile, compression_codec=args.compression_codec,
                 progress=not args.no_progress, log=_print_now)
    return 0


def _print_now(line: str) -> None:
    """stdout at once, so a pipe that joins stdout and stderr (an Airflow task log) keeps the order of events."""
    print(line, flush=True)
