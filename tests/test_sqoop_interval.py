"""A daily import's slice: the DAG's day of rows in PostgreSQL, `--where` of an interval, `--expect-rows`.

The services tests run the DAG's own SQL file (rendered for a day, as Airflow renders it) and the import
against the test lab's real PostgreSQL.
"""
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import labkit
from labkit import LabError, secrets, services
from labkit.workshop import daily_runs, dummy, landing, sqoop
from labkit.workshop.sqoop.interval import check_expect_rows, interval_where

LABKIT = str(Path(sys.executable).with_name("labkit"))
DAY = 144_000                                   # 100 lines x 1,440 minutes


# -- bad input, no database needed --------------------------------------------------------------------------------
def test_interval_where_is_written_from_parsed_timestamps():
    assert interval_where("2021-01-02", "2021-01-03T00:00") == \
        "created >= '2021-01-02 00:00' and created < '2021-01-03 00:00'"


@pytest.mark.parametrize("start, end, column, message", [
    ("2021-01-02", "2021-01-02", "created", r"interval 2021-01-02 00:00 \.\. 2021-01-02 00:00 is empty"),
    ("2021-01-03", "2021-01-02", "created", "is empty: the start must be before the end"),
    ("2021-01-02' or '1'='1", "2021-01-03", "created", r"interval start .* is not a timestamp"),
    ("2021-01-02", "tomorrow", "created", "interval end 'tomorrow' is not a timestamp"),
    ("2021-01-02", "2021-01-03", "created; drop table x", "is not a plain lower-case column name"),
])
def test_interval_where_refuses_what_is_not_an_interval(start, end, column, message):
    with pytest.raises(LabError, match=message):
        interval_where(start, end, column)


@pytest.mark.parametrize("value", [-1, "144000", True, 1.5])
def test_expect_rows_must_be_a_whole_number(value):
    with pytest.raises(LabError, match=r"--expect-rows .*: give the number of rows the source must hold"):
        check_expect_rows(value)
    assert check_expect_rows(0) == 0 and check_expect_rows(None) is None


# -- against the lab's PostgreSQL ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def daily(request):
    """tbl_airflow_dummy_daily with two days, written by the DAG's SQL file."""
    cfg = labkit.load()
    services.up(cfg, only=["postgres"], report=lambda _: None)
    for ds in ("2021-01-01", "2021-01-02"):
        execute(cfg, daily_runs.generate_sql(cfg, ds))
    return cfg


def execute(cfg, script: str):
    """Run a SQL script's statements in one transaction, as SQLExecuteQueryOperator does; the last one's rows."""
    with dummy.connect(cfg) as conn, conn.cursor() as cur:
        for statement in dummy.statements(script):
            cur.execute(statement)
        return cur.fetchall() if cur.description else None


def one(cfg, sql):
    with dummy.connect(cfg) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchone())


def import_day(cfg, target, ds, **kw):
    kw.setdefault("split_by", "id")
    return sqoop.import_table(landing.lab_connect(cfg), username="airline", table=daily_runs.TABLE,
                              password_file=secrets.path(cfg, "postgres_airline"), target_dir=target,
                              where=interval_where(*daily_runs.day_interval(ds)), num_mappers=2,
                              as_parquetfile=True, progress=False, log=lambda *_: None, **kw)


@pytest.mark.services
def test_the_dags_sql_writes_its_day_with_meaningful_ids(daily):
    cfg = daily
    for ds in ("2021-01-01", "2021-01-02"):
        assert daily_runs.source_rows(cfg, ds) == DAY
    # id = 100 x minutes since 2021-01-01 00:00 + line: unique, and dense over the two days
    assert one(cfg, f"select count(*), count(distinct id), min(id), max(id) from {daily_runs.TABLE} "
                    "where created < '2021-01-03'") == [2 * DAY, 2 * DAY, 1, 2 * DAY]
    assert one(cfg, f"""select count(*) from {daily_runs.TABLE}
                       where id <> 100 * (extract(epoch from created::timestamp - '2021-01-01') / 60)::bigint
                                 + right(line, -5)::int""") == [0]
    # the same rows as notebook 04's fixed variant of that day (the smoke scale's range), apart from the key
    dummy.create_table(cfg, table="si_fixed", progress=False)
    try:
        assert one(cfg, f"""select
            (select count(*) from (select line, comment, created from si_fixed
                                   except all select line, comment, created from {daily_runs.TABLE}
                                   where created < '2021-01-02') a),
            (select count(*) from (select line, comment, created from {daily_runs.TABLE} where created < '2021-01-02'
                                   except all select line, comment, created from si_fixed) b)""") == [0, 0]
    finally:
        execute(cfg, "drop table si_fixed;")


