"""The Sqoop-shaped import against the lab's real PostgreSQL: splits, formats, reconciliation, reruns, bad input."""
import csv
import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import labkit
from labkit import LabError, secrets, services
from labkit.workshop import landing, sqoop

pytestmark = pytest.mark.services
LABKIT = str(Path(sys.executable).with_name("labkit"))
ROWS = 20_000


@pytest.fixture(scope="module")
def source_db():
    cfg = labkit.load()
    services.up(cfg, only=["postgres"], report=lambda _: None)
    pg = services.get(cfg, "postgres")
    conn = pg.connect("airline_db", "airline", secrets.get(cfg, "postgres_airline"))
    conn.autocommit = True
    with conn.cursor() as cur:
        # The fixed dummy table's shape, small: id bigint (the split key), line, comment, created.
        cur.execute(f"""
            drop table if exists sq_dummy, sq_types, sq_newline, sq_empty, sq_nulls cascade;
            create table sq_dummy as
              select row_number() over (order by m, l)::bigint as id, 'dummy' || lpad(l::text, 2, '0') as line,
                     repeat('Aa', 20) as comment, to_char(m, 'YYYY-MM-DD HH24:MI') as created
              from generate_series(timestamp '2021-01-01', timestamp '2021-01-01' + interval '1 minute' * ({ROWS // 100} - 1),
                                   interval '1 minute') m, generate_series(1, 100) l;
            alter table sq_dummy add primary key (id);
            analyze sq_dummy;
            create view sq_view as select * from sq_dummy;
            create view sq_breaks as select id, 100 / (id - 15000) as boom from sq_dummy;
            create table sq_types (i integer, n numeric(10,2), f double precision, b boolean, d date,
                                   ts timestamp, tz timestamptz, t text, v varchar(5));
            insert into sq_types values
              (1, 12.34, 0.5, true, '2021-01-01', '2021-01-01 13:05', '2021-01-01 13:05+00', 'a,b "quoted"', 'x'),
              (2, -0.01, -1e10, false, '2021-06-30', '2021-06-30 12:00:00.123456', '2021-06-30 12:00+09', '', 'ü'),
              (null, null, null, null, null, null, null, null, null);
            create table sq_newline (id int, note text);
            insert into sq_newline values (1, 'one line'), (2, 'two' || chr(10) || 'lines'), (3, 'three');
            create table sq_empty (id bigint, note text);
            create table sq_nulls (k integer, note text);
            insert into sq_nulls select case when g % 10 = 0 then null else g * 7 end, 'n' || g from generate_series(1, 1000) g;
        """)
    yield cfg, conn
    with conn.cursor() as cur:
        cur.execute("drop table if exists sq_dummy, sq_types, sq_newline, sq_empty, sq_nulls cascade")
    conn.close()


