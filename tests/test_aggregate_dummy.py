"""spark_jobs/aggregate_dummy.py under spark-submit (as the DAG runs it): exact numbers, idempotent reruns,
one partition per run date, the same results as DuckDB, and one clear line for bad input."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import labkit
from labkit import LabError, spark_submit
from labkit.workshop import aggregates, crosschecks, spark_aggregation, synthetic

# 3 lines x 180 minutes from 22:30 to 01:29: two days, four hours, partial first and last hours.
RANGE = ("2021-01-01 22:30", "2021-01-02 01:29")
DAY1, DAY2 = "2021-01-01", "2021-01-02"
RUN_A, RUN_B = "2021-07-01", "2021-07-02"
JOB = str(Path(__file__).resolve().parents[1] / "spark_jobs" / "aggregate_dummy.py")


@pytest.fixture(scope="module")
def cfg():
    return labkit.load()


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    return synthetic.land_synthetic(tmp_path_factory.mktemp("landed") / "tbl_airflow_dummy", RANGE, lines=3,
                                      files=2, progress=False)


@pytest.fixture(scope="module")
def first_run(cfg, landed, tmp_path_factory):
    out = tmp_path_factory.mktemp("aggregates")
    run = spark_aggregation.run(cfg, RUN_A, input=landed.path, output=out)
    return out, run


def parts(folder):
    return sorted(p.name for p in folder.glob("*.parquet"))


def test_landed_input_has_the_imports_shape(landed):
    assert landed.rows == 540
    assert sorted(p.name for p in landed.path.iterdir()) == ["_SUCCESS", "part-m-00000.parquet", "part-m-00001.parquet"]
    table = pq.read_table(landed.path)
    assert table.schema.names == ["id", "line", "comment", "created"] and table.schema.field("id").type == pa.int64()
    assert sorted(table["id"].to_pylist()) == list(range(1, 541))
    assert table["created"][0].as_py() == "2021-01-01 22:30"


def test_exact_numbers(first_run):
    out, run = first_run
    assert run.returncode == 0
    assert run.result["input_rows"] == 540 and run.result["hourly_rows"] == 12 and run.result["daily_rows"] == 6
    assert run.result["session_seconds"] > 0 and run.result["aggregate_seconds"] > 0
    assert run.seconds > run.result["aggregate_seconds"]
    daily = aggregates.read(out, aggregates.DAILY, RUN_A)
    assert list(daily.columns) == ["line", "day", "rows"]
    assert [(r.line, str(r.day.date()), r.rows) for r in daily.itertuples()] == [
        (line, day, 90) for line in ("dummy01", "dummy02", "dummy03") for day in (DAY1, DAY2)]
    hourly = aggregates.read(out, aggregates.HOURLY, RUN_A)
    assert list(hourly.columns) == ["line", "day", "hour", "rows"]
    assert [(str(r.day.date()), r.hour, r.rows) for r in hourly.itertuples() if r.line == "dummy02"] == [
        (DAY1, 22, 30), (DAY1, 23, 60), (DAY2, 0, 60), (DAY2, 1, 30)]
    assert hourly["rows"].sum() == daily["rows"].sum() == 540
    # the job's own summary line; the command is the DAG's (no settings on it), and the settings the job ran
    # with came from the client config's spark-defaults.conf
    assert run.job_lines()[0].startswith("aggregate_dummy: 540 input rows -> 12 rows in rows_per_line_hour")
    assert run.argv[0].endswith("spark-submit") and run.argv[1:3] == ["--name", "aggregate_dummy"]
    assert run.argv[3] == JOB
    assert run.result["settings"] == {"spark.master": "local[*]", "spark.driver.memory": "2g"}


def test_same_results_as_duckdb(first_run, landed, tmp_path):
    out, _ = first_run
    duck = crosschecks.duckdb_aggregate(landed.path, tmp_path)
    assert (duck.input_rows, duck.hourly_rows, duck.daily_rows) == (540, 12, 6)
    assert crosschecks.differences(out, RUN_A, tmp_path) == {aggregates.HOURLY: 0, aggregates.DAILY: 0}


def test_rerun_replaces_the_partition_and_other_run_dates_are_kept(cfg, first_run, landed):
    out, _ = first_run
    part_a = aggregates.partition_dir(out, aggregates.DAILY, RUN_A)
    before = aggregates.read(out, aggregates.DAILY, RUN_A)
    files_before = parts(part_a)
    assert len(files_before) == 1

    # the retried task; run twice in the one JVM (the benchmark's --repeat): still one file, same rows
    again = spark_aggregation.run(cfg, RUN_A, input=landed.path, output=out, repeat=2)
    assert len(again.result["repeat_seconds"]) == 2 and again.result["input_rows"] == 540
    after = aggregates.read(out, aggregates.DAILY, RUN_A)
    assert after.equals(before)                                            # same rows, no duplicates
    assert len(parts(part_a)) == 1 and parts(part_a) != files_before     # replaced, not appended

    spark_aggregation.run(cfg, RUN_B, input=landed.path, output=out)            # the next day's run
    assert aggregates.run_dates(out) == [RUN_A, RUN_B]
    assert aggregates.run_dates(out, aggregates.HOURLY) == [RUN_A, RUN_B]
    assert aggregates.read(out, aggregates.DAILY, RUN_A).equals(before)  # untouched
    assert aggregates.read(out, aggregates.DAILY, RUN_B)["rows"].sum() == 540


def test_text_input(cfg, landed, tmp_path):
    """What `sqoop import --as-textfile` lands (comma-separated, no header) gives the same numbers."""
    text = tmp_path / "text"
    text.mkdir()
    pq.read_table(landed.path).to_pandas().to_csv(text / "part-m-00000", header=False, index=False)
    run = spark_submit.submit(cfg, spark_aggregation.JOB, ["--input", text, "--output", tmp_path / "out",
                                                     "--run-date", RUN_A, "--input-format", "text"])
    assert (run.result["input_rows"], run.result["hourly_rows"], run.result["daily_rows"]) == (540, 12, 6)


# -- bad input: one line, non-zero exit ------------------------------------------------------------------
def test_a_java_failure_is_one_line_and_its_frames_are_in_the_spark_log(cfg, landed, tmp_path):
    """A failure no check foresaw (here Hadoop refusing an output under a file; a full disk alike): the cell (and a
    task's log) shows one line naming the Java exception and the log that has the frames, and no Java frame (it
    showed 50 of them, the job's traceback last; a full disk: 352)."""
    from labkit import hadoop_client

    (tmp_path / "a-file").write_text("")
    shown = []
    with pytest.raises(LabError) as raised:
        spark_submit.submit(cfg, spark_aggregation.JOB, ["--input", landed.path, "--output",
                                                         tmp_path / "a-file" / "out", "--run-date", "2021-01-01"],
                            echo=shown.append)
    log = hadoop_client.error_log(cfg)
    assert str(raised.value) == ("spark-submit aggregate_dummy failed (exit 1): org.apache.hadoop.fs."
                                 f"ParentNotDirectoryException: Parent path is not a directory: file:{tmp_path}/a-file "
                                 f"(the whole trace, Java frames and all: {log})")
    assert not [line for line in shown if line.strip().startswith("at ")], shown
    assert shown[-1].startswith("aggregate_dummy: error: org.apache.hadoop.fs.ParentNotDirectoryException"), shown
    frames = log.read_text().split(f"file:{tmp_path}/a-file")[-1]
    assert frames.count("\tat org.apache.hadoop.fs.") >= 3                  # the frames are there, after its line
    # Spark's own log lines (log4j2) about a failed task carry the frames in their message: cut to one line each
    cut = tmp_path / "cut"
    shutil.copytree(landed.path, cut)
    part = sorted(cut.glob("*.parquet"))[0]
    os.truncate(part, part.stat().st_size // 2)
    shown.clear()
    with pytest.raises(LabError, match="is not a whole parquet file"):
        spark_submit.submit(cfg, spark_aggregation.JOB, ["--input", cut, "--output", tmp_path / "out",
                                                         "--run-date", "2021-01-01"], echo=shown.append)
    assert not [line for line in shown if line.strip().startswith(("at ", "Caused by"))], shown   # 78 frames before
    assert any(line.endswith(f"... (all of it: {log})") for line in shown), shown


def test_missing_input_folder(cfg, tmp_path):
    with pytest.raises(LabError) as err:
        spark_aggregation.run(cfg, RUN_A, input=tmp_path / "nowhere", output=tmp_path / "out")
    assert "failed (exit 1)" in str(err.value) and "no such folder; land the table first" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_empty_input_folder(tmp_path):
    (tmp_path / "landed").mkdir()
    (tmp_path / "landed" / "_SUCCESS").touch()
    out = subprocess.run([sys.executable, JOB, "--input", str(tmp_path / "landed"), "--output", str(tmp_path / "out"),
                          "--run-date", RUN_A], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().endswith("holds no data files; did the import finish (is there a _SUCCESS)?")
    assert out.stderr.count("\n") == 1


def test_malformed_created_fails_and_keeps_the_previous_output(cfg, first_run, tmp_path):
    """The seed's text or a hand-made file with other dates: one line, and the run date's output is untouched."""
    out, _ = first_run
    before = aggregates.read(out, aggregates.HOURLY, RUN_A)
    bad = tmp_path / "bad"
    bad.mkdir()
    pq.write_table(pa.table({"id": [1, 2], "line": ["dummy01"] * 2, "comment": ["x"] * 2,
                             "created": ["2021-01-01 00:00", "01/02/2021 13:05"]}), bad / "part-m-00000.parquet")
    with pytest.raises(LabError) as err:
        spark_aggregation.run(cfg, RUN_A, input=bad, output=out)
    assert "column created holds '01/02/2021 13'..., not 'YYYY-MM-DD HH24:MI'" in str(err.value)
    assert f"the output of run date {RUN_A} is unchanged" in str(err.value)
    assert aggregates.read(out, aggregates.HOURLY, RUN_A).equals(before)


@pytest.mark.parametrize("bad", ["2021-13-01", "20210701", "yesterday"])
def test_bad_run_date(bad, tmp_path, landed):
    out = subprocess.run([sys.executable, JOB, "--input", str(landed.path), "--output", str(tmp_path),
                          "--run-date", bad], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.splitlines()[-1] == (f"aggregate_dummy: error: argument --run-date: {bad!r} is not a date in "
                                           "YYYY-MM-DD form (Airflow passes it as {{ ds }})")
    assert "Traceback" not in out.stderr


def test_repeat_must_be_positive(tmp_path, landed):
    out = subprocess.run([sys.executable, JOB, "--input", str(landed.path), "--output", str(tmp_path),
                          "--run-date", RUN_A, "--repeat", "0"], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.splitlines()[-1] == "aggregate_dummy: error: --repeat 0: must be 1 or more"


def test_bad_run_date_through_spark_submit(cfg, landed, tmp_path):
    with pytest.raises(LabError, match=r"failed \(exit 2\): argument --run-date: '2021-02-30' is not a date"):
        spark_aggregation.run(cfg, "2021-02-30", input=landed.path, output=tmp_path)


def test_wrong_table_is_named(cfg, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    pq.write_table(pa.table({"id": [1], "when": ["2021-01-01 00:00"]}), wrong / "part-m-00000.parquet")
    with pytest.raises(LabError) as err:
        spark_aggregation.run(cfg, RUN_A, input=wrong, output=tmp_path / "out")
    assert "column(s) line, created missing (found id, when)" in str(err.value)
    assert "\n" not in str(err.value)


def test_command_reads_as_typed(cfg):
    text = spark_submit.pretty(spark_submit.command(cfg, spark_aggregation.JOB, ["--input", "a b", "--run-date", RUN_A]))
    lines = text.split(" \\\n    ")
    assert lines[1:] == ["--name aggregate_dummy", JOB, "--input 'a b'", f"--run-date {RUN_A}"]


def test_unknown_job_is_named(cfg):
    with pytest.raises(LabError, match="Spark job 'no_such_job' not found.*aggregate_dummy"):
        spark_submit.command(cfg, "no_such_job", [])
