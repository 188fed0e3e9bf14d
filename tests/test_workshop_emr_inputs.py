"""What the workshop job's two EMR steps (the import from PostgreSQL, the aggregation) are given, on `local`.

- the emr service writes the import step's JDBC login, `workshop_jdbc.properties`, privately beside the EMR job's,
  where the variable `WORKSHOP_JDBC_CREDENTIALS` points, and that login works against the lab's PostgreSQL;
- `labkit.aws.databases.grant_import_user`, the SQL that makes the aws profile's read-only `importer` on RDS,
  run against the lab's real PostgreSQL (the aws tests cannot: moto's RDS is a record, not a server);
- `emr_client.stage_workshop_job` puts the steps and the PostgreSQL driver where the variables point.
"""
import stat
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg2
import pytest
from aws_server import aws_lab  # noqa: F401  (fixture: a copy of the project)

import labkit
from labkit import LabError, connections, emr_client, secrets, services
from labkit.aws import spec
from labkit.aws.databases import DatabaseSteps, grant_import_user
from labkit.aws.preflight import REHEARSAL_ENV
from labkit.config import POSTGRES_JDBC_JAR
from labkit.emr import bucket


@pytest.fixture
def needs_jar_fixture():
    """`make setup` installs the driver: without it the coverage would be lost, so the test fails (no skip)."""
    assert POSTGRES_JDBC_JAR.exists(), f"{POSTGRES_JDBC_JAR} is missing: run `make setup` (it installs the JDBC drivers)"


needs_jar = pytest.mark.usefixtures("needs_jar_fixture")


def properties(path: Path) -> dict:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def lab():
    cfg = labkit.load()
    services.up(cfg, only=["postgres", "emr"], report=lambda _: None)
    return cfg


# -- the import step's login on local ----------------------------------------------------------------------
@pytest.mark.services
def test_workshop_jdbc_properties_is_private_and_logs_in_as_airline(lab):
    path = Path(connections.variables(lab)["WORKSHOP_JDBC_CREDENTIALS"].removeprefix("file://"))
    assert path == lab.secrets_dir / "workshop_jdbc.properties"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    login = properties(path)
    assert login == {"user": "airline", "password": secrets.get(lab, "postgres_airline"),
                     "driver": "org.postgresql.Driver"}
    pg = connections.get(lab, "postgres")
    with psycopg2.connect(host=pg.host, port=pg.port, dbname=pg.database, user=login["user"],
                          password=login["password"]) as conn, conn.cursor() as cur:
        cur.execute("select current_user, current_database()")
        assert cur.fetchone() == ("airline", "airline_db")
    emr_job = properties(lab.secrets_dir / "emr_jdbc.properties")               # the EMR job's, unchanged
    assert (emr_job["user"], emr_job["driver"]) == ("emr", "org.mariadb.jdbc.Driver")
    assert stat.S_IMODE((lab.secrets_dir / "emr_jdbc.properties").stat().st_mode) == 0o600


# -- the aws profile's read-only import user, its SQL on a real PostgreSQL ----------------------------------
def _as(lab, user, password):
    pg = connections.get(lab, "postgres")
    return psycopg2.connect(host=pg.host, port=pg.port, dbname="airline_db", user=user, password=password,
                            connect_timeout=5)


class _Recording(psycopg2.extensions.cursor):
    sent: list[str] = []

    def execute(self, query, vars=None):
        _Recording.sent.append(self.mogrify(query, vars).decode())
        return super().execute(query, vars)


@contextmanager
def _cursor(lab, user, password):
    with closing(_as(lab, user, password)) as conn, conn, conn.cursor() as cur:
        yield cur


