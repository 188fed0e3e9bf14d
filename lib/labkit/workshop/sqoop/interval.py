"""A daily import's slice of a table: the `--where` of a data interval, and the rows it must hold.

Sqoop imports part of a table with `--where "<condition>"`, and grows a copy day by day with
`--incremental append|lastmodified --check-column <col> --last-value <v>`. An incremental import starts
where the *previous* import stopped, so it cannot redo a past day; a scheduler's run instead names its own
interval, `[data_interval_start, data_interval_end)`, which a backfill or a rerun can import again and get
the same rows. `interval_where` writes that condition from two timestamps (parsed, then formatted, so the
values are never pasted into SQL as given).

`--expect-rows N` (the lab's addition; Sqoop's nearest is `--validate`) makes the import fail, writing no
`_SUCCESS`, unless the source sent exactly N rows: a table that lost rows between the task that wrote them
and the import (an UNLOGGED table emptied by a crash, a stray delete) stops the run instead of landing
fewer rows as if all were well.
"""
from __future__ import annotations

from datetime import datetime

from labkit.errors import LabError

MINUTE = "%Y-%m-%d %H:%M"          # how the dummy tables write `created` (text, 24-hour clock)


def _timestamp(value, name: str) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise LabError(f"interval {name} {value!r} is not a timestamp: give 'YYYY-MM-DD HH:MM' "
                       "(or an ISO 8601 date/time)") from None


def interval_where(start, end, column: str = "created") -> str:
    """`created >= 'YYYY-MM-DD HH:MM' and created < 'YYYY-MM-DD HH:MM'`: the rows of [start, end)."""
    if not column.isidentifier() or not column.islower():
        raise LabError(f"interval column {column!r} is not a plain lower-case column name (e.g. created)")
    lo, hi = _timestamp(start, "start"), _timestamp(end, "end")
    if lo >= hi:
        raise LabError(f"interval {lo:{MINUTE}} .. {hi:{MINUTE}} is empty: the start must be before the end")
    return f"{column} >= '{lo:{MINUTE}}' and {column} < '{hi:{MINUTE}}'"


def check_expect_rows(expect_rows) -> int | None:
    """`--expect-rows`: None (no check) or a whole number >= 0."""
    if expect_rows is None:
        return None
    if isinstance(expect_rows, bool) or not isinstance(expect_rows, int) or expect_rows < 0:
        raise LabError(f"--expect-rows {expect_rows!r}: give the number of rows the source must hold, "
                       "a whole number >= 0 (e.g. what the task that wrote them counted)")
    return expect_rows


def check_source_rows(expect_rows: int | None, sent: int, table: str, where: str | None, target) -> None:
    """LabError unless the source sent `expect_rows` rows (called before anything is published)."""
    if expect_rows is None or sent == expect_rows:
        return
    scope = f" where {where}" if where else ""
    raise LabError(f"--expect-rows {expect_rows:,}: {table}{scope} holds {sent:,} rows; the source lost or gained "
                   "rows since they were counted (a crash empties an UNLOGGED table); nothing was moved into "
                   f"{target} and no _SUCCESS was written: write the rows again (in the DAG: clear the run), "
                   "then import")


def check_not_crash_emptied(table: str, unlogged: bool, empty: bool, expect_rows: int | None, target) -> None:
    """LabError for an empty UNLOGGED source imported without --expect-rows: after a crash of PostgreSQL such a
    table is empty, and landing it would replace a good landing with no rows (and a `_SUCCESS`)."""
    if not (unlogged and empty) or expect_rows is not None:
        return
    raise LabError(f"{table} is UNLOGGED and holds no rows: a crash or an unclean stop of PostgreSQL empties an "
                   f"unlogged table; nothing was moved into {target} and no _SUCCESS was written (what it held is "
                   "kept); build the table again (notebook 04), then import; to land an empty table on purpose, "
                   "add --expect-rows 0")
