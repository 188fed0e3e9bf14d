"""The dummy table against the lab's real PostgreSQL at smoke scale: the seed's SQL, its quirks, the fixed variant."""
import re

import pytest

import labkit
from labkit import LabError, services
from labkit.workshop import dummy

pytestmark = pytest.mark.services
SMOKE_ROWS = 144_000          # 100 lines x 1,440 minutes of 2021-01-01


@pytest.fixture(scope="module")
def pg():
    cfg = labkit.load()
    services.up(cfg, only=["postgres"], report=lambda _: None)
    return cfg


def one(cfg, sql):
    return dummy.query(cfg, sql).iloc[0].tolist()


def test_seed_sql_is_the_seed_text_at_full_scale(monkeypatch):
    monkeypatch.setenv("LAB_SCALE", "full")
    full = labkit.load()
    assert dummy.seed_sql(full) == dummy.SEED_CTAS
    assert "to_char(generate_series('2021-01-01 00:00'::timestamp,'2021-06-30 12:00', '1 minutes'), " \
           "'YYYY-MM-dd hh:mi')" in dummy.SEED_CTAS
    assert dummy.minutes(full) == 259_921
    assert dummy.expected_rows(full) == 25_992_100          # not "about 21M"


def test_smoke_is_the_same_sql_for_the_first_day(pg):
    assert dummy.expected_rows(pg) == SMOKE_ROWS
    assert dummy.seed_sql(pg) == dummy.SEED_CTAS.replace("'2021-06-30 12:00'", "'2021-01-01 23:59'")


def test_the_twelve_hour_clock_over_the_full_range_without_building_the_table(pg):
    """130,320 distinct `created` values for 259,921 minutes: the seed's format over the full range."""
    start, end = dummy.SEED_RANGE
    assert one(pg, f"""select count(*), count(distinct to_char(ts, 'YYYY-MM-dd hh:mi')),
                              count(distinct to_char(ts, 'YYYY-MM-DD HH24:MI'))
                       from generate_series('{start}'::timestamp, '{end}', '1 minute') as g(ts)""") == \
        [259_921, 130_320, 259_921]


def test_seed_variant_and_its_quirks(pg):
    result = dummy.create_table(pg, variant="seed", progress=False)
    assert (result.table, result.variant, result.rows) == (dummy.TABLE, "seed", SMOKE_ROWS)
    assert result.seconds > 0 and result.sql == dummy.seed_sql(pg)
    assert one(pg, "select count(*) from tbl_airflow_dummy") == [SMOKE_ROWS]
    # hh: a 12-hour clock without AM/PM -> every value twice a day
    clock = dummy.quirk(pg, "clock").iloc[0]
    assert (clock["rows"], clock["distinct_created"], clock["minutes"]) == (SMOKE_ROWS, 720, 1440)
    # 13:05 prints as 01:05, so 'dummy01' has two rows that say 01:05
    at = dummy.quirk(pg, "13:05")
    assert at["seed_format"].tolist() == ["2021-01-01 01:05", "2021-01-01 01:05"]
    assert at["fixed_format"].tolist() == ["2021-01-01 01:05", "2021-01-01 13:05"]
    assert at["rows_of_dummy01"].tolist() == [2, 2]
    # line 100 becomes 'dummy00'
    hundred = dummy.quirk(pg, "line 100").iloc[0]
    assert (hundred["seed_name"], hundred["rows_named_dummy00"], hundred["rows_named_dummy100"]) == ("dummy00", 1440, 0)
    assert one(pg, "select min(line), max(line), count(distinct line) from tbl_airflow_dummy") == \
        ["dummy00", "dummy99", 100]


def test_fixed_variant_has_a_dense_unique_key_and_a_24_hour_clock(pg):
    result = dummy.create_table(pg, progress=False)
    assert (result.variant, result.method, result.rows) == ("fixed", "copy", SMOKE_ROWS)
    assert one(pg, "select count(*), count(distinct id), min(id), max(id) from tbl_airflow_dummy") == \
        [SMOKE_ROWS, SMOKE_ROWS, 1, SMOKE_ROWS]
    columns = dummy.query(pg, """select column_name, data_type from information_schema.columns
                                 where table_name = 'tbl_airflow_dummy' order by ordinal_position""")
    assert columns.values.tolist() == [["id", "bigint"], ["line", "text"], ["comment", "text"], ["created", "text"]]
    lines = dummy.query(pg, "select line, count(*) as n from tbl_airflow_dummy group by line order by line")
    assert sorted(lines["line"]) == sorted(f"dummy{i:02d}" for i in range(1, 101))
    assert set(lines["n"]) == {1440}
    assert one(pg, "select count(distinct created), min(created), max(created) from tbl_airflow_dummy") == \
        [1440, "2021-01-01 00:00", "2021-01-01 23:59"]
    assert all(re.fullmatch(r"2021-01-01 \d\d:\d\d", c) for c in
               dummy.query(pg, "select distinct created from tbl_airflow_dummy")["created"])
    # ids follow (line, minute), so a range of ids is a range of lines: what --split-by relies on
    assert one(pg, """select count(*) from tbl_airflow_dummy
                      where id <> (right(line, -5)::int - 1) * 1440
                                  + extract(epoch from created::timestamp - '2021-01-01')::int / 60 + 1""") == [0]
    assert one(pg, "select relpersistence from pg_class where relname = 'tbl_airflow_dummy'") == ["u"]
    assert one(pg, "select count(*) from pg_class where relname like 'tbl_airflow_dummy__new'") == [0]


