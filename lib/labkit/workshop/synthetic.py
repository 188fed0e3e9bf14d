"""A landed dummy table written straight from pyarrow, without PostgreSQL (tests, bench/aggregate.py).

The same files `labkit sqoop import --as-parquetfile -m <files>` lands from the fixed variant of the dummy
table (notebook 04), so the aggregation can be tested and benchmarked without the database.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from labkit.errors import LabError
from labkit.progress import tqdm
from labkit.workshop.dummy import COMMENT, LINES
from labkit.workshop.sqoop import ROW_GROUP_ROWS


@dataclass
class Landed:
    path: Path
    rows: int
    files: int
    seconds: float


def land_synthetic(target: Path, date_range: tuple[str, str], *, lines: int = LINES, files: int = 4,
                   progress: bool = True) -> Landed:
    """Write what `labkit sqoop import --as-parquetfile -m <files>` lands, straight from pyarrow, no database.

    The same rows as the fixed variant of tbl_airflow_dummy (notebook 04): one row per line per minute of
    `date_range`, id dense 1..N in line-major order, created 'YYYY-MM-DD HH24:MI'; files part-m-0000N.parquet
    split by id ranges, row groups of about a million rows, snappy, plus `_SUCCESS`. Replaces `target`
    (like --delete-target-dir). For tests and benchmarks that need the landed shape without PostgreSQL.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if files < 1:
        raise LabError(f"files={files}: need at least one output file (like -m 1)")
    start = time.perf_counter()
    first, last = (datetime.strptime(t, "%Y-%m-%d %H:%M") for t in date_range)
    minutes = int((last - first) / timedelta(minutes=1)) + 1
    if minutes < 1:
        raise LabError(f"date range {date_range} is empty: the first minute must not be after the last")
    stamps = pa.array(np.arange(np.datetime64(first, "m"), np.datetime64(first, "m") + minutes).astype("datetime64[s]"))
    created = pc.strftime(stamps, format="%Y-%m-%d %H:%M")
    comment = pa.array([COMMENT] * minutes)
    total = minutes * lines
    bounds = [1 + k * total // files for k in range(files + 1)]     # id ranges per "mapper"

    target = Path(target)
    if target.exists():
        foreign = [p.name for p in target.iterdir() if not p.name.startswith(("part-m-", "_", "."))]
        if foreign:
            raise LabError(f"{target} holds files that are not a landed table ({', '.join(foreign[:3])}); "
                           "choose an empty or landed folder")
        shutil.rmtree(target)
    target.mkdir(parents=True)
    schema = pa.schema([("id", pa.int64()), ("line", pa.string()), ("comment", pa.string()), ("created", pa.string())])
    writers = [pq.ParquetWriter(target / f"part-m-{k:05d}.parquet", schema, compression="snappy") for k in range(files)]
    pending: list[list] = [[] for _ in range(files)]

    def flush(k: int) -> None:
        if pending[k]:
            table = pa.concat_tables(pending[k])
            writers[k].write_table(table, row_group_size=table.num_rows)
            pending[k].clear()

    try:
        for n in tqdm(range(1, lines + 1), desc="landing", unit="line", disable=not progress):
            first_id = (n - 1) * minutes + 1
            ids = pa.array(np.arange(first_id, first_id + minutes, dtype=np.int64))
            chunk = pa.table([ids, pa.array([f"dummy{n:02d}"] * minutes), comment, created], schema=schema)
            for k in range(files):                   # the part of this line's ids that falls in file k
                lo, hi = max(bounds[k], first_id), min(bounds[k + 1], first_id + minutes)
                if lo < hi:
                    pending[k].append(chunk.slice(lo - first_id, hi - lo))
                    if sum(t.num_rows for t in pending[k]) >= ROW_GROUP_ROWS:
                        flush(k)
        for k in range(files):
            flush(k)
    finally:
        for writer in writers:
            writer.close()
    (target / "_SUCCESS").touch()
    return Landed(target, total, files, time.perf_counter() - start)
