"""The three Spark jobs under the versions of the pinned EMR release (spec.EMR_RELEASE_LABEL, EMR 7: Spark 3.5 and
Python 3.9), not only under the lab's Spark 4 and Python 3.11: `make setup` builds `.venv-emr` (Python 3.9 with
pyspark 3.5, labkit.emr_versions) and this runs all three jobs in one spark-submit of that pyspark (one JVM), the
way a cluster runs a step as far as the lab can: the jobs shipped with --py-files, the pinned JDBC jars with
--jars, the driver in an empty working folder with no labkit and no project on its path. Not YARN: the driver runs
here, not on a core node (README, "The aws profile").

Against the lab's PostgreSQL and MariaDB: the workshop job's import of one day, its aggregation, and the EMR job's
sum written into emr_table, each checked against what it must produce."""
import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import labkit
from labkit import connections, emr_versions, jdbc, secrets, services
from labkit.emr import bucket
from labkit.emr_client import results, retail
from labkit.workshop import daily_runs, dummy, landing
from labkit.workshop.aggregates import DAILY, read as read_aggregates
from labkit.workshop.sqoop.interval import interval_where

pytestmark = [pytest.mark.services,
              pytest.mark.skipif(emr_versions.problem() is not None, reason=str(emr_versions.problem()))]

ROOT = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).with_name("emr_versions") / "run_jobs.py"
DS, DAY = "2021-01-02", 144_000                      # one day of the workshop table: 100 lines x 1,440 minutes
RUN_DATE = "2024-03-30"                              # emr_table's row this test writes (a date no notebook uses)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    cfg = labkit.load()
    services.up(cfg, only=["postgres", "mariadb", "emr"], report=lambda _: None)
    with dummy.connect(cfg) as conn, conn.cursor() as cur:
        for statement in dummy.statements(daily_runs.generate_sql(cfg, DS)):
            cur.execute(statement)
    raw = retail.generate(cfg, progress=False)
    work = tmp_path_factory.mktemp("emr-versions")
    login = work / "pg.properties"
    login.write_text(f"user=airline\npassword={secrets.path(cfg, 'postgres_airline').read_text().strip()}\n")
    login.chmod(0o600)
    variables = connections.variables(cfg)
    mysql = connections.get(cfg, "mysql")
    landed, aggregates = work / "landed" / f"ds={DS}", work / "aggregates"
    plan = [
        ["import_interval", ["--jdbc-url", landing.lab_connect(cfg), "--credentials", login.as_uri(),
                             "--table", daily_runs.TABLE, "--where", interval_where(*daily_runs.day_interval(DS)),
                             "--split-by", "id", "--num-mappers", "2", "--expect-rows", str(DAY),
                             "--target-dir", str(landed)]],
        ["aggregate_dummy", ["--input", str(landed), "--output", str(aggregates), "--run-date", DS]],
        ["retail_quantity", ["--input", str(bucket.local_path(cfg.s3_dir, raw.uri)),
                             "--jdbc-url", f"jdbc:mysql://{mysql.address}/airflow{variables['MYSQL_JDBC_PARAMETERS']}",
                             "--table", "emr_table", "--credentials", variables["EMR_JDBC_CREDENTIALS"],
                             "--run-date", RUN_DATE]],
    ]
    jobs = [str(ROOT / "spark_jobs" / f"{name}.py") for name, _ in plan]
    driver = work / "container"                      # the driver's working folder: empty, as a YARN container's
    driver.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "SPARK_HOME", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    env.update(PYSPARK_PYTHON=str(emr_versions.PYTHON), PYSPARK_DRIVER_PYTHON=str(emr_versions.PYTHON))
    argv = [str(emr_versions.SPARK_SUBMIT), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
            "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.sql.shuffle.partitions=4",
            "--jars", f"{jdbc.POSTGRES.path},{jdbc.MARIADB.path}", "--py-files", ",".join(jobs),
            str(RUNNER), json.dumps(plan)]
    run = subprocess.run(argv, cwd=driver, env=env, capture_output=True, text=True, timeout=900)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stderr[-3000:]
    return cfg, json.loads(lines[-1].removeprefix("RESULT ")), landed, aggregates, raw, run


def test_the_jobs_ran_under_emr_7s_python_and_spark(ran):
    _, result, *_ = ran
    assert result["python"] == list(emr_versions.PYTHON_VERSION)
    assert result["pyspark"].split(".")[:2] == emr_versions.SPARK_MINOR.split(".")
    assert result["jobs"] == {"import_interval": 0, "aggregate_dummy": 0, "retail_quantity": 0}, result


def test_the_import_landed_the_day(ran):
    _, _, landed, *_ = ran
    table = pq.read_table(landed)
    assert table.num_rows == DAY and (landed / "_SUCCESS").exists()
    assert table.schema.names == ["id", "line", "comment", "created"]


def test_the_aggregation_counted_every_landed_row(ran):
    _, _, _, aggregates, *_ = ran
    daily = read_aggregates(aggregates, DAILY, DS)
    assert daily["rows"].tolist() == [DAY // 100] * 100 and daily["line"].nunique() == 100   # 1,440 minutes a line


def test_the_emr_job_wrote_the_sum(ran):
    cfg, _, _, _, raw, _ = ran
    assert results(cfg, RUN_DATE) == [(RUN_DATE, raw.quantity_sum)]
