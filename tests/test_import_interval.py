"""spark_jobs/import_interval.py, the Spark JDBC import of one day (the workshop job's import as an EMR step),
under spark-submit against the test lab's PostgreSQL: the same rows, files and aggregates as `labkit sqoop
import --as-parquetfile` for the same --where, one snapshot for every mapper, reruns that replace, and one
line for bad input with the target kept.

Each spark-submit costs ~15 s here, so the job runs twice under spark-submit (the first run with another
session committing transactions all along, the rerun over a target with stray files), aggregate_dummy once,
and the bad-input cases all in one Python process (one JVM: `main()` once per case).
"""
import gzip
import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

import labkit
from labkit import hadoop_client, secrets, services, spark_submit
from labkit.emr import bucket
from labkit.workshop import aggregates, daily_runs, dummy, landing, spark_aggregation, sqoop
from labkit.workshop.sqoop.interval import interval_where
from aws_server import REGION
from emr_local import Endpoint

pytestmark = pytest.mark.services

JOB = Path(__file__).resolve().parents[1] / "spark_jobs" / "import_interval.py"
DS, EMPTY_DS = "2021-01-02", "2021-03-01"
DAY = 144_000                                   # 100 lines x 1,440 minutes
WHERE = interval_where(*daily_runs.day_interval(DS))
SECRET = "airflow-lab/postgres-import"


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """The lab's PostgreSQL with two days written by the DAG's SQL file, and a login file for the job."""
    cfg = labkit.load()
    services.up(cfg, only=["postgres"], report=lambda _: None)
    for ds in ("2021-01-01", DS):
        with dummy.connect(cfg) as conn, conn.cursor() as cur:
            for statement in dummy.statements(daily_runs.generate_sql(cfg, ds)):
                cur.execute(statement)
    folder = tmp_path_factory.mktemp("secrets")
    password = secrets.path(cfg, "postgres_airline").read_text().strip()
    login = folder / "pg.properties"
    login.write_text(f"# the job's login\nuser=airline\npassword={password}\n")
    login.chmod(0o600)
    return cfg, login.as_uri(), password


def job_args(cfg, credentials: str, target, *extra, where: str = WHERE) -> list[str]:
    return ["--jdbc-url", landing.lab_connect(cfg), "--credentials", credentials, "--table", daily_runs.TABLE,
            "--where", where, "--split-by", "id", "--num-mappers", "2", "--target-dir", str(target), *extra]


