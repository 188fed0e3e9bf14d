"""The workshop's dummy table in PostgreSQL `airline_db`: the seed's CTAS as written, its quirks, the fixed variant.

- `SEED_CTAS` is the seed's SQL, verbatim. It makes 100 lines x one row per minute from 2021-01-01 00:00 to
  2021-06-30 12:00 = 25,992,100 rows (the seed says "about 21M") and has two quirks: `hh` is a 12-hour
  clock with no AM/PM (13:05 prints as 01:05), and line 100 becomes 'dummy00'.
- The fixed variant is what flows downstream: a dense numeric key `id` (1..N, stored in order; the
  `--split-by` key), lines 'dummy01'..'dummy100', `created` as 'YYYY-MM-DD HH24:MI'. `FIXED_CTAS` says
  what it is in SQL; the fast path (`method="copy"`) builds the same rows faster: each minute is formatted
  once, the rows are streamed in PostgreSQL's binary COPY format from two sessions (one per core), into an
  UNLOGGED table (no WAL, nothing to fsync at commit), which then replaces the old table in one transaction.

The scale (cfg.date_range) only changes the date range; the code path is the same.
"""
from __future__ import annotations

import re
import struct
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg2

from labkit import connections
from labkit.config import Config
from labkit.errors import LabError
from labkit.progress import tqdm

TABLE = "tbl_airflow_dummy"
LINES = 100
SEED_RANGE = ("2021-01-01 00:00", "2021-06-30 12:00")
SEED_SECONDS_ON_RDS = 30          # "생성 소요시간 30초": the seed's own timing, on RDS
STREAMS = 2                       # parallel COPY sessions of the fast path (one per core of the lab machine)

# The seed's CTAS, verbatim (jobs/airflow_workshop_job.py of the seed workshop).
SEED_CTAS = textwrap.dedent("""\
    create table tbl_airflow_dummy as 
    select 'dummy'|| right('0' || line, 2) as line, 
    repeat('Aa', 20) as comment, 
    to_char(generate_series('2021-01-01 00:00'::timestamp,'2021-06-30 12:00', '1 minutes'), 'YYYY-MM-dd hh:mi') as created
    from generate_series(1, 100) as tbl(line);""")

# The fixed variant in SQL (FIXED_CTAS): fixed_ctas.sql beside this module, a Jinja template rendered by
# `fixed_sql` with the scale's date range. The DAG's runs write the same rows one day at a time
# (daily_runs.generate_sql).
FIXED_CTAS_FILE = Path(__file__).with_name("fixed_ctas.sql")

FIXED_COLUMNS = "id bigint, line text, comment text, created text"
COMMENT = "Aa" * 20

# Queries that prove the seed's quirks (run against the seed variant).
QUIRK_SQL = {
    "clock": textwrap.dedent("""\
        select count(*) as rows,
               count(distinct created) as distinct_created,
               (select count(*) from generate_series('{start}'::timestamp, '{end}', '1 minute')) as minutes
        from {table}"""),
    "13:05": textwrap.dedent("""\
        select ts as "timestamp",
               to_char(ts, 'YYYY-MM-dd hh:mi') as seed_format,
               to_char(ts, 'YYYY-MM-DD HH24:MI') as fixed_format,
               (select count(*) from {table}
                 where line = 'dummy01' and created = to_char(ts, 'YYYY-MM-dd hh:mi')) as rows_of_dummy01
        from (values ('2021-01-01 01:05'::timestamp), ('2021-01-01 13:05')) as v(ts)"""),
    "line 100": textwrap.dedent("""\
        select 100 as line,
               'dummy' || right('0' || 100, 2) as seed_name,
               (select count(*) from {table} where line = 'dummy00') as rows_named_dummy00,
               (select count(*) from {table} where line = 'dummy100') as rows_named_dummy100"""),
}

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,55}$")


@dataclass(frozen=True)
class Result:
    table: str
    variant: str
    method: str
    rows: int
    seconds: float
    sql: str

    def __str__(self) -> str:
        return f"{self.table} ({self.variant}, {self.method}): {self.rows:,} rows in {self.seconds:.1f} s"


def _check_table(table: str) -> str:
    if not _IDENT.match(table):
        raise LabError(f"table name {table!r} is not a plain lower-case SQL identifier of at most 56 characters; "
                       f"use letters, digits and _ (e.g. {TABLE})")
    return table