def test_fast_path_builds_exactly_what_fixed_ctas_says(pg):
    fast = dummy.create_table(pg, table="dummy_fast", method="copy", progress=False)
    by_sql = dummy.create_table(pg, table="dummy_sql", method="sql", progress=False)
    assert fast.rows == by_sql.rows == SMOKE_ROWS      # the CTAS's count, not the ANALYZE after it
    assert one(pg, """select (select count(*) from (table dummy_fast except all table dummy_sql) a),
                             (select count(*) from (table dummy_sql except all table dummy_fast) b),
                             (select count(*) from dummy_sql)""") == [0, 0, SMOKE_ROWS]


def test_rerun_replaces_the_table(pg, capsys):
    dummy.create_table(pg, variant="seed", progress=False)
    again = dummy.create_table(pg, progress=True)          # the fixed variant replaces the seed's table
    third = dummy.create_table(pg, progress=False)
    assert again.rows == third.rows == SMOKE_ROWS
    assert one(pg, "select count(*), count(distinct id) from tbl_airflow_dummy") == [SMOKE_ROWS, SMOKE_ROWS]
    # no half-built tbl_airflow_dummy__new left beside the table (the DAG's tbl_airflow_dummy_daily may be there)
    assert one(pg, "select count(*) from pg_class where relname ~ '^tbl_airflow_dummy(__new)?$' and relkind = 'r'") == [1]
    assert "144k/144k" in capsys.readouterr().err


def test_wrong_password_is_one_clear_line_and_changes_nothing(pg):
    before = one(pg, "select count(*) from tbl_airflow_dummy")
    with pytest.raises(LabError, match=r"rejected the password for 'airline'.*postgres_default"):
        dummy.create_table(pg, password="not-the-password", progress=False)
    assert one(pg, "select count(*) from tbl_airflow_dummy") == before


def test_no_server_says_how_to_start_it(monkeypatch):
    """PostgreSQL holds Airflow's metadata too: the one command that brings back what its stop stopped is
    `labkit up` (`labkit up postgres` left Airflow stopped)."""
    from helpers import free_port

    monkeypatch.setenv("LAB_PORT_POSTGRES", str(free_port()))
    with pytest.raises(LabError, match=r"start it with `labkit up` \(it starts postgres and airflow") as raised:
        dummy.create_table(labkit.load(), progress=False)
    assert "labkit up postgres" not in str(raised.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"table": "tbl; drop table x"}, "not a plain lower-case SQL identifier"),
    ({"variant": "hh24"}, "unknown variant 'hh24'"),
    ({"method": "pandas"}, "unknown method 'pandas'"),
])
def test_bad_arguments(pg, kwargs, message):
    with pytest.raises(LabError, match=re.escape(message)):
        dummy.create_table(pg, progress=False, **kwargs)


def test_quirk_on_a_missing_table_says_how_to_build_it(pg):
    with pytest.raises(LabError, match="does not exist: build it first"):
        dummy.quirk(pg, "clock", table="no_such_table")
    with pytest.raises(LabError, match="unknown quirk"):
        dummy.quirk(pg, "am/pm")


def test_a_slow_query_says_what_it_waits_for(pg, monkeypatch, capsys):
    """A learner in front of a long cell sees a line naming what PostgreSQL is doing; a quick query prints nothing."""
    monkeypatch.setattr(dummy, "SAY_AFTER_SECONDS", 0.3)
    dummy.query(pg, "select count(*) as n from pg_class, pg_sleep(1)")
    said = capsys.readouterr().out
    assert said.startswith("waiting for PostgreSQL (reading pg_class;") and "rows at scale smoke" in said
    dummy.query(pg, "select 1 as one")
    assert capsys.readouterr().out == ""


def test_the_fixed_sql_takes_its_range_from_the_config(monkeypatch):
    from labkit.config import SCALE_RANGES

    for scale, (start, end) in SCALE_RANGES.items():
        monkeypatch.setenv("LAB_SCALE", scale)
        assert f"'{start}'::timestamp, '{end}'" in dummy.fixed_sql(labkit.load())