@pytest.mark.services
def test_rerunning_a_day_replaces_it_with_the_same_rows_and_leaves_the_others(daily):
    cfg = daily
    digest = ("select md5(string_agg(id || line || comment || created, ',' order by id)) from {t} "
              "where created >= '{lo}' and created < '{hi}'")
    day1 = one(cfg, digest.format(t=daily_runs.TABLE, lo="2021-01-01", hi="2021-01-02"))
    day2 = one(cfg, digest.format(t=daily_runs.TABLE, lo="2021-01-02", hi="2021-01-03"))
    assert execute(cfg, daily_runs.generate_sql(cfg, "2021-01-02")) == [(DAY,)]    # what the XCom carries
    assert one(cfg, digest.format(t=daily_runs.TABLE, lo="2021-01-02", hi="2021-01-03")) == day2
    assert one(cfg, digest.format(t=daily_runs.TABLE, lo="2021-01-01", hi="2021-01-02")) == day1
    assert daily_runs.source_rows(cfg, "2021-01-02") == DAY


@pytest.mark.services
def test_an_interval_import_lands_that_day_only(daily, tmp_path):
    cfg = daily
    result = import_day(cfg, tmp_path / "ds=2021-01-02", "2021-01-02", expect_rows=DAY)
    assert result.source_rows == result.landed_rows == DAY
    assert result.splitting == "--split-by id" and len(result.mappers) == 2
    created = pq.read_table(tmp_path / "ds=2021-01-02", columns=["created"]).column("created").to_pylist()
    assert min(created) == "2021-01-02 00:00" and max(created) == "2021-01-02 23:59"


@pytest.mark.services
def test_an_interval_that_lost_its_rows_fails_and_keeps_the_previous_landing(daily, tmp_path):
    """Issue 16's hole: a retry that finds the day empty must not write _SUCCESS over a good landing."""
    cfg = daily
    target = tmp_path / "ds=2021-01-02"
    import_day(cfg, target, "2021-01-02", expect_rows=DAY)
    before = {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    with pytest.raises(LabError, match=r"--expect-rows 144,000: tbl_airflow_dummy_daily where created >= "
                                       r"'2021-03-01 00:00' and created < '2021-03-02 00:00' holds 0 rows;.*"
                                       r"nothing was moved into .*ds=2021-01-02 and no _SUCCESS was written"):
        import_day(cfg, target, "2021-03-01", expect_rows=DAY, delete_target_dir=True)   # a day with no rows
    assert {p.name: p.stat().st_mtime_ns for p in target.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if "sqoop-staging" in p.name]               # no staging left


@pytest.mark.services
def test_the_cli_refuses_a_bad_expect_rows_in_one_line(daily, tmp_path):
    cmd = landing.lab_command(daily, daily_runs.TABLE, tmp_path / "x", "--expect-rows", "-5")
    out = subprocess.run([LABKIT, *cmd[1:]], capture_output=True, text=True, env=os.environ)
    assert out.returncode != 0 and not (tmp_path / "x").exists()
    assert out.stderr.strip().splitlines() == [
        "labkit: error: --expect-rows -5: give the number of rows the source must hold, a whole number >= 0 "
        "(e.g. what the task that wrote them counted)"]


@pytest.mark.services
@pytest.mark.parametrize("where, message", [
    ("created >= '2021-01-02'; delete from tbl_airflow_dummy_daily",
     "is not a valid condition on tbl_airflow_dummy_daily"),
    ("created >= '2021-01-02' and pg_catalog.nextval('si_seq') > 0",
     "cannot execute nextval.. in a read-only transaction"),
    ("created >= '2021-01-02' and (select count(*) from si_seq) > 0 or (delete from si_seq) is null",
     "is not a valid condition"),
])
def test_an_unsafe_where_cannot_change_the_source(daily, tmp_path, where, message):
    """--where is SQL by design (as in Sqoop); the import reads in a read-only snapshot, so whatever it says,
    the source is unchanged and nothing lands."""
    cfg = daily
    execute(cfg, "drop sequence if exists si_seq; create sequence si_seq;")
    rows = one(cfg, f"select count(*) from {daily_runs.TABLE}")
    try:
        with pytest.raises(LabError, match=message):
            sqoop.import_table(landing.lab_connect(cfg), username="airline", table=daily_runs.TABLE, where=where,
                               password_file=secrets.path(cfg, "postgres_airline"), target_dir=tmp_path / "u",
                               num_mappers=2, progress=False, log=lambda *_: None)
        assert one(cfg, f"select count(*) from {daily_runs.TABLE}") == rows
        assert one(cfg, "select last_value, is_called from si_seq") == [1, False]
        assert not (tmp_path / "u").exists()
    finally:
        execute(cfg, "drop sequence si_seq;")