class Churn:
    """Another session committing a transaction every 20 ms: the database's snapshot moves all the time, so a
    mapper that did not share the import's snapshot would be caught (its guard lets no row through)."""

    def __init__(self, cfg):
        self.conn = dummy.connect(cfg)
        self.conn.autocommit = True
        self.stop, self.commits = threading.Event(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with self.conn.cursor() as cur:
            while not self.stop.wait(0.02):
                cur.execute("select txid_current()")
                self.commits += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.conn.close()


@pytest.fixture(scope="module")
def first(day, tmp_path_factory):
    cfg, credentials, _ = day
    target = tmp_path_factory.mktemp("job") / daily_runs.TABLE / f"ds={DS}"
    with Churn(cfg) as churn:
        run = spark_submit.submit(cfg, JOB, job_args(cfg, credentials, target, "--expect-rows", str(DAY)), check=False)
    return run, target, churn.commits


@pytest.fixture(scope="module")
def sqoop_landed(day, tmp_path_factory):
    cfg, _, _ = day
    target = tmp_path_factory.mktemp("sqoop") / f"ds={DS}"
    sqoop.import_table(landing.lab_connect(cfg), username="airline", table=daily_runs.TABLE,
                       password_file=secrets.path(cfg, "postgres_airline"), target_dir=target, where=WHERE,
                       split_by="id", num_mappers=2, as_parquetfile=True, progress=False, log=lambda *_: None)
    return target


@pytest.fixture(scope="module")
def rerun(day, first, moto_server):
    """The same day again, over a target holding a stray part file and beside a killed run's staging folder,
    with the login read from Secrets Manager (the moto server) by the AWS CLI, as on an EMR node."""
    cfg, credentials, password = day
    _, target, _ = first
    from moto.secretsmanager.models import SecretsManagerBackend

    env, read = None, []
    if shutil.which("aws"):
        moto_server.reset()
        moto_server.client("secretsmanager").create_secret(Name=SECRET, SecretString=json.dumps(
            {"engine": "postgres", "username": "airline", "password": password, "dbname": "airline_db"}))
        credentials, env = f"secretsmanager://{REGION}/{SECRET}", moto_server.env()
    stray = target / "part-m-00007.parquet"
    stray.write_bytes((target / "part-m-00000.parquet").read_bytes())      # would double-count if kept
    leftover = target.parent / f".{target.name}.import-staging-local-123"
    leftover.mkdir()
    (leftover / "part-00000-x.parquet").write_bytes(b"half")
    real = SecretsManagerBackend.get_secret_value
    with pytest.MonkeyPatch.context() as mp:      # the server runs in this process: record what the job read
        mp.setattr(SecretsManagerBackend, "get_secret_value",
                   lambda self, secret_id, *a, **kw: read.append(secret_id) or real(self, secret_id, *a, **kw))
        run = spark_submit.submit(cfg, JOB, job_args(cfg, credentials, target), env=env, check=False)
    return run, target, credentials, read


def landed_rows(folder: Path) -> list[tuple]:
    table = pq.read_table(sorted(folder.glob("part-m-*.parquet")), partitioning=None)    # no ds column from the path
    return sorted(zip(*(table[c].to_pylist() for c in table.schema.names)))


def source_digest(cfg) -> str:
    with dummy.connect(cfg) as conn, conn.cursor() as cur:
        cur.execute(f"select md5(string_agg(concat_ws('|', id, line, comment, created), ',' order by id)) "
                    f"from {daily_runs.TABLE} where {WHERE}")
        return cur.fetchone()[0]


def digest(rows: list[tuple]) -> str:
    return hashlib.md5(",".join("|".join(map(str, r)) for r in rows).encode()).hexdigest()


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def siblings(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name != target.name)


# -- the import ---------------------------------------------------------------------------------------------
def test_the_day_lands_as_sqoop_lands_it(day, first, sqoop_landed):
    cfg, _, _ = day
    run, target, _ = first
    assert run.returncode == 0, run.output[-2000:]
    assert run.result["rows"] == DAY and run.result["mode"] == "created" and run.result["mappers"] == 2
    assert sorted(p.name for p in target.iterdir()) == ["_SUCCESS", "part-m-00000.parquet", "part-m-00001.parquet"]
    assert (target / "_SUCCESS").stat().st_size == 0 and siblings(target) == []
    # the same parquet schema, column for column (names, physical and logical types, nullability)
    ours, theirs = (pq.ParquetFile(f / "part-m-00000.parquet").schema for f in (target, sqoop_landed))
    assert [(c.name, c.physical_type, c.logical_type.type, c.max_definition_level) for c in ours] == \
           [(c.name, c.physical_type, c.logical_type.type, c.max_definition_level) for c in theirs] == [
               ("id", "INT64", "NONE", 1), ("line", "BYTE_ARRAY", "STRING", 1),
               ("comment", "BYTE_ARRAY", "STRING", 1), ("created", "BYTE_ARRAY", "STRING", 1)]
    assert pq.read_schema(target / "part-m-00000.parquet").remove_metadata() == \
           pq.read_schema(sqoop_landed / "part-m-00000.parquet").remove_metadata()
    # the same rows: count, ids, and every column of every row (a digest shared with PostgreSQL's)
    rows, expected = landed_rows(target), landed_rows(sqoop_landed)
    assert len(rows) == len(expected) == DAY
    assert {r[0] for r in rows} == {r[0] for r in expected} and len({r[0] for r in rows}) == DAY
    assert rows == expected and digest(rows) == digest(expected) == source_digest(cfg)
    assert min(r[3] for r in rows) == f"{DS} 00:00" and max(r[3] for r in rows) == f"{DS} 23:59"


def test_every_mapper_reads_the_imports_snapshot(first):
    """Another session committed transactions throughout; each mapper's query lets rows through only in the
    exported snapshot, so 144,000 rows landed means both mappers read in it (without the shared snapshot the
    same run lands nothing and fails: checked by hand while writing the job)."""
    run, _, commits = first
    assert commits > 50 and run.returncode == 0 and run.result["rows"] == DAY
    xmin, xmax, _ = run.result["snapshot"].split(":")
    assert int(xmin) <= int(xmax)


def test_the_job_says_what_it_did_in_its_lines(day, first):
    cfg, _, password = day
    run, target, _ = first
    lines = run.job_lines()
    assert lines[0] == (f"import_interval: importing {DAY:,} rows of {daily_runs.TABLE} where {WHERE} with 2 "
                        f"mapper(s) by id into file:{target}")
    assert lines[-1].startswith(f"import_interval: {DAY:,} rows of {daily_runs.TABLE} landed in ")
    assert run.output.splitlines()[-1].startswith("RESULT {")
    assert set(run.result) >= {"rows", "target", "seconds", "files", "mode"} and run.result["seconds"] > 0
    assert password not in run.output and password not in " ".join(run.argv)


def test_aggregate_dummy_reads_it_as_it_reads_sqoops(day, first, tmp_path):
    """The landing has sqoop's schema and rows (test_the_day_lands_as_sqoop_lands_it), so aggregate_dummy reads
    it as it reads sqoop's; it ran over both once (a second spark-submit, ~25 s, that proved no more). Here: its
    aggregates of this landing are the day's known counts."""
    cfg, _, _ = day
    _, target, _ = first
    ours = spark_aggregation.run(cfg, DS, input=target, output=tmp_path / "ours")
    assert ours.result["input_rows"] == DAY
    hourly = aggregates.read(tmp_path / "ours", aggregates.HOURLY, DS)
    assert len(hourly) == 100 * 24 and hourly["rows"].tolist() == [60] * 2_400       # 100 lines x 60 minutes an hour
    assert sorted(set(hourly["hour"].tolist())) == list(range(24))
    assert aggregates.read(tmp_path / "ours", aggregates.DAILY, DS)["rows"].tolist() == [1_440] * 100


def test_a_rerun_replaces_the_target_with_the_same_rows(day, first, rerun, sqoop_landed):
    run, target, credentials, _ = rerun
    assert run.returncode == 0, run.output[-2000:]
    assert run.result["mode"] == "replaced" and run.result["rows"] == DAY
    assert sorted(p.name for p in target.iterdir()) == ["_SUCCESS", "part-m-00000.parquet", "part-m-00001.parquet"]
    assert siblings(target) == []                                  # the killed run's staging folder is gone too
    assert landed_rows(target) == landed_rows(sqoop_landed)
    assert day[2] not in run.output


def test_the_rerun_read_its_login_from_secrets_manager(rerun):
    run, _, credentials, read = rerun
    assert shutil.which("aws"), "no AWS CLI on PATH: `make setup` installs one into .venv-awscli where the machine has none (labkit.aws_cli)"
    assert run.returncode == 0 and credentials == f"secretsmanager://{REGION}/{SECRET}"
    assert read == [SECRET]         # the server gave the job the secret (once): its only login, and it logged in


def test_a_secret_that_cannot_be_read_is_one_line(moto_server, monkeypatch, tmp_path):
    job = job_module()
    with pytest.raises(SystemExit, match=r"^import_interval: error: --credentials 'secretsmanager://us-east-1' is "
                                         r"not secretsmanager://<region>/<secret-id>$"):
        job.read_secret("secretsmanager://us-east-1")
    assert shutil.which("aws"), "no AWS CLI on PATH: `make setup` installs one into .venv-awscli where the machine has none (labkit.aws_cli)"
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    moto_server.reset()
    with pytest.raises(SystemExit, match=r"^import_interval: error: cannot read secret airflow-lab/nope in "
                                         r"us-east-1: .*ResourceNotFoundException"):
        job.read_secret("secretsmanager://us-east-1/airflow-lab/nope")
    monkeypatch.setenv("PATH", str(tmp_path))                   # a node without the AWS CLI
    with pytest.raises(SystemExit, match=r"^import_interval: error: no `aws` command on this node"):
        job.read_secret("secretsmanager://us-east-1/airflow-lab/pg")


# -- as a step of the lab's local EMR endpoint: s3:// in and out, as on a cluster ---------------------------------
def test_it_runs_as_an_emr_step_of_the_local_endpoint(day, sqoop_landed, tmp_path):
    cfg, credentials, password = day
    endpoint = Endpoint(tmp_path / "emr").start()
    try:
        s3 = endpoint.state_dir / "s3"
        job, jar = "s3://lab-bucket/spark_jobs/import_interval.py", "s3://lab-bucket/jars/postgresql.jar"
        for source, uri in ((JOB, job), (hadoop_client.JDBC_JARS[0], jar)):
            bucket.local_path(s3, uri).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, bucket.local_path(s3, uri))
        target = f"s3://lab-bucket/landing/airflow_workshop_job/{daily_runs.TABLE}/ds={DS}"
        step = {"Name": "import", "ActionOnFailure": "TERMINATE_CLUSTER", "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": ["spark-submit", "--deploy-mode", "cluster", "--jars", jar, job,
                     *job_args(cfg, credentials, target, "--expect-rows", str(DAY))]}}
        client = endpoint.client()
        cid = client.run_job_flow(Name="import", Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1},
                                  Steps=[step])["JobFlowId"]
        (sid,) = [s["Id"] for s in client.list_steps(ClusterId=cid)["Steps"]]
        client.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        status = client.describe_step(ClusterId=cid, StepId=sid)["Step"]["Status"]
        logs = endpoint.state_dir / "emr" / "steps" / cid / sid
        stdout = gzip.decompress((logs / "stdout.gz").read_bytes()).decode()
        assert status["State"] == "COMPLETED", (status, stdout[-1500:])
    finally:
        endpoint.stop()
    result = json.loads(next(line for line in stdout.splitlines() if line.startswith("RESULT "))[len("RESULT "):])
    assert result["target"] == target and result["rows"] == DAY          # the step's s3:// URI, not a local path
    landed = bucket.local_path(s3, target)
    visible = sorted(p.name for p in landed.iterdir() if not p.name.startswith("."))     # ViewFs adds .crc files
    assert visible == ["_SUCCESS", "part-m-00000.parquet", "part-m-00001.parquet"]
    assert landed_rows(landed) == landed_rows(sqoop_landed)
    assert password not in stdout and password not in gzip.decompress((logs / "stderr.gz").read_bytes()).decode()


