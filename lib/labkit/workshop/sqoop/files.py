"""The file side: Sqoop's part files (text or parquet) written from a mapper's COPY stream, and the
staged output moved into place only when complete."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from labkit.errors import LabError
from labkit.workshop.sqoop.results import MapperResult
from labkit.workshop.sqoop.source import TableInfo


CODECS = ("snappy", "zstd", "gzip", "none")


ROW_GROUP_ROWS = 1 << 20                 # rows per parquet row group (about 60 MB of this table's columns)


CHUNK = 1 << 20                          # bytes per read from a mapper's stream


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


def write_text(stream, path: Path, bar) -> tuple[int, int]:
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


def write_parquet(stream, path: Path, schema, codec: str, bar, dictionary: list[str] | bool = True) -> tuple[int, int]:
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


def part_name(index: int, file_format: str) -> str:
    return f"part-m-{index:05d}" + (".parquet" if file_format == "parquet" else "")


def _existing_parts(target: Path) -> list[int]:
    found = []
    for p in target.glob("part-m-*"):
        m = re.fullmatch(r"part-m-(\d+)(\.parquet)?", p.name)
        if m:
            found.append(int(m.group(1)))
    return found


def move_into_place(staging: Path, target: Path, results: list[MapperResult], file_format: str, *, append: bool) -> str:
    """Publish the staged files, then `_SUCCESS`. Returns what happened: created, replaced or appended."""
    if append and target.exists():
        # Sqoop's --append: this run's files join the folder with part numbers after the ones already there.
        start = max(_existing_parts(target), default=-1) + 1
        (target / "_SUCCESS").unlink(missing_ok=True)
        for i, r in enumerate(results):
            dest = target / part_name(start + i, file_format)
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