def run(cfg, table="sq_dummy", target=None, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("log", lambda *_: None)
    return sqoop.import_table(landing.lab_connect(cfg), username="airline",
                              password_file=secrets.path(cfg, "postgres_airline"), table=table,
                              target_dir=target, **kw)


def source_rows(conn, table, order="id"):
    with conn.cursor() as cur:
        cur.execute(f"select * from {table} order by {order}")
        return cur.fetchall()


def text_rows(folder: Path) -> list[tuple[str, ...]]:
    rows = []
    for f in sorted(folder.glob("part-m-*")):
        with open(f, newline="") as fh:
            rows += [tuple(r) for r in csv.reader(fh)]
    return rows


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- splits and formats ---------------------------------------------------------------------------------------
def test_ctid_ranges_land_every_row_once_as_sqoop_text(source_db, tmp_path):
    cfg, conn = source_db
    result = run(cfg, target=tmp_path / "t", num_mappers=3, validate=True)
    assert names(tmp_path / "t") == ["_SUCCESS", "part-m-00000", "part-m-00001", "part-m-00002"]
    assert result.splitting == "ctid block ranges" and result.mode == "created" and result.validated
    assert result.source_rows == result.landed_rows == ROWS
    assert all(m.sent_rows == m.landed_rows > 0 for m in result.mappers)
    first = (tmp_path / "t" / "part-m-00000").read_text().splitlines()[0]
    assert first == "1,dummy01,AaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAa,2021-01-01 00:00"   # no header, commas
    landed = sorted(text_rows(tmp_path / "t"), key=lambda r: int(r[0]))
    assert landed == [tuple(map(str, r)) for r in source_rows(conn, "sq_dummy")]


def test_numeric_split_by_gives_disjoint_ranges_as_parquet(source_db, tmp_path):
    cfg, conn = source_db
    result = run(cfg, target=tmp_path / "p", num_mappers=4, split_by="id", as_parquetfile=True, validate=True)
    assert names(tmp_path / "p") == ["_SUCCESS"] + [f"part-m-{i:05d}.parquet" for i in range(4)]
    assert result.splitting == "--split-by id"
    spans = []
    for f in sorted((tmp_path / "p").glob("*.parquet")):
        ids = pq.read_table(f).column("id").to_pylist()
        assert len(ids) == ROWS // 4        # equal ranges of a dense key: equal files
        spans.append((min(ids), max(ids)))
    assert spans == [(1, 5000), (5001, 10000), (10001, 15000), (15001, 20000)]
    assert "id < 5001" in result.mappers[0].label and "id >= 15001" in result.mappers[3].label
    table = pq.read_table(tmp_path / "p").sort_by("id")
    assert [tuple(r.values()) for r in table.to_pylist()] == source_rows(conn, "sq_dummy")
    assert str(table.schema.field("id").type) == "int64"
    # statistics say id is unique and line has 100 values: only line is worth a parquet dictionary
    meta = pq.read_metadata(tmp_path / "p" / "part-m-00000.parquet").row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert "RLE_DICTIONARY" not in encodings["id"] and "RLE_DICTIONARY" in encodings["line"]


def test_split_by_a_sparse_key_with_nulls_loses_nothing(source_db, tmp_path):
    cfg, conn = source_db
    result = run(cfg, table="sq_nulls", target=tmp_path / "n", num_mappers=3, split_by="k", as_parquetfile=True,
                 validate=True)
    assert result.landed_rows == 1000
    got = sorted(pq.read_table(tmp_path / "n").to_pylist(), key=lambda r: r["note"])
    want = sorted(({"k": k, "note": n} for k, n in source_rows(conn, "sq_nulls", "note")), key=lambda r: r["note"])
    assert got == want
    assert sum(r["k"] is None for r in got) == 100      # the NULL keys go to the first mapper


def test_parquet_keeps_types_nulls_and_empty_strings(source_db, tmp_path):
    cfg, conn = source_db
    run(cfg, table="sq_types", target=tmp_path / "ty", num_mappers=1, as_parquetfile=True)
    table = pq.read_table(tmp_path / "ty")
    types = {f.name: str(f.type) for f in table.schema}
    assert types == {"i": "int32", "n": "decimal128(10, 2)", "f": "double", "b": "bool", "d": "date32[day]",
                     "ts": "timestamp[us]", "tz": "timestamp[us, tz=UTC]", "t": "string", "v": "string"}
    rows = sorted(table.to_pylist(), key=lambda r: (r["i"] is None, r["i"]))
    assert rows[0]["n"] == Decimal("12.34") and rows[0]["t"] == 'a,b "quoted"' and rows[0]["b"] is True
    assert rows[1]["t"] == "" and rows[1]["v"] == "ü"                  # empty string is not NULL
    assert rows[1]["ts"] == dt.datetime(2021, 6, 30, 12, 0, 0, 123456)
    assert rows[1]["tz"] == dt.datetime(2021, 6, 30, 3, 0, tzinfo=dt.timezone.utc)
    assert all(v is None for v in rows[2].values())


def test_empty_table_lands_empty_parts_and_success(source_db, tmp_path):
    cfg, _ = source_db
    result = run(cfg, table="sq_empty", target=tmp_path / "e", num_mappers=2, as_parquetfile=True)
    assert result.source_rows == result.landed_rows == 0
    assert (tmp_path / "e" / "_SUCCESS").exists()
    assert pq.read_table(tmp_path / "e").num_rows == 0


def test_a_view_imports_with_one_mapper_or_a_split_column(source_db, tmp_path):
    cfg, _ = source_db
    assert run(cfg, table="sq_view", target=tmp_path / "v1", num_mappers=1).landed_rows == ROWS
    assert run(cfg, table="sq_view", target=tmp_path / "v2", num_mappers=2, split_by="id").landed_rows == ROWS
    with pytest.raises(LabError, match="no physical blocks.*--split-by"):
        run(cfg, table="sq_view", target=tmp_path / "v3", num_mappers=2)


def test_where_imports_a_subset_with_either_split(source_db, tmp_path):
    cfg, _ = source_db
    for i, split_by in enumerate((None, "id")):
        result = run(cfg, target=tmp_path / f"w{i}", num_mappers=3, split_by=split_by, where="line = 'dummy07'",
                     as_parquetfile=True)
        assert result.source_rows == result.landed_rows == ROWS // 100
        assert set(pq.read_table(tmp_path / f"w{i}").column("line").to_pylist()) == {"dummy07"}
    with pytest.raises(LabError, match=r"--where 'lin = 1' is not a valid condition on sq_dummy: column \"lin\" does not exist"):
        run(cfg, target=tmp_path / "w9", where="lin = 1")


# -- reconciliation and reruns ---------------------------------------------------------------------------------
def test_count_mismatch_fails_loudly_without_success(source_db, tmp_path):
    cfg, _ = source_db
    target = tmp_path / "nl"
    with pytest.raises(LabError, match=r"count mismatch.*source sent 3 rows, landed 4.*line breaks.*--as-parquetfile"):
        run(cfg, table="sq_newline", target=target, num_mappers=1)
    with pytest.raises(LabError, match=r"count mismatch.*source count\(\*\) 3, sent 3 rows, landed 4"):
        run(cfg, table="sq_newline", target=target, num_mappers=1, validate=True)
    assert not target.exists()
    assert names(tmp_path) == [".nl.sqoop-lock"]          # no staging folder left behind
    # the same table as parquet is fine: the value keeps its line break
    run(cfg, table="sq_newline", target=target, as_parquetfile=True, num_mappers=1)
    assert "two\nlines" in pq.read_table(target).column("note").to_pylist()


def test_delete_target_dir_is_idempotent_and_a_failed_rerun_keeps_the_old_data(source_db, tmp_path):
    cfg, _ = source_db
    target = tmp_path / "idem"
    first = run(cfg, target=target, num_mappers=2, delete_target_dir=True)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    second = run(cfg, target=target, num_mappers=2, delete_target_dir=True)
    assert (first.mode, second.mode) == ("created", "replaced")
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    # a rerun that fails (here: reconciliation) leaves the previous landing untouched
    with pytest.raises(LabError, match="count mismatch"):
        run(cfg, table="sq_newline", target=target, num_mappers=1, delete_target_dir=True)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".idem.sqoop-lock", "idem"]


