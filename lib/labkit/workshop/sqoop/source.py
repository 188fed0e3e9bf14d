"""What to import and the database side: the connect URL, the password file, the target, the table's
columns, and the slices (splits) the mappers read in one snapshot."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlparse

import psycopg2
from psycopg2 import sql

from labkit import connections
from labkit.errors import LabError


INTEGER_TYPES = {"smallint", "integer", "bigint"}


NUMERIC_TYPES = INTEGER_TYPES | {"numeric", "real", "double precision"}


@dataclass(frozen=True)
class Source:
    """The database named by a JDBC URL (`jdbc:postgresql://host:port/database`)."""

    host: str
    port: int
    database: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_connect(url: str) -> Source:
    """Parse Sqoop's `--connect` JDBC URL; only PostgreSQL sources are supported."""
    match = re.fullmatch(r"jdbc:postgresql://([^/:?]+)(?::(\d+))?/([^?]+)(?:\?.*)?", url or "")
    if not match:
        scheme = url.split("//")[0] if url and "//" in url else url
        raise LabError(f"--connect {url!r} is not a PostgreSQL JDBC URL: expected "
                       f"jdbc:postgresql://<host>:<port>/<database>" +
                       (f" (this import reads PostgreSQL only, not {scheme})" if url and url.startswith("jdbc:") else ""))
    host, port, database = match.groups()
    return Source(host=host, port=int(port or 5432), database=unquote(database))


def read_password_file(path: str | os.PathLike) -> str:
    """The password in `path` (a local path or file:// URI). One trailing newline is ignored.

    Real Sqoop keeps that newline as part of the password, the most common reason a `--password-file`
    "does not work" (the fix there: `echo -n`). The lab's secret files end with a newline, so we drop it.
    """
    raw = str(path)
    if raw.startswith("file://"):
        raw = unquote(urlparse(raw).path)
    elif "://" in raw:
        raise LabError(f"--password-file {raw!r}: only local files are supported here (a path or file:// URI)")
    p = Path(raw).expanduser()
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise LabError(f"--password-file {p} does not exist; the lab's PostgreSQL password for role airline is "
                       f"<state folder>/secrets/postgres_airline (`labkit up` creates it)") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise LabError(f"--password-file {p} cannot be read ({exc.strerror}); point it at a readable file") from None
    text = text[:-1] if text.endswith("\n") else text
    text = text[:-1] if text.endswith("\r") else text
    if not text:
        raise LabError(f"--password-file {p} is empty; it must hold the password (one line)")
    return text


def parse_target(target: str | os.PathLike) -> Path:
    """`--target-dir` as a local folder: a path or a file:// URI (the lab's fs.defaultFS is a file:// root)."""
    raw = str(target)
    if raw.startswith("file://"):
        return Path(unquote(urlparse(raw).path))
    if "://" in raw:
        scheme = raw.split("://")[0]
        raise LabError(f"--target-dir {raw!r}: {scheme}:// is not reachable from this import; the lab's landing zone "
                       "(fs.defaultFS) is a local folder: give a path or a file:// URI")
    if not raw:
        raise LabError("--target-dir is empty; give the folder the files should land in")
    return Path(raw).expanduser().absolute()


@dataclass
class Split:
    """One mapper's slice of the table: a WHERE clause (or none) and a label a person can read."""

    index: int
    where: sql.Composable | None
    label: str
    estimate: int | None = None


def open_db(source: Source, username: str, password: str):
    """A psycopg2 connection, with the usual failures worded as one line each."""
    try:
        return psycopg2.connect(host=source.host, port=source.port, dbname=source.database, user=username,
                                password=password, connect_timeout=10, application_name="labkit-sqoop")
    except psycopg2.OperationalError as exc:
        msg = str(exc).strip()
        if "password authentication failed" in msg or "no password supplied" in msg:
            raise LabError(f"PostgreSQL at {source.address} rejected the password for user {username!r}: check that "
                           "--password-file holds that user's password "
                           "(the lab's: <state>/secrets/postgres_airline)") from None
        if "does not exist" in msg and "database" in msg:
            raise LabError(f"database {source.database!r} does not exist on {source.address}; fix the database name at "
                           "the end of --connect (the lab's is airline_db)") from None
        if "Connection refused" in msg or "could not connect" in msg or "timeout expired" in msg:
            raise LabError(f"cannot reach PostgreSQL at {source.address} (from --connect); is the lab running? "
                           f"({connections.POSTGRES_BACK}; `labkit status` shows it)") from None
        raise LabError(f"cannot connect to PostgreSQL at {source.address} as {username!r}: {msg.splitlines()[0]}") from None


