"""labkit.workshop.timings: the learner's own timings of 05's import and 06's aggregation, read back by 09."""
import dataclasses
import json

import pytest

import labkit
from labkit.errors import LabError
from labkit.workshop import timings


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    return labkit.load()


def test_record_and_read_round_trip(cfg):
    assert timings.read(cfg) == {}                                   # a fresh lab: nothing recorded
    first = timings.record(cfg, "import", 1000, 2.5)
    timings.record(cfg, "aggregation", 1000, 4.0)
    again = timings.record(cfg, "import", 1000, 2.0)                 # a rerun replaces the stage's timing
    got = timings.read(cfg)
    assert set(got) == {"import", "aggregation"}
    assert got["import"] == again != first
    assert (got["aggregation"].rows, got["aggregation"].seconds, got["aggregation"].scale) == (1000, 4.0, cfg.scale)
    assert got["import"].rows_per_second == 500
    assert timings.path(cfg).stat().st_mode & 0o077 == 0              # a private file of the state folder


@pytest.mark.parametrize("stage, rows, seconds, words", [
    ("export", 10, 1.0, "not one of import, aggregation"),
    ("import", 0, 1.0, "rows 0 must be a whole number > 0"),
    ("import", 1.5, 1.0, "rows 1.5"),
    ("import", 10, 0, "seconds 0 must be a number > 0"),
    ("import", 10, float("nan"), "seconds nan"),
])
def test_bad_timings_are_refused_in_one_line(cfg, stage, rows, seconds, words):
    with pytest.raises(LabError, match=words) as err:
        timings.record(cfg, stage, rows, seconds)
    assert "\n" not in str(err.value)
    assert not timings.path(cfg).exists()                            # nothing half-written


def test_a_damaged_file_says_how_to_recover(cfg):
    timings.record(cfg, "import", 10, 1.0)
    timings.path(cfg).write_text(json.dumps({"import": {"rows": 10}}))
    with pytest.raises(LabError, match="delete it, then rerun notebooks 05_sqoop_import and 06_spark_aggregation"):
        timings.read(cfg)


def test_the_missing_timing_line(cfg):
    whole = 25_992_100
    mine, line = timings.whole_table(cfg, whole)
    assert mine == {} and "\n" not in line
    assert line.startswith("no timing of your own for import and aggregation on the whole table (25,992,100 rows; none in")
    assert line.endswith("run 05_sqoop_import and 06_spark_aggregation at LAB_SCALE=full to add it; only the reference is shown")

    timings.record(cfg, "import", whole, 30.0)
    timings.record(cfg, "aggregation", 144_000, 12.0)                 # a smoke-scale run: one day, not the table
    mine, line = timings.whole_table(cfg, whole)
    assert set(mine) == {"import"}
    assert "for aggregation on the whole table" in line and "yours are of 144,000 rows, not the whole table" in line
    assert "run 06_spark_aggregation at LAB_SCALE=full" in line and "04_" not in line

    timings.record(cfg, "aggregation", whole, 40.0)
    mine, line = timings.whole_table(cfg, whole)
    assert line == "" and dataclasses.asdict(mine["aggregation"])["seconds"] == 40.0
