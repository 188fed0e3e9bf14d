"""How the workshop's two stages grow with the data on one machine: the reference figures of `bench/growth.py`.

The bench imports a quarter, a half and all of the dummy table (`--where` on `created`) and aggregates each
landed subset with Spark, on one machine in one run, and saves what it measured in `growth_reference.json`
(this folder; `--write`), with the machine, the date, the scale and the rows. Notebook 09 reads it (`load`),
shows it as reference figures (`legend`), fits each stage to `seconds = fixed + rows / throughput`
(`fit`) and hands the fit to `labkit.aws.growth`, which projects 10x and 100x the data onto EMR.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from labkit.errors import LabError
from labkit.workshop import dummy, sqoop
from labkit.workshop.timings import STAGES, Timing

REFERENCE_FILE = Path(__file__).with_name("growth_reference.json")
FRACTIONS = {"quarter": 0.25, "half": 0.5, "all": 1.0}
MINUTE = "%Y-%m-%d %H:%M"
MACHINE_KEYS = ("cores", "ram_bytes", "cpu", "arch", "load_average")
POINT_KEYS = ("fraction", "rows", "import_seconds", "aggregation_seconds", "landed_bytes", "aggregate_bytes")


def interval(date_range: tuple[str, str], fraction: float) -> tuple[str, int]:
    """The `--where` on `created` that takes the first `fraction` of the table's minutes, and its rows."""
    first, last = (datetime.strptime(t, MINUTE) for t in date_range)
    minutes = int((last - first).total_seconds() // 60) + 1
    if not 0 < fraction <= 1:
        raise LabError(f"fraction {fraction!r} of the table must be > 0 and <= 1 (a quarter is 0.25)")
    take = max(1, round(minutes * fraction))
    return sqoop.interval_where(first, first + timedelta(minutes=take)), take * dummy.LINES


def machine() -> dict:
    """This machine, as a reference file names it: logical cores, RAM, CPU model, architecture, load average."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count() or 1, "ram_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "cpu": cpu, "arch": platform.machine(), "load_average": round(os.getloadavg()[0], 2)}


def check(ref: dict, where: str = "the growth reference") -> dict:
    """`ref` if it has every field notebook 09 reads, else one LabError line naming what is missing."""
    problems = [k for k in ("bench", "date", "scale", "table", "table_rows", "heap_bytes", "machine", "points")
                if k not in ref]
    problems += [f"machine.{k}" for k in MACHINE_KEYS if k not in ref.get("machine", {})]
    points = ref.get("points", [])
    if sorted(p.get("fraction") for p in points) != sorted(FRACTIONS.values()):
        problems.append(f"points for the fractions {sorted(FRACTIONS.values())}")
    problems += sorted({f"points[].{k}" for p in points for k in POINT_KEYS if not isinstance(p.get(k), (int, float))
                        or isinstance(p.get(k), bool) or p.get(k) <= 0})
    if problems:
        raise LabError(f"{where} lacks {', '.join(problems)}: rerun `python bench/growth.py --scale full --write`")
    return ref


def load(path: Path = REFERENCE_FILE) -> dict:
    try:
        ref = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read the growth reference {path} ({exc}); restore it from git, or rerun "
                       "`python bench/growth.py --scale full --write`") from None
    return check(ref, str(path))


def save(ref: dict, path: Path = REFERENCE_FILE) -> Path:
    check(ref)
    Path(path).write_text(json.dumps(ref, indent=1) + "\n")
    return Path(path)


def points(ref: dict) -> list[dict]:
    return sorted(ref["points"], key=lambda p: p["fraction"])


def bytes_per_table(ref: dict) -> dict[str, int]:
    """What one whole table takes on disk: PostgreSQL's heap, the landed parquet, the aggregates."""
    whole = points(ref)[-1]
    return {"heap": ref["heap_bytes"], "landed": whole["landed_bytes"], "aggregates": whole["aggregate_bytes"]}


def disk_free(cfg) -> int:
    """Free bytes on the file system of the lab's state folder (or of its nearest existing parent)."""
    folder = Path(cfg.state_dir)
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def measured(ref: dict, mine: dict[str, Timing] | None = None) -> dict[str, list[tuple[int, float]]]:
    """The runs' (rows, minutes of both stages) to draw: the reference series (†) and the learner's own point."""
    out = {"reference †": [(p["rows"], sum(p[f"{s}_seconds"] for s in STAGES) / 60) for p in points(ref)]}
    if mine and all(s in mine for s in STAGES):
        out["yours"] = [(mine[STAGES[0]].rows, sum(mine[s].seconds for s in STAGES) / 60)]
    return out


def legend(ref: dict) -> str:
    m = ref["machine"]
    label = "" if ref["scale"] == "full" else f" (smoke scale: {ref['table_rows']:,} rows only, not the seed's table)"
    return (f"† reference figures: {ref['bench']} --scale {ref['scale']}{label} on a {m['cores']}-core {m['arch']} "
            f"machine ({m['cpu']}, {m['ram_bytes'] / 2**30:.1f} GiB RAM, load average {m['load_average']}), "
            f"{ref['date']}" + (f"; the run's output: {ref['record']}" if ref.get("record") else ""))


def table(ref: dict, mine: dict[str, Timing] | None = None):
    """The reference series (marked †), one row per fraction, plus the learner's own whole-table point."""
    import pandas as pd

    cores = ref["machine"]["cores"]
    rows = []
    for label, p in zip(FRACTIONS, points(ref)):
        rows.append({"size": f"{label} of the table †", "rows": p["rows"],
                     **{f"{s} s": round(p[f"{s}_seconds"], 1) for s in STAGES},
                     **{f"{s} rows/s per core": round(p["rows"] / p[f"{s}_seconds"] / cores) for s in STAGES}})
    if mine:
        any_t = next(iter(mine.values()))
        rows.append({"size": "all of the table, yours", "rows": any_t.rows,
                     **{f"{s} s": round(mine[s].seconds, 1) if s in mine else None for s in STAGES},
                     **{f"{s} rows/s per core": round(mine[s].rows_per_second / mine[s].cores) if s in mine else None
                        for s in STAGES}})
    return pd.DataFrame(rows).set_index("size")


def linearity(ref: dict, stage: str) -> float:
    """seconds(all) / seconds(quarter): 4 if the stage is linear, less with fixed costs, more if it degrades."""
    quarter, *_, whole = points(ref)
    return whole[f"{stage}_seconds"] / quarter[f"{stage}_seconds"]


@dataclass(frozen=True)
class Stage:
    """One stage on one machine: `seconds = fixed + rows / rows_per_second`, anchored at the whole table."""
    name: str
    fixed_seconds: float       # what does not grow with the rows (the JVM and Spark session, planning)
    rows_per_second: float     # on `cores` cores
    cores: int
    source: str                # "reference" or "yours"

    def seconds(self, rows: float, cores: float | None = None) -> float:
        """At `rows` rows, the growing part spread over `cores` cores as fast per core as here."""
        return self.fixed_seconds + rows / self.rows_per_second * self.cores / (cores or self.cores)


def fit(ref: dict, mine: dict[str, Timing] | None = None) -> dict[str, Stage]:
    """Each stage fitted to the reference series (least squares), then anchored at the whole table.

    The fixed part is the fitted line's intercept (kept within 0 .. the quarter's time); the rate is what is
    left of the whole table's time. Where the learner timed the whole table (`mine`, from `timings`), their
    time and cores replace the reference's at that point: the fixed part stays the reference's.
    """
    import numpy as np

    pts = points(ref)
    rows = np.array([p["rows"] for p in pts], dtype=float)
    out = {}
    for s in STAGES:
        secs = np.array([p[f"{s}_seconds"] for p in pts], dtype=float)
        _, intercept = np.polyfit(rows, secs, 1)
        fixed = float(min(max(intercept, 0.0), secs[0]))
        total, n, cores, source = secs[-1], rows[-1], ref["machine"]["cores"], "reference"
        if mine and s in mine:
            total, n, cores, source = mine[s].seconds, mine[s].rows, mine[s].cores, "yours"
        fixed = min(fixed, 0.9 * total)
        out[s] = Stage(s, fixed, n / (total - fixed), cores, source)
    return out