def minutes(cfg: Config) -> int:
    """How many minutes the active scale's date range holds (both ends included)."""
    start, end = (datetime.strptime(v, "%Y-%m-%d %H:%M") for v in cfg.date_range)
    return int((end - start).total_seconds() // 60) + 1


def expected_rows(cfg: Config) -> int:
    return LINES * minutes(cfg)


def seed_sql(cfg: Config, table: str = TABLE) -> str:
    """The seed's CTAS for the active scale: at full scale and the default table, exactly SEED_CTAS."""
    start, end = cfg.date_range
    sql = SEED_CTAS.replace(f"'{SEED_RANGE[0]}'::timestamp,'{SEED_RANGE[1]}'", f"'{start}'::timestamp,'{end}'")
    return sql.replace(f"create table {TABLE} as", f"create table {_check_table(table)} as")


def fixed_sql(cfg: Config, table: str = TABLE) -> str:
    """The fixed variant (fixed_ctas.sql) rendered for the active scale's date range, creating `table`."""
    import jinja2

    start, end = cfg.date_range
    rendered = jinja2.Template(FIXED_CTAS_FILE.read_text()).render(start=start, end=end)
    return rendered.replace(TABLE, _check_table(table)).strip()


def connect(cfg: Config, password: str | None = None):
    """A psycopg2 connection to `airline_db` as `airline`, from the generated `postgres_default` connection."""
    return connections.get(cfg, "postgres").connect(password)


# -- the fast path: binary COPY streams ------------------------------------------------------------------
# PostgreSQL's binary COPY format: a header, then per row a 16-bit field count and, per field, a 32-bit
# length and the bytes (bigint: 8 bytes big-endian; text: its UTF-8 bytes), then a -1 trailer.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)


def created_strings(cfg: Config):
    """Every minute of the range as 'YYYY-MM-DD HH24:MI' bytes (numpy), formatted once for all 100 lines."""
    import numpy as np

    start = np.datetime64(datetime.strptime(cfg.date_range[0], "%Y-%m-%d %H:%M"), "m")
    iso = np.datetime_as_string(start + np.arange(minutes(cfg)), unit="m")     # 2021-01-01T13:05
    return np.char.replace(iso.astype("S16"), b"T", b" ")


def line_rows(line: int, created) -> bytes:
    """All rows of one line in binary COPY format: id, 'dummyNN', comment, created (one numpy record each)."""
    import numpy as np

    name = f"dummy{line:02d}".encode()
    n = len(created)
    rows = np.empty(n, dtype=[("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("line_len", ">i4"),
                              ("line", f"S{len(name)}"), ("comment_len", ">i4"), ("comment", f"S{len(COMMENT)}"),
                              ("created_len", ">i4"), ("created", "S16")])
    rows["fields"], rows["id_len"], rows["line_len"], rows["comment_len"], rows["created_len"] = \
        4, 8, len(name), len(COMMENT), 16
    rows["id"] = np.arange((line - 1) * n + 1, line * n + 1)
    rows["line"], rows["comment"], rows["created"] = name, COMMENT.encode(), created
    return rows.tobytes()


class _Stream:
    """A file-like object that psycopg2's copy_expert reads: the header, one line's rows per read, the trailer."""

    def __init__(self, lines: range, created, on_line):
        self._parts = self._generate(lines, created, on_line)

    @staticmethod
    def _generate(lines, created, on_line):
        yield COPY_HEADER
        for line in lines:
            yield line_rows(line, created)
            on_line(len(created))
        yield COPY_TRAILER

    def read(self, size: int = -1) -> bytes:
        return next(self._parts, b"")


def _copy_lines(cfg: Config, table: str, lines: range, created, on_line, password: str | None) -> int:
    """One session: COPY the rows of `lines` into `table`; returns the rows the server counted."""
    conn = connect(cfg, password)
    try:
        with conn.cursor() as cur:
            cur.copy_expert(f"copy {table} from stdin (format binary)", _Stream(lines, created, on_line))
            copied = cur.rowcount            # the command tag: "COPY <rows>"
        conn.commit()
        return copied
    finally:
        conn.close()


def _progress_bar(table: str, label: str, total: int, enabled: bool):
    if not enabled:
        return None

    return tqdm(total=total, unit="rows", unit_scale=True, desc=f"{table} ({label})")


def _watch(conn_factory, total: int, bytes_per_row: float, stop: threading.Event, bar) -> None:
    """Move the bar by the growth of the database's files (a table being created is not visible to others)."""
    try:
        with conn_factory() as conn, conn.cursor() as cur:
            conn.autocommit = True
            cur.execute("select pg_database_size(current_database())")
            base = cur.fetchone()[0]
            while not stop.wait(0.5):
                cur.execute("select pg_database_size(current_database())")
                done = min(total, int((cur.fetchone()[0] - base) / bytes_per_row))
                bar.update(max(0, done - bar.n))
    except Exception:  # noqa: BLE001 - progress is cosmetic; the statement itself reports real errors
        pass


# On-disk bytes per row (8 kB pages, 23-byte tuple header, 4-byte line pointer): the seed's rows hold
# 8 + 41 + 17 bytes of data -> 81 rows per page; the fixed variant adds an 8-byte id -> 75 rows per page.
_BYTES_PER_ROW = {"seed": 8192 / 81, "fixed": 8192 / 75}


def statements(script: str) -> list[str]:
    """The statements of one of our SQL scripts (each ends with `;` at the end of a line; comments dropped)."""
    found = []
    for chunk in re.split(r";[ \t]*(?:\n|$)", script):
        code = "\n".join(line for line in chunk.splitlines() if not line.lstrip().startswith("--")).strip()
        if code:
            found.append(code)
    return found


def _run_sql(cfg: Config, drop: str, ctas: str, variant: str, bar, password) -> int:
    """`drop` then the CTAS, in one transaction; the bar follows the database's growth meanwhile."""
    conn = connect(cfg, password)
    stop = threading.Event()
    watcher = None
    if bar is not None:
        watcher = threading.Thread(target=_watch, daemon=True, args=(
            lambda: connect(cfg, password), bar.total, _BYTES_PER_ROW[variant], stop, bar))
        watcher.start()
    try:
        rows = -1
        with conn.cursor() as cur:
            cur.execute(drop)
            for statement in statements(ctas):   # one by one: the CTAS's row count is not the last one's
                cur.execute(statement)
                rows = max(rows, cur.rowcount)     # the CTAS's command tag: "SELECT <rows>"
        conn.commit()
        return rows
    finally:
        stop.set()
        if watcher is not None:
            watcher.join()
        conn.close()


def _build_fixed_copy(cfg: Config, new: str, bar, password) -> int:
    created = created_strings(cfg)
    lock = threading.Lock()

    def on_line(n: int) -> None:
        if bar is not None:
            with lock:
                bar.update(n)

    conn = connect(cfg, password)
    try:
        with conn.cursor() as cur:
            cur.execute(f"drop table if exists {new}")
            cur.execute(f"create unlogged table {new} ({FIXED_COLUMNS})")
        conn.commit()                         # the streams' sessions must see the empty table
    finally:
        conn.close()
    per = -(-LINES // STREAMS)
    chunks = [range(first, min(first + per, LINES + 1)) for first in range(1, LINES + 1, per)]
    with ThreadPoolExecutor(max_workers=STREAMS) as pool:
        futures = [pool.submit(_copy_lines, cfg, new, lines, created, on_line, password) for lines in chunks]
        return sum(future.result() for future in futures)


def _drop_quietly(cfg: Config, table: str, password: str | None) -> None:
    """Remove a half-built table after a failure (best effort: the next run drops it anyway)."""
    try:
        conn = connect(cfg, password)
        try:
            with conn.cursor() as cur:
                cur.execute(f"drop table if exists {table}")
            conn.commit()
        finally:
            conn.close()
    except (LabError, psycopg2.Error):
        pass


def create_table(cfg: Config, *, variant: str = "fixed", table: str = TABLE, progress: bool = True,
                 method: str = "copy", password: str | None = None) -> Result:
    """(Re)create the dummy table for the active scale (idempotent: the old table is replaced).

    variant="seed" runs the seed's CTAS as written (after dropping the table). variant="fixed" builds the
    fixed variant into `<table>__new` (method "copy": the fast path; "sql": FIXED_CTAS), then replaces
    `table` with it and analyzes it in one transaction, so readers never see a half-built table.
    `password` overrides the generated one (to check a password).
    """
    if variant not in ("seed", "fixed"):
        raise LabError(f"unknown variant {variant!r}: use 'seed' (the workshop's SQL as written) or 'fixed'")
    if method not in ("copy", "sql"):
        raise LabError(f"unknown method {method!r}: use 'copy' (fast path) or 'sql' (FIXED_CTAS)")
    table = _check_table(table)
    new = f"{table}__new"
    label = "seed SQL" if variant == "seed" else f"fixed, {method}"
    bar = _progress_bar(table, label, expected_rows(cfg), progress)
    rows = 0
    started = time.perf_counter()
    try:
        if variant == "seed":
            sql = seed_sql(cfg, table)
            rows = _run_sql(cfg, f"drop table if exists {table}", sql, "seed", bar, password)
        else:
            if method == "sql":
                sql = fixed_sql(cfg, new)
                rows = _run_sql(cfg, f"drop table if exists {new}", sql, "fixed", bar, password)
            else:
                sql = f"-- {STREAMS} sessions: copy {new} from stdin (format binary)"
                rows = _build_fixed_copy(cfg, new, bar, password)
            conn = connect(cfg, password)
            try:
                with conn.cursor() as cur:
                    cur.execute(f"drop table if exists {table}")
                    cur.execute(f"alter table {new} rename to {table}")
                    cur.execute(f"analyze {table}")
                conn.commit()
            finally:
                conn.close()
        seconds = time.perf_counter() - started
    except psycopg2.Error as exc:
        _drop_quietly(cfg, new, password)
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
            raise LabError(f"building {table} ({label}) failed: PostgreSQL stopped answering ({why}); start it "
                           f"again with {connections.POSTGRES_BACK}, then build the table again (create_table; a crash "
                           "also empties an UNLOGGED table)") from None
        raise LabError(f"building {table} ({label}) failed: {why}") from None
    finally:
        if bar is not None:
            bar.update(max(0, rows - bar.n))     # exact at the end (the database-size watcher only estimates)
            bar.close()
    return Result(table=table, variant=variant, method="seed SQL" if variant == "seed" else method,
                  rows=rows, seconds=seconds, sql=sql)


SAY_AFTER_SECONDS = 5.0    # a query still running after this says what it waits for (a full-scale scan takes ~30 s)


def table_is_complete(cfg: Config, table: str = TABLE) -> bool:
    """Whether `table` is the fixed dummy table of cfg.scale: its four columns and every row of the range."""
    cols = query(cfg, "select array_agg(column_name::text order by ordinal_position) as cols "
                      "from information_schema.columns where table_name = %s", (_check_table(table),)).cols[0]
    return cols == ["id", "line", "comment", "created"] and \
        query(cfg, f"select count(*) as n from {table}").n[0] == expected_rows(cfg)


def crash_emptied(cfg: Config, table: str = TABLE) -> bool:
    """Whether `table` is there, UNLOGGED and without a row: what a crash (or an unclean stop) of PostgreSQL
    leaves of it. A build never leaves it so: it replaces the old table only once the new one is whole."""
    frame = query(cfg, "select c.relpersistence = 'u' as unlogged from pg_class c join pg_namespace n "
                       "on n.oid = c.relnamespace where c.relname = %s and n.nspname = current_schema()",
                  (_check_table(table),))
    if not len(frame) or not frame.unlogged[0]:
        return False
    return not query(cfg, f"select exists (select 1 from {table}) as rows").rows[0]


def emptied_note(table: str = TABLE) -> str:
    """The line that says so, wherever the learner looks next (`labkit status`/`up`, notebook 05's first cell)."""
    return (f"{table} is UNLOGGED and empty: a crash of PostgreSQL emptied it; build it again (notebook 04's "
            "cell, or `labkit prepare 05`) before the import")


def ensure_table(cfg: Config, *, progress: bool = True) -> str:
    """The fixed dummy table of cfg.scale, reused when complete, else built (the fast path). Says which, in words
    (and why it was built again when a crash had emptied it)."""
    if table_is_complete(cfg):
        return f"reused: {TABLE} ({expected_rows(cfg):,} rows)"
    why = f"{emptied_note()}; so: " if crash_emptied(cfg) else ""
    return f"{why}built {create_table(cfg, progress=progress)}"


def query(cfg: Config, sql: str, params: tuple | None = None):
    """Run one read-only query as `airline` and return a DataFrame; a slow one prints what it waits for."""
    import pandas as pd

    tables = sorted(set(re.findall(r"\bfrom\s+([a-z_][a-z0-9_]*)\b(?!\s*\()", sql, re.I)) - {"generate_series"})
    what = f"reading {', '.join(tables)}" if tables else "running the query"
    notice = threading.Timer(SAY_AFTER_SECONDS, print,
                             [f"waiting for PostgreSQL ({what}; {expected_rows(cfg):,} rows at scale {cfg.scale}) ..."])
    with connect(cfg) as conn, conn.cursor() as cur:
        notice.start()
        try:
            cur.execute(sql, params)
        except psycopg2.errors.UndefinedTable as exc:
            raise LabError(f"{str(exc).strip().splitlines()[0]}: build it first with "
                           "labkit.workshop.dummy.create_table(cfg)") from None
        finally:
            notice.cancel()
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def quirk_sql(cfg: Config, name: str, table: str = TABLE) -> str:
    start, end = cfg.date_range
    return QUIRK_SQL[name].format(table=_check_table(table), start=start, end=end)


def quirk(cfg: Config, name: str, table: str = TABLE):
    """One of the proving queries ('clock', '13:05', 'line 100') run against `table`, as a DataFrame."""
    if name not in QUIRK_SQL:
        raise LabError(f"unknown quirk {name!r}: choose one of {', '.join(QUIRK_SQL)}")
    return query(cfg, quirk_sql(cfg, name, table))
