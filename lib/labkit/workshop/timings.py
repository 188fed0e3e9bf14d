"""The learner's own timings of the workshop's two stages: 05's import and 06's aggregation of the whole table.

Each notebook records what it measured (`record`) in one small file of the state folder, `timings.json`, and
notebook 09 reads them back (`read`) to put the learner's own point beside the reference figures of
`labkit.workshop.growth`. A stage recorded again replaces its earlier timing; deleting the state folder
forgets them all.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from labkit import state
from labkit.config import Config
from labkit.errors import LabError

FILE = "timings.json"
STAGES = ("import", "aggregation")      # 05: labkit sqoop import of the table; 06: the Spark aggregation
NOTEBOOK = {"import": "05_sqoop_import", "aggregation": "06_spark_aggregation"}


@dataclass(frozen=True)
class Timing:
    stage: str
    rows: int
    seconds: float
    scale: str
    cores: int
    when: str                  # UTC, ISO 8601

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def path(cfg: Config) -> Path:
    return cfg.state_dir / FILE


def _check(stage: str, rows, seconds) -> None:
    if stage not in STAGES:
        raise LabError(f"timing stage {stage!r} is not one of {', '.join(STAGES)}")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows <= 0:
        raise LabError(f"timing of {stage}: rows {rows!r} must be a whole number > 0 (the rows the stage handled)")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise LabError(f"timing of {stage}: seconds {seconds!r} must be a number > 0 (the stage's wall time)")


def read(cfg: Config) -> dict[str, Timing]:
    """The recorded timings by stage ({} when none was recorded, e.g. 09 run on its own or on a fresh lab)."""
    file = path(cfg)
    if not file.exists():
        return {}
    try:
        stored = json.loads(file.read_text())
        timings = {stage: Timing(**entry) for stage, entry in stored.items()}
        for stage, t in timings.items():
            _check(stage, t.rows, t.seconds)
    except (ValueError, TypeError, LabError) as exc:
        raise LabError(f"{file} is not a timings file labkit wrote ({exc}); delete it, then rerun notebooks "
                       f"{' and '.join(NOTEBOOK.values())} to record your timings again") from None
    return timings


def record(cfg: Config, stage: str, rows: int, seconds: float) -> Timing:
    """Keep the wall time of `stage` over `rows` rows at this scale (replacing its earlier timing)."""
    _check(stage, rows, seconds)
    state.ensure_state_dir(cfg)
    timing = Timing(stage=stage, rows=rows, seconds=round(float(seconds), 3), scale=cfg.scale,
                    cores=os.cpu_count() or 1, when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    timings = read(cfg) | {stage: timing}
    state.write_private(path(cfg), json.dumps({s: asdict(t) for s, t in timings.items()}, indent=1) + "\n")
    return timing


def whole_table(cfg: Config, rows: int) -> tuple[dict[str, Timing], str]:
    """The timings of the whole table (`rows` rows) and one line saying what is missing ('' when none is).

    A timing at another size (LAB_SCALE=smoke: one day of rows) is not the whole table's: it is left out,
    and the line says so.
    """
    timings = read(cfg)
    mine = {s: t for s, t in timings.items() if t.rows == rows}
    missing = [s for s in STAGES if s not in mine]
    if not missing:
        return mine, ""
    other = sorted({f"{t.rows:,}" for s, t in timings.items() if s in missing})
    why = f"yours are of {' and '.join(other)} rows, not the whole table" if other else f"none in {path(cfg)}"
    return mine, (f"no timing of your own for {' and '.join(missing)} on the whole table ({rows:,} rows; {why}): "
                  f"run {' and '.join(NOTEBOOK[s] for s in missing)} at LAB_SCALE=full to add it; "
                  "only the reference is shown")