def test_leftovers_of_a_killed_run_are_cleaned_up(source_db, tmp_path):
    cfg, _ = source_db
    stale = tmp_path / ".k.sqoop-staging-999999"
    stale.mkdir()
    (stale / "part-m-00000").write_text("half a file")
    run(cfg, target=tmp_path / "k", num_mappers=1)
    assert names(tmp_path) == [".k.sqoop-lock", "k"]


def test_append_lands_the_rows_again_with_new_part_numbers(source_db, tmp_path):
    cfg, _ = source_db
    target = tmp_path / "app"
    run(cfg, target=target, num_mappers=2, append=True, as_parquetfile=True)
    result = run(cfg, target=target, num_mappers=2, append=True, as_parquetfile=True)
    assert result.mode == "appended"
    assert names(target) == ["_SUCCESS"] + [f"part-m-{i:05d}.parquet" for i in range(4)]
    assert pq.read_table(target).num_rows == 2 * ROWS                 # the rerun doubled the data


def test_a_mapper_that_fails_stops_the_import_and_lands_nothing(source_db, tmp_path):
    cfg, _ = source_db
    for as_parquetfile in (False, True):       # mapper 2 hits a division by zero at id 15000
        with pytest.raises(LabError, match="a mapper's COPY failed: division by zero"):
            run(cfg, table="sq_breaks", target=tmp_path / "b", num_mappers=4, split_by="id", as_parquetfile=as_parquetfile)
        assert names(tmp_path) == [".b.sqoop-lock"]