# -- bad input: one line, exit status != 0, the target as it was ----------------------------------------------
CASES_SCRIPT = """
import contextlib, importlib.util, io, json, sys
spec = importlib.util.spec_from_file_location("import_interval", sys.argv[1])
job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(job)
out = []
for argv in json.loads(sys.argv[2]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = job.main(argv)
        except SystemExit as exc:              # what Python prints and exits with for SystemExit("...")
            code = exc.code if isinstance(exc.code, int) else 1
            if not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
    out.append({"code": code, "stderr": err.getvalue()})
print("CASES " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def failures(day, rerun, tmp_path_factory):
    """Every bad-input case through the job's main() in one Python process with one JVM (the client config's
    spark-defaults.conf, as spark-submit has it), after the rerun: the failures that name the landed target
    must leave it as it was."""
    cfg, credentials, password = day
    _, target, _, _ = rerun
    folder = tmp_path_factory.mktemp("bad")
    no_password = folder / "no-password.properties"
    no_password.write_text("user=airline\n")
    wrong = folder / "wrong.properties"
    wrong.write_text("user=airline\npassword=not-the-password\n")
    before = listing(target)
    jdbc = landing.lab_connect(cfg)
    with dummy.connect(cfg) as conn, conn.cursor() as cur:
        cur.execute(TYPES_SQL)
    # a run killed between moving its old target aside and moving the new one in: only the old one is left
    killed = folder / f"ds={DS}"
    aside = folder / f".ds={DS}.import-old-local-1"
    shutil.copytree(target, aside)
    cases = {
        "expect": job_args(cfg, credentials, target, "--expect-rows", str(DAY - 1)),
        "empty": job_args(cfg, credentials, target, "--expect-rows", str(DAY),
                          where=interval_where(*daily_runs.day_interval(EMPTY_DS))),
        "no password": job_args(cfg, no_password.as_uri(), target),
        "no file": job_args(cfg, (folder / "missing.properties").as_uri(), target),
        "wrong password": job_args(cfg, wrong.as_uri(), target),
        "no table": [*job_args(cfg, credentials, target), "--table", "no_such_table"],
        "bad where": job_args(cfg, credentials, target, where="created >= '2021-01-02' and"),
        "text split": [*job_args(cfg, credentials, target), "--split-by", "line"],
        "dead port": ["--jdbc-url", _dead_url(jdbc), *job_args(cfg, credentials, target)[2:]],
        "after a kill": job_args(cfg, credentials, killed, "--expect-rows", str(DAY - 1)),
        "types": ["--jdbc-url", jdbc, "--credentials", credentials, "--table", "ij_types", "--split-by", "id",
                  "--num-mappers", "2", "--target-dir", str(folder / "types")],
    }
    out = subprocess.run([sys.executable, "-c", CASES_SCRIPT, str(JOB), json.dumps(list(cases.values()))],
                         capture_output=True, text=True, env=spark_submit.environment(cfg), timeout=600)
    found = [line for line in out.stdout.splitlines() if line.startswith("CASES ")]
    assert found, out.stdout[-2000:] + out.stderr[-3000:]
    results = dict(zip(cases, json.loads(found[0][len("CASES "):])))
    sqoop.import_table(jdbc, username="airline", table="ij_types", password_file=secrets.path(cfg, "postgres_airline"),
                       target_dir=folder / "types-sqoop", num_mappers=1, as_parquetfile=True, progress=False,
                       log=lambda *_: None)
    return SimpleNamespace(results=results, target=target, before=before, password=password,
                           output=out.stdout + out.stderr, killed=killed, folder=folder)


TYPES_SQL = """
drop table if exists ij_types;
create table ij_types (id bigint primary key, s smallint, i integer, n numeric(10,2), r real, d double precision,
                       b boolean, day date, ts timestamp, tstz timestamptz, v varchar(20), t text);
