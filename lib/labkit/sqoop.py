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
"""
from __future__ import annotations

import argparse
import fcntl
import os
import re
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlparse

import psycopg2
from psycopg2 import extensions, sql

from labkit import connections
from labkit.errors import LabError
from labkit.progress import in_notebook, use_widgets
from labkit.sqoop_interval import check_expect_rows, check_source_rows

DEFAULT_MAPPERS = 4                      # Sqoop's default for -m
INTEGER_TYPES = {"smallint", "integer", "bigint"}
NUMERIC_TYPES = INTEGER_TYPES | {"numeric", "real", "double precision"}
CODECS = ("snappy", "zstd", "gzip", "none")
ROW_GROUP_ROWS = 1 << 20                 # rows per parquet row group (about 60 MB of this table's columns)
CHUNK = 1 << 20                          # bytes per read from a mapper's stream
SQOOP_PASSWORD_WARNING = "Setting your password on the command-line is insecure. Consider using --password-file instead."


# -- what to import ---------------------------------------------------------------------------------------
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


@dataclass
class MapperResult:
    index: int
    label: str
    file: Path
    sent_rows: int = 0        # the server's count for this slice (COPY's command tag)
    landed_rows: int = 0      # records counted in the written file
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class ImportResult:
    table: str
    target_dir: Path
    file_format: str
    splitting: str
    mappers: list[MapperResult]
    source_rows: int
    landed_rows: int
    seconds: float
    mode: str
    files: list[Path] = field(default_factory=list)
    validated: bool = False           # a count(*) of the source agreed too (--validate)

    @property
    def bytes(self) -> int:
        return sum(m.bytes for m in self.mappers)

    @property
    def rows_per_second(self) -> float:
        return self.landed_rows / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        """Sqoop's closing log lines."""
        mb = self.bytes / 2**20
        return (f"Transferred {mb:,.1f} MB in {self.seconds:.1f} seconds ({mb / max(self.seconds, 1e-9):,.1f} MB/sec)\n"
                f"Retrieved {self.landed_rows:,} records (source: {self.source_rows:,} rows"
                f"{', validated by count(*)' if self.validated else ''}) into {self.target_dir}")

    def table_of_mappers(self):
        """One row per mapper: its slice, the rows the server sent, the rows that landed, size and time."""
        import pandas as pd

        return pd.DataFrame([{
            "mapper": m.index, "slice": m.label, "file": m.file.name, "rows sent": m.sent_rows,
            "rows landed": m.landed_rows, "MiB": round(m.bytes / 2**20, 1), "seconds": round(m.seconds, 2),
        } for m in self.mappers]).set_index("mapper")


# -- the database side ---------------------------------------------------------------------------------------
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
                           "(`labkit up postgres`, `labkit status`)") from None
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
                          current_setting('server_version_num')::int
                   from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = %s""", (oid,))
    schema, name, kind, reltuples, blocks, version = cur.fetchone()
    if kind not in ("r", "v", "m", "f", "p"):
        raise LabError(f"--table {table!r} is not a table or view (relkind {kind!r}); give a table name")
    cur.execute("""select attname, format_type(atttypid, atttypmod) from pg_attribute
                   where attrelid = %s and attnum > 0 and not attisdropped order by attnum""", (oid,))
    info = TableInfo(oid, schema, name, kind, cur.fetchall(), int(blocks), int(reltuples), int(version))
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


# -- the file side ---------------------------------------------------------------------------------------------
def arrow_schema(info: TableInfo):
    """Arrow types for the table's columns (what the parquet files declare)."""
    import pyarrow as pa

    simple = {"smallint": pa.int16(), "integer": pa.int32(), "bigint": pa.int64(), "real": pa.float32(),
              "double precision": pa.float64(), "boolean": pa.bool_(), "date": pa.date32(),
              "timestamp without time zone": pa.timestamp("us"), "timestamp with time zone": pa.timestamp("us", tz="UTC")}
    fields = []
    for name, kind in info.columns:
        base = re.sub(r"\(.*\)", "", kind)
        if base in simple:
            t = simple[base]
        elif (m := re.fullmatch(r"numeric\((\d+),(\d+)\)", kind)) and int(m.group(1)) <= 38:
            t = pa.decimal128(int(m.group(1)), int(m.group(2)))
        else:
            t = pa.string()      # text, varchar, unconstrained numeric, json, ...: the server's text, losslessly
        fields.append(pa.field(name, t))
    return pa.schema(fields)


