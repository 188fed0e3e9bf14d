"""The raw retail data and the pieces around the EMR job that need no running service: the generator's
schema and determinism, the bucket's URI mapping, the job's argument checks."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

import labkit
from labkit import LabError
from labkit.emr import bucket, steps
from labkit.emr_client import retail
from aws_server import aws_env  # noqa: F401  (fixtures)

SCHEMA = {"InvoiceNo": pa.int64(), "StockCode": pa.string(), "Description": pa.string(), "Quantity": pa.int32(),
          "InvoiceDate": pa.string(), "UnitPrice": pa.float64(), "CustomerID": pa.string(), "Country": pa.string()}


def test_the_table_has_the_online_retail_schema_and_its_oddities():
    table = retail.build(20_000)
    assert {f.name: f.type for f in table.schema} == SCHEMA
    quantity = table.column("Quantity").to_numpy()
    assert 0.01 < (quantity < 0).mean() < 0.03                             # cancellations
    assert table.column("InvoiceNo").null_count == (quantity < 0).sum()     # ... have no invoice number
    customers = table.column("CustomerID").to_pylist()
    assert 0.15 < customers.count("") / len(customers) < 0.35
    assert table.column("InvoiceDate")[0].as_py() == "12/1/2010 13:31"      # month/day/year, no leading zeros


def test_generation_is_deterministic_and_the_expected_sum_is_known_up_front():
    one, two = retail.build(5_000), retail.build(5_000)
    assert one.equals(two)
    assert retail.expected_quantity_sum(5_000) == int(one.column("Quantity").to_numpy().sum(dtype=np.int64))
    assert not retail.build(5_000, seed=1).equals(one)
    assert retail.ROWS["full"] == 541_909                                   # as many lines as the real file


def test_generate_writes_the_raw_data_path_and_replaces_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    cfg = labkit.load()
    first = retail.generate(cfg, rows=1_000, progress=False)
    assert first.uri == "s3://lab-bucket/raw/retail" and first.path == tmp_path / "s3/lab-bucket/raw/retail"
    again = retail.generate(cfg, rows=1_000, progress=False)
    assert sorted(p.name for p in again.path.iterdir()) == ["part-00000.parquet"]
    assert again.quantity_sum == first.quantity_sum == retail.expected_quantity_sum(1_000)


def test_s3_uris_map_to_bucket_folders_and_bad_ones_are_explained(tmp_path):
    assert bucket.local_path(tmp_path, "s3://b/raw/x.parquet") == tmp_path / "b/raw/x.parquet"
    assert bucket.split("s3a://b/k/ey") == ("b", "k/ey")
    with pytest.raises(LabError, match=r"not an S3 URI: expected s3://<bucket>/<key>"):
        bucket.split("/data/retail")
    with pytest.raises(LabError, match="outside its bucket"):
        bucket.local_path(tmp_path, "s3://b/../other/secret")
    (tmp_path / "one").mkdir()
    conf = bucket.spark_conf(tmp_path)
    assert conf["spark.hadoop.fs.s3.impl"].endswith("ViewFileSystemOverloadScheme")
    assert conf["spark.hadoop.fs.viewfs.mounttable.one.linkFallback"] == (tmp_path / "one").as_uri()


def test_upload_of_a_missing_file_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    with pytest.raises(LabError, match="cannot upload .*no such file"):
        bucket.upload(labkit.load(), tmp_path / "nope.py", "s3://lab-bucket/nope.py")


def test_spark_submit_arguments_become_a_local_command(tmp_path):
    (tmp_path / "b/jobs").mkdir(parents=True)
    (tmp_path / "b/jobs/job.py").write_text("")
    (tmp_path / "b/job.jar").write_text("")
    argv = steps.spark_submit(["--deploy-mode", "cluster", "--master", "yarn", "--conf", "spark.x=1",
                               "--jars", "s3://b/job.jar", "s3://b/jobs/job.py", "--input", "s3://b/in"],
                              s3_dir=tmp_path, cores=2)
    assert argv[1:3] == ["--master", "local[2]"]
    assert "yarn" not in argv and "--deploy-mode" not in argv and "cluster" not in argv
    assert argv[-3:] == [str(tmp_path / "b/jobs/job.py"), "--input", "s3://b/in"]   # the job's own args untouched
    assert argv[argv.index("--jars") + 1] == str(tmp_path / "b/job.jar")
    with pytest.raises(steps.StepError, match="does not exist"):
        steps.spark_submit(["s3://b/missing.py"], s3_dir=tmp_path, cores=1)
    # the cluster's spark-defaults come before the step's options, so the step's own settings win
    cluster = {"spark.driver.extraJavaOptions": "-XX:+UseParallelGC", "spark.x": "0"}
    argv = steps.spark_submit(["--conf", "spark.x=1", "s3://b/jobs/job.py"], s3_dir=tmp_path, cores=2, defaults=cluster)
    confs = [argv[i + 1] for i, a in enumerate(argv) if a == "--conf"]
    assert "spark.driver.extraJavaOptions=-XX:+UseParallelGC" in confs
    assert confs.index("spark.x=0") < confs.index("spark.x=1")
    with pytest.raises(steps.StepError, match="runs command-runner.jar and script-runner.jar steps only"):
        steps.local_command({"Jar": "s3://b/custom.jar", "Args": []}, s3_dir=tmp_path, cores=1)


def _job_module():
    spec = importlib.util.spec_from_file_location("retail_quantity", labkit.load().spark_jobs_dir / "retail_quantity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_job_checks_its_arguments():
    job = _job_module()
    args = job.parse_args(["--input", "s3://b/raw", "--jdbc-url", "jdbc:mysql://h:3306/airflow",
                           "--credentials", "s3://b/secrets/x.properties", "--run-date", "2024-03-31"])
    assert (args.table, args.run_date) == ("emr_table", "2024-03-31")
    script = str(labkit.load().spark_jobs_dir / "retail_quantity.py")
    base = [sys.executable, script, "--input", "x", "--jdbc-url", "y", "--credentials", "z"]
    for extra, message in ((["--run-date", "31/03/2024"], "is not a date like 2024-03-31"),
                           (["--table", "emr_table; drop table x"], "is not a table name")):
        out = subprocess.run(base + extra, capture_output=True, text=True)
        assert out.returncode == 2 and message in out.stderr
    out = subprocess.run([sys.executable, script, "--input", "x", "--jdbc-url", "y", "--password", "secret"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--credentials" in out.stderr    # no way to pass a password on the command line


# -- the job's login on AWS: its Secrets Manager secret, read by the node's AWS CLI ------------------------
def test_the_job_reads_its_login_from_secrets_manager_with_the_aws_cli(aws_env, monkeypatch, tmp_path):
    """The real AWS CLI (EMR puts one on every node) against the moto server; its stdout is the only copy."""
    assert shutil.which("aws"), "no AWS CLI on PATH: `make setup` installs one into .venv-awscli where the machine has none (labkit.aws_cli)"
    job = _job_module()
    sm = aws_env.client("secretsmanager")
    sm.create_secret(Name="airflow-lab/aurora", SecretString=json.dumps(
        {"engine": "mysql", "host": "h", "port": 3306, "username": "emr", "password": "s3cr3t-from-sm",
         "dbname": "airflow", "driver": "org.mariadb.jdbc.Driver"}))
    assert job.read_login(None, "secretsmanager://us-east-1/airflow-lab/aurora") == {
        "user": "emr", "password": "s3cr3t-from-sm", "driver": "org.mariadb.jdbc.Driver"}
    with pytest.raises(SystemExit, match=r"^retail_quantity: cannot read secret airflow-lab/nope in us-east-1: .*"
                                         r"ResourceNotFoundException"):
        job.read_secret("secretsmanager://us-east-1/airflow-lab/nope")


def test_the_job_says_in_one_line_when_it_cannot_read_its_secret(monkeypatch, tmp_path):
    job = _job_module()
    with pytest.raises(SystemExit, match=r"is not secretsmanager://<region>/<secret-id>$"):
        job.read_secret("secretsmanager://us-east-1")
    monkeypatch.setenv("PATH", str(tmp_path))                   # a node without the AWS CLI
    with pytest.raises(SystemExit, match=r"^retail_quantity: no `aws` command on this node"):
        job.read_secret("secretsmanager://us-east-1/airflow-lab/aurora")
    (tmp_path / "aws").write_text("#!/bin/sh\necho 'not json'\n")   # a CLI that answers something else
    (tmp_path / "aws").chmod(0o755)
    with pytest.raises(SystemExit, match=r"secret airflow-lab/aurora is not an RDS-style login"):
        job.read_secret("secretsmanager://us-east-1/airflow-lab/aurora")