insert into ij_types values
    (1, 1, 10, 12.34, 1.5, 2.25, true, '2021-01-02', '2021-01-02 03:04:05.123456', '2021-01-02 03:04:05+00', 'a', 'x'),
    (2, null, null, null, null, null, null, null, null, null, null, null),
    (3, -3, -30, -0.01, -1.5, 1e100, false, '1999-12-31', '1999-12-31 23:59:59', '1999-12-31 23:59:59+02', 'é', '');
"""


def _dead_url(jdbc: str) -> str:
    """The lab's URL with a port nobody listens on."""
    host_port, _, database = jdbc.removeprefix("jdbc:postgresql://").partition("/")
    return f"jdbc:postgresql://{host_port.split(':')[0]}:1/{database}"


@pytest.mark.parametrize("case, message", [
    ("expect", rf"--expect-rows 143,999: {daily_runs.TABLE} where {WHERE} holds 144,000 rows; the source lost or "
               r"gained rows since they were counted; the target file:/.*ds=2021-01-02 is as it was "
               r"\(no _SUCCESS written\): write the rows again \(in the DAG: clear the run\), then import"),
    ("empty", rf"--expect-rows 144,000: {daily_runs.TABLE} where created >= '2021-03-01 00:00' and created < "
              r"'2021-03-02 00:00' holds 0 rows; .* is as it was \(no _SUCCESS written\)"),
    ("no password", r"file:/.*no-password.properties has no password= line; it needs user=, password= "
                    r"\(and optionally driver=\)"),
    ("no file", r"--credentials file:/.*missing.properties: no such file; give the URI of a properties file "
                r"\(user=, password=\) or secretsmanager://<region>/<secret-id>$"),
    ("wrong password", r"PostgreSQL at 127.0.0.1:\d+ rejected the password of user 'airline' \(FATAL: password "
                       r"authentication failed for user \"airline\"\): fix the login that --credentials names$"),
    ("no table", r"--table 'no_such_table': no such table in jdbc:postgresql://.* \(tables: .*tbl_airflow_dummy_daily"),
    ("bad where", r"--where \"created >= '2021-01-02' and\" is not a valid condition on tbl_airflow_dummy_daily: "
                  r"ERROR: syntax error at or near"),
    ("text split", r"--split-by 'line' is text, but the mappers split its min..max range, so it must be numeric"),
    ("dead port", r"cannot reach PostgreSQL at 127.0.0.1:1 \(from --jdbc-url\): .*; is it running and reachable\?"),
])
def test_bad_input_is_one_line_and_keeps_the_target(failures, case, message):
    result = failures.results[case]
    lines = result["stderr"].strip().splitlines()
    assert result["code"] == 1 and len(lines) == 1, result
    assert lines[0].startswith("import_interval: error: ")
    assert re.match(message, lines[0].removeprefix("import_interval: error: ")), lines[0]
    assert failures.password not in result["stderr"]
    assert listing(failures.target) == failures.before and siblings(failures.target) == []   # untouched, no staging