# -- the command line, as the DAG's BashOperator runs it -----------------------------------------------------------
def test_cli_with_the_labs_password_file(source_db, tmp_path):
    cfg, _ = source_db
    cmd = landing.lab_command(cfg, "sq_dummy", tmp_path / "cli", "-m", "2", "--as-parquetfile", "--delete-target-dir",
                            "--validate")
    assert cmd[:3] == ["labkit", "sqoop", "import"]
    assert cmd[cmd.index("--password-file") + 1] == str(cfg.secrets_dir / "postgres_airline")
    out = subprocess.run([LABKIT, *cmd[1:]], capture_output=True, text=True, env=os.environ)
    assert out.returncode == 0, out.stderr
    assert f"Retrieved {ROWS:,} records (source: {ROWS:,} rows, validated by count(*))" in out.stdout
    assert "mapper 1:" in out.stderr                # plain progress lines when stderr is not a terminal
    assert names(tmp_path / "cli") == ["_SUCCESS", "part-m-00000.parquet", "part-m-00001.parquet"]


def test_cli_bad_input_is_one_line_and_exit_2(source_db, tmp_path):
    cfg, _ = source_db
    cmd = landing.lab_command(cfg, "sq_dummy", tmp_path / "x", "-m", "0")
    out = subprocess.run([LABKIT, *cmd[1:]], capture_output=True, text=True, env=os.environ)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("labkit: error: -m/--num-mappers 0")
    assert not (tmp_path / "x").exists()


# -- bad input: one actionable line each ---------------------------------------------------------------------------
def test_wrong_password(source_db, tmp_path):
    cfg, _ = source_db
    wrong = tmp_path / "pw"
    wrong.write_text("not-the-password\n")
    with pytest.raises(LabError, match=r"rejected the password for user 'airline'.*--password-file"):
        sqoop.import_table(landing.lab_connect(cfg), username="airline", password_file=wrong, table="sq_dummy",
                           target_dir=tmp_path / "t", progress=False)
    assert not (tmp_path / "t").exists()


def test_missing_table(source_db, tmp_path):
    cfg, _ = source_db
    with pytest.raises(LabError, match=r"--table 'no_such_table': no such table in database 'airline_db' \(tables: .*sq_dummy"):
        run(cfg, table="no_such_table", target=tmp_path / "t")


def test_target_exists_without_append_or_delete(source_db, tmp_path):
    cfg, _ = source_db
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "keep").write_text("x")
    with pytest.raises(LabError, match="already exists; add --delete-target-dir to replace it, or --append"):
        run(cfg, target=tmp_path / "t")
    assert names(tmp_path / "t") == ["keep"]
    with pytest.raises(LabError, match="contradict"):
        run(cfg, target=tmp_path / "t", append=True, delete_target_dir=True)


def test_split_by_column_that_does_not_exist(source_db, tmp_path):
    cfg, _ = source_db
    with pytest.raises(LabError, match=r"--split-by 'nope': table sq_dummy has no such column \(columns: id, line, comment, created\)"):
        run(cfg, target=tmp_path / "t", split_by="nope", num_mappers=2)


def test_zero_mappers(source_db, tmp_path):
    cfg, _ = source_db
    for m in (0, -1):
        with pytest.raises(LabError, match=r"-m/--num-mappers .*must be an integer >= 1"):
            run(cfg, target=tmp_path / "t", num_mappers=m)


def test_text_split_column(source_db, tmp_path):
    cfg, _ = source_db
    with pytest.raises(LabError, match=r"--split-by 'created' is text.*must be numeric.*omit --split-by to split by block ranges"):
        run(cfg, target=tmp_path / "t", split_by="created", num_mappers=2)


def test_connect_url_password_file_and_target_scheme(source_db, tmp_path):
    cfg, _ = source_db
    with pytest.raises(LabError, match="not a PostgreSQL JDBC URL.*not jdbc:mysql:"):
        sqoop.import_table("jdbc:mysql://127.0.0.1:3306/airflow", username="airline",
                           password_file=secrets.path(cfg, "postgres_airline"), table="t", target_dir=tmp_path / "t")
    with pytest.raises(LabError, match="--password-file .* does not exist"):
        sqoop.import_table(landing.lab_connect(cfg), username="airline", password_file=tmp_path / "missing",
                           table="sq_dummy", target_dir=tmp_path / "t")
    with pytest.raises(LabError, match="hdfs:// is not reachable"):
        run(cfg, target="hdfs://namenode:8020/tmp/airflow")
    with pytest.raises(LabError, match="database 'nope' does not exist"):
        sqoop.import_table(landing.lab_connect(cfg).replace("airline_db", "nope"), username="airline",
                           password_file=secrets.path(cfg, "postgres_airline"), table="t", target_dir=tmp_path / "t")
