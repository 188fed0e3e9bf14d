"""labkit.workshop.growth: the committed reference figures of bench/growth.py, their schema, and the fit."""
import copy
import json

import pytest

from labkit.errors import LabError
from labkit.workshop import dummy, growth, timings
from labkit.workshop.timings import Timing


def reference(points=((0.25, 1000, 3.0, 12.0), (0.5, 2000, 5.0, 14.0), (1.0, 4000, 9.0, 18.0))):
    """A small reference with known numbers: import = 1 s + rows/500, aggregation = 10 s + rows/500."""
    return {"bench": "bench/growth.py", "date": "2026-12-01", "scale": "full", "table": dummy.TABLE,
            "table_rows": 4000, "heap_bytes": 400_000, "mappers": 2,
            "machine": {"cores": 2, "ram_bytes": 8 * 2**30, "cpu": "Test CPU", "arch": "x86_64", "load_average": 1.5},
            "points": [{"fraction": f, "rows": r, "import_seconds": i, "aggregation_seconds": a,
                        "landed_bytes": r * 10, "aggregate_bytes": r} for f, r, i, a in points]}


def test_the_committed_reference_has_the_schema_notebook_08_reads():
    ref = growth.load()
    assert ref["table"] == dummy.TABLE and ref["bench"] == "bench/growth.py"
    assert [p["fraction"] for p in growth.points(ref)] == [0.25, 0.5, 1.0]
    assert growth.points(ref)[-1]["rows"] == ref["table_rows"]
    if ref["scale"] == "full":
        assert ref["table_rows"] == 25_992_100
    assert "†" in growth.legend(ref) and ref["date"] in growth.legend(ref)
    assert f"{ref['machine']['cores']}-core" in growth.legend(ref)


@pytest.mark.parametrize("damage, words", [
    (lambda r: r.pop("date"), "lacks date"),
    (lambda r: r["machine"].pop("load_average"), "machine.load_average"),
    (lambda r: r["points"].pop(), "points for the fractions"),
    (lambda r: r["points"][0].update(import_seconds=0), r"points\[\]\.import_seconds"),
    (lambda r: r["points"][1].update(rows="many"), r"points\[\]\.rows"),
])
def test_a_reference_without_a_field_is_refused_in_one_line(tmp_path, damage, words):
    ref = reference()
    damage(ref)
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(ref))
    with pytest.raises(LabError, match=words) as err:
        growth.load(path)
    assert "bench/growth.py --scale full --write" in str(err.value) and "\n" not in str(err.value)


def test_save_and_load_round_trip(tmp_path):
    path = growth.save(reference(), tmp_path / "ref.json")
    assert growth.load(path) == reference()
    with pytest.raises(LabError, match="cannot read the growth reference"):
        growth.load(tmp_path / "missing.json")


def test_the_interval_takes_a_quarter_half_and_all_of_the_minutes():
    smoke = ("2021-01-01 00:00", "2021-01-01 23:59")            # 1,440 minutes
    assert growth.interval(smoke, 0.25) == ("created >= '2021-01-01 00:00' and created < '2021-01-01 06:00'", 36_000)
    assert growth.interval(smoke, 1.0) == ("created >= '2021-01-01 00:00' and created < '2021-01-02 00:00'", 144_000)
    with pytest.raises(LabError, match="must be > 0 and <= 1"):
        growth.interval(smoke, 1.5)


def test_the_fit_on_known_points():
    stages = growth.fit(reference())
    imp, agg = stages["import"], stages["aggregation"]
    assert imp.fixed_seconds == pytest.approx(1.0) and imp.rows_per_second == pytest.approx(500)
    assert agg.fixed_seconds == pytest.approx(10.0) and agg.rows_per_second == pytest.approx(500)
    assert imp.seconds(40_000) == pytest.approx(81.0)                # 1 + 40,000 / 500
    assert imp.seconds(40_000, cores=8) == pytest.approx(21.0)       # the rows part over 4 times the cores
    assert growth.linearity(reference(), "import") == pytest.approx(3.0)
    assert (imp.source, imp.cores) == ("reference", 2)


def test_the_fit_keeps_the_fixed_part_within_the_quarter_and_takes_the_learners_point():
    # an intercept below zero (superlinear points) is kept at zero; the rate then comes from the whole table
    ref = reference(((0.25, 1000, 1.0, 1.0), (0.5, 2000, 3.0, 3.0), (1.0, 4000, 10.0, 10.0)))
    assert growth.fit(ref)["import"].fixed_seconds == 0 and growth.fit(ref)["import"].rows_per_second == 400
    mine = {"import": Timing("import", 4000, 5.0, "full", 4, "2026-12-01T00:00:00Z")}
    stages = growth.fit(reference(), mine)
    assert (stages["import"].source, stages["import"].cores) == ("yours", 4)
    assert stages["import"].rows_per_second == pytest.approx(4000 / (5.0 - 1.0))
    assert stages["aggregation"].source == "reference"


def test_the_table_marks_reference_rows_and_adds_the_learners_own():
    ref = reference()
    mine = {s: Timing(s, 4000, 8.0, "full", 2, "2026-12-01T00:00:00Z") for s in timings.STAGES}
    frame = growth.table(ref, mine)
    assert [i.endswith("†") for i in frame.index] == [True, True, True, False]
    assert frame.loc["all of the table, yours", "import s"] == 8.0
    assert frame.loc["quarter of the table †", "import rows/s per core"] == round(1000 / 3.0 / 2)
    assert growth.measured(ref, mine)["yours"] == [(4000, 16.0 / 60)]
    assert "yours" not in growth.measured(ref, {"import": mine["import"]})
    assert growth.bytes_per_table(ref) == {"heap": 400_000, "landed": 40_000, "aggregates": 4000}


def test_a_smoke_reference_says_so_in_its_legend():
    ref = copy.deepcopy(reference())
    ref["scale"] = "smoke"
    assert "smoke scale: 4,000 rows only, not the seed's table" in growth.legend(ref)