def test_no_password_in_the_failures_output(failures):
    assert failures.password not in failures.output


def test_other_column_types_land_as_sqoop_lands_them(failures):
    """Each PostgreSQL type of the docstring, NULLs included: the same arrow types and values as the Sqoop-style
    import (parquet's physical encoding of a decimal may differ: Spark writes numeric(10,2) as INT64)."""
    assert failures.results["types"]["code"] == 0, failures.results["types"]
    ours, theirs = (pq.read_table(sorted((failures.folder / name).glob("part-m-*.parquet")), partitioning=None)
                    for name in ("types", "types-sqoop"))
    assert ours.schema.remove_metadata() == theirs.schema.remove_metadata()
    assert sorted(ours.to_pylist(), key=lambda r: r["id"]) == sorted(theirs.to_pylist(), key=lambda r: r["id"])


def test_a_target_left_aside_by_a_killed_run_is_put_back(failures):
    killed, after = failures.killed, failures.results["after a kill"]
    assert after["code"] == 1 and "--expect-rows 143,999" in after["stderr"]
    assert listing(killed).keys() == failures.before.keys()     # _SUCCESS and the parts, back in their place
    assert [p.name for p in killed.parent.iterdir() if p.name.startswith(f".{killed.name}.")] == []
    assert landed_rows(killed) == landed_rows(failures.target) and (killed / "_SUCCESS").exists()