@pytest.mark.services
def test_the_import_user_reads_the_tables_now_and_later_and_nothing_more(lab):
    db, admin = spec.POSTGRES, services.get(lab, "postgres")
    airline = secrets.get(lab, "postgres_airline")
    owner = _as(lab, "airline", airline)
    owner.autocommit = True
    try:
        with owner.cursor() as cur:
            cur.execute("create table lab_test_import_before (id int)")
            cur.execute("insert into lab_test_import_before values (1)")
        first, second = "first-" + "x" * 26, "second-" + "y" * 25
        with closing(admin.connect(dbname="airline_db")) as conn:   # on RDS the master airline runs it; here the superuser
            assert grant_import_user(conn, db, first) is False
        with owner.cursor() as cur:            # made after the grant by the owner, as the DAG's first run does
            cur.execute("create table lab_test_import_after (id int)")
            cur.execute("insert into lab_test_import_after values (2)")
        with _cursor(lab, "importer", first) as cur:
            cur.execute("select (select id from lab_test_import_before), (select id from lab_test_import_after)")
            assert cur.fetchone() == (1, 2)
        for statement in ("insert into lab_test_import_after values (3)", "delete from lab_test_import_before",
                          "create table lab_test_import_mine (id int)"):
            with _cursor(lab, "importer", first) as cur:
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(statement)
        with _cursor(lab, "importer", first) as cur:
            cur.execute("select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user")
            assert cur.fetchone() == (False, False, False)
        # A second run finds the user and gives it the secret's (new) password: the old one stops working.
        with closing(admin.connect(dbname="airline_db")) as conn:
            conn.cursor_factory = _Recording                   # what the server receives (and logs if it fails)
            assert grant_import_user(conn, db, second) is True
        sent = " ".join(_Recording.sent)
        assert "SCRAM-SHA-256$" in sent and second not in sent      # the verifier only, never the password
        with _cursor(lab, "importer", second) as cur:
            cur.execute("select count(*) from lab_test_import_after")
            assert cur.fetchone() == (1,)
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            _as(lab, "importer", first)
    finally:
        with owner.cursor() as cur:
            cur.execute("drop table if exists lab_test_import_before, lab_test_import_after")
        owner.close()
        conn = admin.connect(dbname="airline_db")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_roles where rolname = 'importer'")
            if cur.fetchone():
                cur.execute("drop owned by importer")
                cur.execute("drop role importer")
        conn.close()


@pytest.mark.services
def test_a_database_that_refuses_the_master_login_is_one_line(lab, monkeypatch):
    """Provisioning logs in over TLS (sslmode=require); the lab's PostgreSQL has none: the refusal is one line."""
    monkeypatch.delenv(REHEARSAL_ENV, raising=False)
    monkeypatch.setattr(spec, "POSTGRES", replace(spec.POSTGRES, port=lab.ports["postgres"]))
    steps = DatabaseSteps(lab, acct=None, allow_cidr="203.0.113.7/32", raw_dir=Path("."),
                          passwords={spec.POSTGRES.admin_secret: "not-the-password", spec.POSTGRES.import_secret: "x"})
    with pytest.raises(LabError) as err:
        steps.import_user(True, "127.0.0.1")
    text = str(err.value)
    assert text.startswith("cannot log in to RDS PostgreSQL at 127.0.0.1 as airline to make the import's user (")
    assert "security group airflow-lab-db (203.0.113.7/32)" in text and "\n" not in text


# -- staging the steps for the local endpoint ------------------------------------------------------------------
@pytest.fixture
def copy_lab(aws_lab, monkeypatch):  # noqa: F811
    """A copy of the project (lab.toml, spark_jobs/) with its own state folder, on the local profile."""
    monkeypatch.setenv("LAB_PROFILE", "local")
    return labkit.load()


@needs_jar
def test_stage_workshop_job_puts_the_steps_and_the_driver_where_the_variables_point(copy_lab):
    cfg = copy_lab
    stand_in = cfg.spark_jobs_dir / "import_interval.py"
    if not stand_in.exists():                       # written by another change: a stand-in until it lands
        stand_in.write_text("print('stand-in for the import step')\n")
    v = connections.variables(cfg)
    uris = emr_client.stage_workshop_job(cfg)
    assert uris == {"import_interval.py": f"{v['SPARK_JOBS_PATH']}/import_interval.py",
                    "aggregate_dummy.py": f"{v['SPARK_JOBS_PATH']}/aggregate_dummy.py",
                    "jar": v["POSTGRES_JDBC_JAR_PATH"]}
    assert v["POSTGRES_JDBC_JAR_PATH"] == "s3://lab-bucket/jars/postgresql.jar"
    for name in ("import_interval.py", "aggregate_dummy.py"):
        assert bucket.local_path(cfg.s3_dir, uris[name]).read_bytes() == (cfg.spark_jobs_dir / name).read_bytes()
    assert bucket.local_path(cfg.s3_dir, uris["jar"]).read_bytes() == POSTGRES_JDBC_JAR.read_bytes()

    stand_in.unlink()                                  # a step that does not exist (yet) is not staged
    assert set(emr_client.stage_workshop_job(cfg)) == {"aggregate_dummy.py", "jar"}


def test_stage_workshop_job_without_the_driver_is_one_line(copy_lab, monkeypatch, tmp_path):
    monkeypatch.setattr(emr_client, "POSTGRES_JDBC_JAR", tmp_path / "missing.jar")
    with pytest.raises(LabError, match=r"missing\.jar not found .*run `make setup`"):
        emr_client.stage_workshop_job(copy_lab)
    assert not copy_lab.s3_dir.exists()                # nothing staged halfway
