"""The import itself: one thread per mapper, each streaming its slice, and the reconciliation of what the
server sent with what landed."""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
from psycopg2 import extensions

from labkit import connections
from labkit.errors import LabError
from labkit.progress import in_notebook, use_widgets
from labkit.workshop.sqoop.files import (
    CHUNK, CODECS, arrow_schema, dictionary_columns, landed_rows, move_into_place, part_name, write_parquet,
    write_text,
)
from labkit.workshop.sqoop.interval import check_expect_rows, check_not_crash_emptied, check_source_rows
from labkit.workshop.sqoop.results import ImportResult, MapperResult
from labkit.workshop.sqoop.source import (
    copy_statement, count_rows, describe, is_empty, open_db, parse_connect, parse_target, plan, read_password_file,
    Split, TableInfo,
)


DEFAULT_MAPPERS = 4                      # Sqoop's default for -m


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
                    landed, size = write_parquet(stream, self.path, self.schema, self.codec, self.bar, self.dictionary)
                else:
                    landed, size = write_text(stream, self.path, self.bar)
        except BaseException:
            cancel(self.conn)                       # stop the server's COPY; the producer then ends
            producer.join()
            if self.error is not None and not isinstance(self.error, (BrokenPipeError, extensions.QueryCanceledError)):
                raise self.error from None
            raise
        producer.join()
        if self.error is not None:
            raise self.error
        self.conn.commit()
        return MapperResult(self.split.index, self.split.label, self.path, self.sent, landed, size, time.perf_counter() - t0)


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


def _run(mappers: list[_Mapper], coord, info: TableInfo, validate: bool) -> tuple[list[MapperResult], int | None]:
    """Run the mappers (and with `validate` the source count beside them, all in one snapshot); on the first
    failure stop them all."""
    with ThreadPoolExecutor(max_workers=len(mappers) + 1, thread_name_prefix="sqoop-mapper") as pool:
        counting = pool.submit(count_rows, coord, info) if validate else None
        futures = [pool.submit(m.run) for m in mappers]
        results, first_error = [], None
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:  # noqa: BLE001 - the first failure is re-raised below
                if first_error is None:
                    first_error = exc
                    for conn in [coord, *(m.conn for m in mappers)]:
                        cancel(conn)
        source_rows = None
        try:
            source_rows = counting.result() if counting else None
        except psycopg2.Error:
            if first_error is None:
                raise
    if first_error is not None:
        raise first_error
    return results, source_rows


def cancel(conn) -> None:
    """Ask the server to stop what `conn` runs. A server that is gone cannot be asked (PQcancel fails to
    connect): the failure that made us cancel is the one to report, not this one."""
    try:
        conn.cancel()
    except psycopg2.Error:
        pass


def failure(exc: BaseException, source, target: Path) -> LabError | None:
    """The one line for a failure during the import itself (not bad input): the database went away or
    refused a statement, or the landing zone's disk is full. None for anything else (a bug: its traceback)."""
    kept = f"nothing was moved into {target} and no _SUCCESS was written (what it held is kept)"
    why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
        return LabError(f"PostgreSQL at {source.address} stopped answering during the import ({why}); {kept}; "
                        f"once it runs again (the lab: {connections.POSTGRES_BACK}), run the import again")
    if isinstance(exc, psycopg2.Error):
        return LabError(f"a mapper's COPY failed: {why}; {kept}")
    if isinstance(exc, OSError) and (exc.errno == errno.ENOSPC or "No space left on device" in str(exc)):
        free = shutil.disk_usage(target.parent).free if target.parent.exists() else 0
        return LabError(f"no space left on the device of {target.parent} ({free / 2**20:,.1f} MiB free) while "
                        f"writing the import's files; {kept}; free space there (`df -h {target.parent}`) "
                        "and run the import again")
    return None


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
        mappers = [_Mapper(s, conns[i], copy_statement(info, s), staging / part_name(i, file_format), file_format,
                           schema, compression_codec, bars[i]) for i, s in enumerate(splits)]
        for mapper in mappers:
            mapper.dictionary = dictionary_columns(info)
        results, counted = _run(mappers, coord, info, validate)
        for bar in bars:
            bar.close()
        source_rows, landed = reconcile(info, results, counted, file_format, target)
        check_source_rows(expect_rows, source_rows, info.display, info.where, target)
        if source_rows == 0 and info.unlogged:
            check_not_crash_emptied(info.display, info.unlogged, is_empty(cur, info), expect_rows, target)
        mode = move_into_place(staging, target, results, file_format, append=append)
        staging = None
        result = ImportResult(table=info.display, target_dir=target, file_format=file_format, splitting=how,
                              mappers=results, source_rows=source_rows, landed_rows=landed, validated=validate,
                              seconds=time.perf_counter() - t0, mode=mode, files=[r.file for r in results])
        log(result.summary())
        return result
    except (psycopg2.Error, OSError) as exc:
        line = failure(exc, source, target)
        if line is None:
            raise
        raise line from None
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