def _write_text(stream, path: Path, bar) -> tuple[int, int]:
    """Copy the CSV stream into a Sqoop text part file; records = lines."""
    lines = size = 0
    with open(path, "wb") as out:
        while chunk := stream.read(CHUNK):
            out.write(chunk)
            n = chunk.count(b"\n")
            lines += n
            size += len(chunk)
            bar.update(n)
    return lines, size


def dictionary_columns(info: TableInfo) -> list[str] | bool:
    """The columns worth dictionary-encoding in parquet: few distinct values per row group, by PostgreSQL's
    statistics. Encoding a column of unique values only to fall back to plain costs CPU for nothing."""
    if not info.n_distinct or info.reltuples <= 0:
        return True                                   # no statistics: pyarrow's default, every column
    group = min(info.reltuples, ROW_GROUP_ROWS)
    chosen = []
    for name, _ in info.columns:
        nd = info.n_distinct.get(name)
        distinct = None if nd is None else (-nd * info.reltuples if nd < 0 else nd)
        if distinct is None or distinct <= 0.1 * group:
            chosen.append(name)
    return chosen


def _write_parquet(stream, path: Path, schema, codec: str, bar, dictionary: list[str] | bool = True) -> tuple[int, int]:
    """Parse the CSV stream with pyarrow (in its own threads) and write row groups of ROW_GROUP_ROWS rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    read = pacsv.ReadOptions(column_names=schema.names, block_size=8 << 20)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    convert = pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False,
                                   true_values=["t"], false_values=["f"])
    rows = 0
    with pq.ParquetWriter(path, schema, compression=None if codec == "none" else codec, use_dictionary=dictionary) as writer:
        try:
            reader = pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
        except pa.ArrowInvalid as exc:
            if "Empty CSV" not in str(exc):
                raise
            reader = []                  # an empty slice: a valid parquet file with no rows
        pending, pending_rows = [], 0
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            bar.update(batch.num_rows)
            if pending_rows >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=pending_rows)
                rows += pending_rows
                pending, pending_rows = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=pending_rows)
            rows += pending_rows
    return rows, path.stat().st_size


def landed_rows(result: "MapperResult", file_format: str) -> int:
    """Records in one landed file: read back from the parquet footer, or, for text, the lines counted while
    writing it, provided the file on disk holds exactly the bytes written."""
    if file_format == "parquet":
        import pyarrow.parquet as pq

        return pq.read_metadata(result.file).num_rows
    on_disk = result.file.stat().st_size
    if on_disk != result.bytes:
        raise LabError(f"{result.file} holds {on_disk:,} bytes but {result.bytes:,} were written; is the disk full? (df -h)")
    return result.landed_rows


# -- one mapper -------------------------------------------------------------------------------------------------
class _Mapper:
    """One database session streaming one slice into one part file.

    A thread runs COPY into a pipe (psycopg2 writes the rows it receives); this mapper's own thread reads the
    pipe in large chunks and writes the part file, so the per-row work stays in C (libpq, pyarrow).
    """

    def __init__(self, split: Split, conn, statement, path: Path, file_format: str, schema, codec: str, bar):
        self.split, self.conn, self.statement, self.path = split, conn, statement, path
        self.file_format, self.schema, self.codec, self.bar = file_format, schema, codec, bar
        self.sent = 0
        self.error: BaseException | None = None
        self.dictionary: list[str] | bool = True

    def _produce(self, wfd: int) -> None:
        try:
            with os.fdopen(wfd, "wb", buffering=CHUNK) as sink, self.conn.cursor() as cur:
                cur.copy_expert(self.statement, sink, size=CHUNK)
                self.sent = cur.rowcount
        except BaseException as exc:   # noqa: BLE001 - handed to the consumer side, which re-raises it
            self.error = exc

    def run(self) -> MapperResult:
        t0 = time.perf_counter()
        rfd, wfd = os.pipe()
        try:
            fcntl.fcntl(wfd, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)   # a 1 MiB pipe instead of 64 KiB
        except OSError:
            pass
        producer = threading.Thread(target=self._produce, args=(wfd,), name=f"sqoop-copy-{self.split.index}", daemon=True)
        producer.start()
        try:
            with os.fdopen(rfd, "rb", buffering=CHUNK) as stream:
                if self.file_format == "parquet":
                    landed, size = _write_parquet(stream, self.path, self.schema, self.codec, self.bar, self.dictionary)
                else:
                    landed, size = _write_text(stream, self.path, self.bar)
        except BaseException:
            self.conn.cancel()                      # stop the server's COPY; the producer then ends
            producer.join()
            if self.error is not None and not isinstance(self.error, (BrokenPipeError, extensions.QueryCanceledError)):
                raise self.error from None
            raise
        producer.join()
        if self.error is not None:
            raise self.error
        self.conn.commit()
        return MapperResult(self.split.index, self.split.label, self.path, self.sent, landed, size, time.perf_counter() - t0)


# -- the import ---------------------------------------------------------------------------------------------------
def _part_name(index: int, file_format: str) -> str:
    return f"part-m-{index:05d}" + (".parquet" if file_format == "parquet" else "")


def _existing_parts(target: Path) -> list[int]:
    found = []
    for p in target.glob("part-m-*"):
        m = re.fullmatch(r"part-m-(\d+)(\.parquet)?", p.name)
        if m:
            found.append(int(m.group(1)))
    return found


_PRINT_LOCK = threading.Lock()


class _LineProgress:
    """Progress for logs (an Airflow task, a pipe): a plain line per mapper every few seconds, no redrawing."""

    def __init__(self, index: int, total: int | None, every: float = 10.0):
        self.index, self.total, self.every, self.n = index, total, every, 0
        self.file = sys.stdout if in_notebook() else sys.stderr
        self.t0 = self.last = time.monotonic()
        self.closed = False

    def _line(self) -> None:
        pct = f" ({100 * self.n / self.total:.0f}% of ~{self.total:,})" if self.total and self.n <= self.total else ""
        line = f"mapper {self.index}: {self.n:,} rows{pct} in {time.monotonic() - self.t0:.0f} s\n"
        with _PRINT_LOCK:                             # one whole line at a time from the mapper threads
            self.file.write(line)
            self.file.flush()

    def update(self, n: int) -> None:
        self.n += n
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self._line()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._line()


def _progress_bars(splits: list[Split], progress: bool):
    """A tqdm bar per mapper: widgets in a notebook, redrawn lines in a terminal. Where bars cannot be drawn side
    by side (a log file, an Airflow task, a notebook run by papermill or without ipywidgets), a plain line per
    mapper every 10 s and when it ends."""
    from tqdm import tqdm as text_bar

    if not progress:
        return [text_bar(disable=True) for _ in splits]
    if use_widgets():
        from tqdm.notebook import tqdm as bar
    elif sys.stderr.isatty() and not in_notebook():
        bar = text_bar
    else:
        return [_LineProgress(s.index, s.estimate) for s in splits]
    return [bar(total=s.estimate or None, desc=f"mapper {s.index}", unit=" rows", unit_scale=True, position=s.index,
                leave=True, mininterval=0.5, dynamic_ncols=True) for s in splits]


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


def _count_rows(conn, info: TableInfo) -> int:
    with conn.cursor() as cur:
        cur.execute("set local max_parallel_workers_per_gather = 0")   # one core for the count; the mappers need the rest
        cur.execute(sql.SQL("select count(*) {}").format(from_clause(info)))
        return cur.fetchone()[0]


def _run(mappers: list[_Mapper], coord, info: TableInfo, validate: bool) -> tuple[list[MapperResult], int | None]:
    """Run the mappers (and with `validate` the source count beside them, all in one snapshot); on the first
    failure stop them all."""
    with ThreadPoolExecutor(max_workers=len(mappers) + 1, thread_name_prefix="sqoop-mapper") as pool:
        counting = pool.submit(_count_rows, coord, info) if validate else None
        futures = [pool.submit(m.run) for m in mappers]
        results, first_error = [], None
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:  # noqa: BLE001 - the first failure is re-raised below
                if first_error is None:
                    first_error = exc
                    for conn in [coord, *(m.conn for m in mappers)]:
                        conn.cancel()
        source_rows = None
        try:
            source_rows = counting.result() if counting else None
        except psycopg2.Error:
            if first_error is None:
                raise
    if first_error is not None:
        if isinstance(first_error, psycopg2.Error):
            raise LabError(f"a mapper's COPY failed: {str(first_error).strip().splitlines()[0]}") from None
        raise first_error
    return results, source_rows


def reconcile(info: TableInfo, results: list[MapperResult], counted: int | None, file_format: str,
              target: Path) -> tuple[int, int]:
    """The source rows == the records in the landed files, or LabError. Returns (source rows, landed rows).

    The source rows are what the server counted while it sent each slice (COPY's command tag); the slices are
    a partition of the table in one snapshot (open-ended first and last ranges, shared boundaries, NULLs in the
    first), so together they are the table's rows. With `--validate` (`counted`), an independent `count(*)` in
    the same snapshot must agree too: Sqoop's row-count validation.
    """
    sent = sum(r.sent_rows for r in results)
    for r in results:
        r.landed_rows = landed_rows(r, file_format)
    landed = sum(r.landed_rows for r in results)
    if sent == landed and counted in (None, sent):
        return sent, landed
    detail = "; ".join(f"mapper {r.index}: sent {r.sent_rows:,}, landed {r.landed_rows:,}" for r in results)
    hint = (" (values with line breaks become extra lines in text files: use --as-parquetfile)"
            if file_format == "text" and landed > sent else "")
    count = f"count(*) {counted:,}, " if counted is not None else ""
    raise LabError(f"count mismatch importing {info.display}: source {count}sent {sent:,} rows, landed {landed:,}"
                   f"{hint}; nothing was moved into {target} and no _SUCCESS was written [{detail}]")


def import_table(connect: str, *, username: str, table: str, target_dir: str | os.PathLike,
                 password_file: str | os.PathLike | None = None, password: str | None = None,
                 num_mappers: int = DEFAULT_MAPPERS, split_by: str | None = None, where: str | None = None,
                 append: bool = False, validate: bool = False, expect_rows: int | None = None,
                 delete_target_dir: bool = False, as_parquetfile: bool = False, compression_codec: str = "snappy",
                 progress: bool = True, log=print) -> ImportResult:
    """Land `table` into `target_dir` the way `sqoop import` did. Returns counts, files and per-mapper timings.

    Raises LabError (one line) for bad input, and when the landed rows differ from the source rows (then no
    `_SUCCESS` is written and the target keeps what it held before).
    """
    t0 = time.perf_counter()
    if not isinstance(num_mappers, int) or isinstance(num_mappers, bool) or num_mappers < 1:
        raise LabError(f"-m/--num-mappers {num_mappers!r}: the number of parallel streams must be an integer >= 1 "
                       f"(Sqoop's default is {DEFAULT_MAPPERS}; -m 1 reads the table in one stream)")
    if append and delete_target_dir:
        raise LabError("--append and --delete-target-dir contradict each other: --append adds files to the target, "
                       "--delete-target-dir replaces it; choose one")
    expect_rows = check_expect_rows(expect_rows)
    file_format = "parquet" if as_parquetfile else "text"
    if compression_codec not in CODECS:
        raise LabError(f"--compression-codec {compression_codec!r} is not supported: choose one of {', '.join(CODECS)}")
    if not username:
        raise LabError("--username is missing: give the database user to read as (the lab's is airline)")
    if password_file is None and password is None:
        raise LabError("no password given: add --password-file <file> (the lab's: <state>/secrets/postgres_airline)")
    source = parse_connect(connect)
    target = parse_target(target_dir)
    if target.exists() and not target.is_dir():
        raise LabError(f"--target-dir {target} exists and is a file, not a folder; choose another --target-dir")
    if target.exists() and not (append or delete_target_dir):
        raise LabError(f"--target-dir {target} already exists; add --delete-target-dir to replace it, or --append "
                       "to add this run's files to it (a rerun with --append lands the rows twice)")
    secret = password if password is not None else read_password_file(password_file)

    coord = open_db(source, username, secret)
    conns, bars, staging, lock = [], [], None, None
    try:
        # One snapshot for everything: the plan, the count and every mapper see the same table.
        coord.set_session(isolation_level=extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        cur = coord.cursor()
        info = describe(cur, table)
        info.where = where or None
        cur.execute("select pg_export_snapshot()")
        snapshot = cur.fetchone()[0]
        splits, how = plan(cur, info, num_mappers, split_by, log)
        schema = arrow_schema(info) if file_format == "parquet" else None

        # Stage next to the target (same file system: publishing is a rename). The lock keeps two imports into
        # the same target (an Airflow retry overlapping a slow run) from interleaving.
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = open(target.parent / f".{target.name}.sqoop-lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"another import into {target} is running; wait for it to finish") from None
        leftovers = (f".{target.name}.sqoop-staging-", f".{target.name}.sqoop-old-")
        for stale in [p for p in target.parent.iterdir() if p.name.startswith(leftovers)]:
            shutil.rmtree(stale, ignore_errors=True)     # left by a killed run: we hold the lock, nobody else writes
        staging = target.parent / f".{target.name}.sqoop-staging-{os.getpid()}"
        staging.mkdir()

        log(f"importing {info.display} ({len(info.columns)} columns) from {source.address}/{source.database} "
            f"with {len(splits)} mapper(s) by {how} as {file_format} into {target}")
        for split in splits:
            conn = open_db(source, username, secret)
            conns.append(conn)
            conn.set_session(isolation_level=extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
            with conn.cursor() as c:
                c.execute("SET TRANSACTION SNAPSHOT %s", (snapshot,))
                c.execute("SET TIME ZONE 'UTC'")
        bars = _progress_bars(splits, progress)
        mappers = [_Mapper(s, conns[i], copy_statement(info, s), staging / _part_name(i, file_format), file_format,
                           schema, compression_codec, bars[i]) for i, s in enumerate(splits)]
        for mapper in mappers:
            mapper.dictionary = dictionary_columns(info)
        results, counted = _run(mappers, coord, info, validate)
        for bar in bars:
            bar.close()
        source_rows, landed = reconcile(info, results, counted, file_format, target)
        check_source_rows(expect_rows, source_rows, info.display, info.where, target)
        mode = _move_into_place(staging, target, results, file_format, append=append)
        staging = None
        result = ImportResult(table=info.display, target_dir=target, file_format=file_format, splitting=how,
                              mappers=results, source_rows=source_rows, landed_rows=landed, validated=validate,
                              seconds=time.perf_counter() - t0, mode=mode, files=[r.file for r in results])
        log(result.summary())
        return result
    finally:
        for bar in bars:
            bar.close()
        for conn in conns:
            conn.close()
        coord.close()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if lock is not None:
            lock.close()


def _move_into_place(staging: Path, target: Path, results: list[MapperResult], file_format: str, *, append: bool) -> str:
    """Publish the staged files, then `_SUCCESS`. Returns what happened: created, replaced or appended."""
    if append and target.exists():
        # Sqoop's --append: this run's files join the folder with part numbers after the ones already there.
        start = max(_existing_parts(target), default=-1) + 1
        (target / "_SUCCESS").unlink(missing_ok=True)
        for i, r in enumerate(results):
            dest = target / _part_name(start + i, file_format)
            os.replace(r.file, dest)
            r.file = dest
        (target / "_SUCCESS").touch()
        shutil.rmtree(staging, ignore_errors=True)
        return "appended"
    (staging / "_SUCCESS").touch()
    if target.exists():
        # --delete-target-dir: swap the folders, then delete the old one; a failure before this point kept it.
        old = target.parent / f".{target.name}.sqoop-old-{os.getpid()}"
        os.rename(target, old)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        mode = "replaced"
    else:
        os.rename(staging, target)
        mode = "created"
    for r in results:
        r.file = target / r.file.name
    return mode


# -- the command line -----------------------------------------------------------------------------------------------
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


# -- the lab's own values -------------------------------------------------------------------------------------------
def lab_connect(cfg) -> str:
    """The JDBC URL of the lab's source database (`airline_db`) on the active profile."""
    return connections.get(cfg, "postgres").jdbc_url


def lab_command(cfg, table: str = "tbl_airflow_dummy", target_dir: str | os.PathLike | None = None,
                *extra: str) -> list[str]:
    """`labkit sqoop import ...` for the lab: its URL, user `airline`, the password file, the landing zone."""
    pg = connections.get(cfg, "postgres")
    pg.password                                   # the file exists before the command names it
    target = os.fspath(target_dir) if target_dir else cfg.landing_dir / table   # a path or a file:// URI
    return ["labkit", "sqoop", "import", "--connect", pg.jdbc_url, "--username", pg.login,
            "--password-file", str(pg.secret_file), "--table", table,
            "--target-dir", str(target), *extra]