@dataclass
class TableInfo:
    oid: int
    schema: str
    name: str
    kind: str
    columns: list[tuple[str, str]]           # (name, type as format_type prints it)
    blocks: int
    reltuples: int
    server_version: int
    where: str | None = None                 # Sqoop's --where: a condition every mapper adds to its slice
    unlogged: bool = False                   # an UNLOGGED table: a crash of the server empties it
    n_distinct: dict[str, float] = field(default_factory=dict)   # from pg_stats (ANALYZE), when there are any

    @property
    def ident(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.name)

    @property
    def display(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"

    def column_type(self, column: str) -> str | None:
        return dict(self.columns).get(column)


def describe(cur, table: str) -> TableInfo:
    """Resolve `--table` like PostgreSQL resolves a name in a query, and read what the import needs."""
    try:
        cur.execute("select to_regclass(%s)::oid", (table,))
        oid = cur.fetchone()[0]
    except psycopg2.Error as exc:
        cur.connection.rollback()
        why = str(exc).strip().splitlines()[0]
        raise LabError(f"--table {table!r} is not a valid table name ({why}); give it as table or schema.table") from None
    if oid is None:
        cur.execute("""select string_agg(quote_ident(table_name), ', ' order by table_name) from information_schema.tables
                       where table_schema = any(current_schemas(false))""")
        have = cur.fetchone()[0] or "none"
        raise LabError(f"--table {table!r}: no such table in database {cur.connection.info.dbname!r} "
                       f"(tables: {have}); create it first or fix the name")
    cur.execute("""select n.nspname, c.relname, c.relkind, greatest(c.reltuples, 0)::bigint,
                          case when c.relkind in ('r', 'm', 't')
                               then pg_relation_size(c.oid) / current_setting('block_size')::int else 0 end,
                          current_setting('server_version_num')::int, c.relpersistence = 'u'
                   from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = %s""", (oid,))
    schema, name, kind, reltuples, blocks, version, unlogged = cur.fetchone()
    if kind not in ("r", "v", "m", "f", "p"):
        raise LabError(f"--table {table!r} is not a table or view (relkind {kind!r}); give a table name")
    cur.execute("""select attname, format_type(atttypid, atttypmod) from pg_attribute
                   where attrelid = %s and attnum > 0 and not attisdropped order by attnum""", (oid,))
    info = TableInfo(oid, schema, name, kind, cur.fetchall(), int(blocks), int(reltuples), int(version),
                     unlogged=bool(unlogged))
    cur.execute("select attname::text, n_distinct from pg_stats where schemaname = %s and tablename = %s", (schema, name))
    info.n_distinct = dict(cur.fetchall())
    return info


def _has_leading_index(cur, info: TableInfo, column: str) -> bool:
    cur.execute("""select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
                   where i.indrelid = %s and a.attname = %s""", (info.oid, column))
    return cur.fetchone() is not None


def _check_split_by(info: TableInfo, split_by: str) -> str:
    kind = info.column_type(split_by)
    if kind is None:
        raise LabError(f"--split-by {split_by!r}: table {info.display} has no such column (columns: "
                       f"{', '.join(c for c, _ in info.columns)}); name a numeric column, "
                       "or omit --split-by to split by block ranges (ctid)")
    base = kind.split("(")[0]
    if base not in NUMERIC_TYPES:
        raise LabError(f"--split-by {split_by!r} is {kind}, but splits are ranges between min and max, so the column must "
                       "be numeric (integer, bigint, numeric...); use a numeric key, "
                       "or omit --split-by to split by block ranges (ctid)")
    return base


def numeric_splits(lo, hi, mappers: int, column: str, integer: bool, rows: int) -> list[Split]:
    """Sqoop's split: `mappers` ranges of equal width between min and max of `column`.

    The first range has no lower bound and also takes the NULLs; the last has no upper bound; adjacent ranges
    share one boundary value (>= on one side, < on the other): together they cover every row exactly once.
    """
    col = sql.Identifier(column)
    if lo is None:                                    # an empty table, or only NULLs: one slice, no condition
        return [Split(0, None, f"{column}: all rows (no min/max)", rows)]
    if integer:
        mappers = max(1, min(mappers, int(hi) - int(lo) + 1))
        bounds = [int(lo) + (int(hi) - int(lo) + 1) * i // mappers for i in range(mappers)]
    else:
        lo_d, hi_d = Decimal(str(lo)), Decimal(str(hi))
        bounds = sorted({lo_d + (hi_d - lo_d) * i / mappers for i in range(mappers)})
        if isinstance(lo, float):
            bounds = sorted({float(b) for b in bounds})
        mappers = len(bounds)
    out = []
    for i, b in enumerate(bounds):
        parts, label = [], []
        if i > 0:
            parts.append(sql.SQL("{} >= {}").format(col, sql.Literal(b)))
            label.append(f"{column} >= {b}")
        if i < mappers - 1:
            parts.append(sql.SQL("{} < {}").format(col, sql.Literal(bounds[i + 1])))
            label.append(f"{column} < {bounds[i + 1]}")
        where = sql.SQL(" AND ").join(parts) if parts else None
        if i == 0 and where is not None:
            where = sql.SQL("({}) OR {} IS NULL").format(where, col)
            label.append("or NULL")
        out.append(Split(i, where, " ".join(label) if where is not None else f"{column}: all rows", rows // mappers))
    return out


def ctid_splits(blocks: int, mappers: int, rows: int) -> list[Split]:
    """`mappers` ranges of the table's physical blocks: `ctid >= '(b0,0)' AND ctid < '(b1,0)'`.

    The first range has no lower bound and the last no upper bound, so rows in blocks added after the size
    was read are still read once. PostgreSQL >= 14 answers each range with a TID range scan (reads only those
    blocks); older servers scan the whole table for each mapper.
    """
    mappers = max(1, min(mappers, blocks))
    if mappers == 1:
        return [Split(0, None, f"all {blocks:,} blocks", rows)]
    bounds = [blocks * i // mappers for i in range(mappers)] + [None]
    out = []
    for i in range(mappers):
        parts = []
        if i > 0:
            parts.append(sql.SQL("ctid >= {}::tid").format(sql.Literal(f"({bounds[i]},0)")))
        if bounds[i + 1] is not None:
            parts.append(sql.SQL("ctid < {}::tid").format(sql.Literal(f"({bounds[i + 1]},0)")))
        end = f"{bounds[i + 1]:,}" if bounds[i + 1] is not None else "end"
        out.append(Split(i, sql.SQL(" AND ").join(parts), f"blocks {bounds[i]:,} .. {end}", rows // mappers))
    return out


def from_clause(info: TableInfo, condition: sql.Composable | None = None) -> sql.Composable:
    """`FROM table [WHERE (--where) AND (slice)]`."""
    parts = (sql.SQL(info.where) if info.where else None, condition)
    conditions = [sql.SQL("({})").format(c) for c in parts if c is not None]
    clause = sql.SQL("FROM {}").format(info.ident)
    return sql.SQL("{} WHERE {}").format(clause, sql.SQL(" AND ").join(conditions)) if conditions else clause


def copy_statement(info: TableInfo, split: Split) -> sql.Composable:
    """What one mapper runs: `COPY (SELECT cols FROM table WHERE slice) TO STDOUT WITH (FORMAT csv)`."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c, _ in info.columns)
    return sql.SQL("COPY (SELECT {} {}) TO STDOUT WITH (FORMAT csv)").format(cols, from_clause(info, split.where))


def plan(cur, info: TableInfo, num_mappers: int, split_by: str | None, log=print) -> tuple[list[Split], str]:
    """The slices the mappers read (Sqoop's "input splits"), and how they were made."""
    if info.where:
        try:
            cur.execute(sql.SQL("EXPLAIN SELECT 1 {}").format(from_clause(info)))
        except psycopg2.Error as exc:
            raise LabError(f"--where {info.where!r} is not a valid condition on {info.display}: "
                           f"{str(exc).strip().splitlines()[0]}") from None
    if split_by:
        base = _check_split_by(info, split_by)
        cur.execute(sql.SQL("select min({c}), max({c}) {f}").format(c=sql.Identifier(split_by), f=from_clause(info)))
        lo, hi = cur.fetchone()
        splits = numeric_splits(lo, hi, num_mappers, split_by, base in INTEGER_TYPES, info.reltuples)
        if len(splits) > 1 and not _has_leading_index(cur, info, split_by):
            log(f"warning: no index starts with {split_by!r}: each of the {len(splits)} mappers may scan the whole "
                "table; add an index on it, or omit --split-by to split by block ranges")
        how = f"--split-by {split_by}"
    elif num_mappers == 1 or info.kind not in ("r", "m"):
        if num_mappers > 1:
            raise LabError(f"{info.display} has no physical blocks of its own (a view, partitioned or foreign table), "
                           "so it cannot be split by ctid; add --split-by <numeric column>, or use -m 1")
        splits, how = [Split(0, None, "whole table", info.reltuples)], "one stream"
    else:
        splits, how = ctid_splits(info.blocks, num_mappers, info.reltuples), "ctid block ranges"
        if info.server_version < 140000 and len(splits) > 1:
            log("warning: PostgreSQL < 14 has no TID range scan: each mapper scans the whole table")
    for split in splits:        # the planner's row estimate per slice: the progress bars' totals
        cur.execute(sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 {}").format(from_clause(info, split.where)))
        split.estimate = int(cur.fetchone()[0][0]["Plan"]["Plan Rows"])
    return splits, how


def count_rows(conn, info: TableInfo) -> int:
    with conn.cursor() as cur:
        cur.execute("set local max_parallel_workers_per_gather = 0")   # one core for the count; the mappers need the rest
        cur.execute(sql.SQL("select count(*) {}").format(from_clause(info)))
        return cur.fetchone()[0]


def is_empty(cur, info: TableInfo) -> bool:
    """Whether the whole table (not only --where's rows) holds no row, in the import's snapshot."""
    cur.execute(sql.SQL("select not exists (select 1 from {})").format(info.ident))
    return cur.fetchone()[0]