@pytest.mark.parametrize("extra, message", [
    (["--jdbc-url", "jdbc:mysql://127.0.0.1:3306/airflow"], "is not a PostgreSQL JDBC URL: expected "
                                                            "jdbc:postgresql://<host>:<port>/<database>"),
    (["--table", "tbl_airflow_dummy_daily; drop table x"], "is not a table name like tbl_airflow_dummy_daily"),
    (["--split-by", "id or 1=1"], "is not a column name like id"),
    (["--expect-rows", "-5"], "give the number of rows the source must hold, a whole number >= 0"),
    (["--num-mappers", "0"], "--num-mappers must be a whole number >= 1"),
    (["--password", "secret"], "unrecognized arguments: --password secret"),
])
def test_malformed_flags_stop_before_spark_starts(extra, message):
    base = ["--jdbc-url", "jdbc:postgresql://127.0.0.1:5432/airline_db", "--credentials", "file:///x.properties",
            "--table", daily_runs.TABLE, "--split-by", "id", "--target-dir", "/tmp/never"]
    out = subprocess.run([sys.executable, str(JOB), *base, *extra], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and message in out.stderr.strip().splitlines()[-1], out.stderr
    assert not Path("/tmp/never").exists()


def test_more_than_one_mapper_needs_split_by():
    out = subprocess.run([sys.executable, str(JOB), "--jdbc-url", "jdbc:postgresql://h/db", "--credentials", "x",
                          "--table", "t", "--target-dir", "y"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--num-mappers 4 needs --split-by <numeric column>" in out.stderr


def job_module():
    spec = importlib.util.spec_from_file_location("import_interval", JOB)
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    return job


def test_the_splits_cover_every_row_once():
    job = job_module()
    assert job.splits("1", "144000", 2, "id", True) == ["id < 72001 or id is null", "id >= 72001"]
    assert job.splits("5", "6", 4, "id", True) == ["id < 6 or id is null", "id >= 6"]      # no empty ranges
    assert job.splits(None, None, 4, "id", True) == ["true"]                             # no rows within --where
    assert job.splits("0", "1", 2, "x", False) == ["x < 0.5 or x is null", "x >= 0.5"]
