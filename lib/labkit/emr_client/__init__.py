"""The EMR client side, what a notebook, a test or a benchmark uses around an EMR DAG (notebook 08).

The same calls reach the lab's local endpoint (`labkit.emr`, the emulator) on `local` and real EMR on `aws`:
- here       `client()` (boto3 for this lab), `job_uris()`/`stage_job()` (the job and the JDBC driver in the
             bucket), `stage_workshop_job()` (the workshop job's two EMR steps and the PostgreSQL driver, for the
             local endpoint), `step_log()` (the end of a step's log), `results()` (the job's rows in `emr_table`)
- `retail`   the job's input: the synthetic retail parquet, written where `RAW_DATA_PATH` points
- `watch`    following a DAG run's tasks, cluster and steps, and its timeline
"""
from __future__ import annotations

import time

from labkit import connections
from labkit.aws import spec
from labkit.aws import steplogs as aws_steplogs
from labkit.config import MARIADB_JDBC_JAR, POSTGRES_JDBC_JAR, Config
from labkit.emr import bucket
from labkit.emr.steplogs import tail_log
from labkit.errors import LabError

JDBC_JAR = MARIADB_JDBC_JAR
LOCAL_FOLLOW_SECONDS = 900.0
LOG_WAIT_SECONDS, LOG_POLL_SECONDS = 300.0, 15.0    # aws: how long step_log waits for EMR's log pusher, how often
JOB = "retail_quantity.py"
WORKSHOP_STEPS = ("import_interval.py", "aggregate_dummy.py")    # the workshop job's EMR steps, in order


def endpoint_url(cfg: Config) -> str | None:
    """The local EMR endpoint's URL (None on aws: boto3's own)."""
    return connections.endpoint_url(cfg)


def client(cfg: Config):
    """A boto3 EMR client for this lab: the local endpoint on `local`, real EMR on `aws`."""
    import boto3

    aws = connections.get(cfg, "aws")
    kwargs = {"region_name": cfg.region}
    if aws.login:                    # the local endpoint's key pair; on aws boto3's own credential chain
        kwargs.update(endpoint_url=endpoint_url(cfg), aws_access_key_id=aws.login, aws_secret_access_key=aws.password)
    return boto3.client("emr", **kwargs)


def job_uris(cfg: Config) -> dict[str, str]:
    """Where the DAG expects the job and the JDBC driver in the bucket (the `S3_PATH` variable + a fixed key)."""
    s3_path = connections.variables(cfg)["S3_PATH"]
    return {"job": f"{s3_path}/spark_jobs/{JOB}", "jar": f"{s3_path}/jars/{JDBC_JAR.name}"}


def stage_job(cfg: Config) -> dict[str, str]:
    """Upload the Spark job and the JDBC driver to the bucket (idempotent: a copy that replaces)."""
    uris = job_uris(cfg)
    bucket.upload(cfg, cfg.spark_jobs_dir / JOB, uris["job"])
    bucket.upload(cfg, JDBC_JAR, uris["jar"])
    return uris


def stage_workshop_job(cfg: Config) -> dict[str, str]:
    """Upload the workshop job's EMR steps found in spark_jobs/ and the PostgreSQL JDBC driver to where the
    variables point (`SPARK_JOBS_PATH`, `POSTGRES_JDBC_JAR_PATH`): name (or "jar") -> URI. For the local endpoint's
    bucket; on aws provisioning has uploaded them already (this copies them again, harmless)."""
    if not POSTGRES_JDBC_JAR.is_file():
        raise LabError(f"JDBC driver {POSTGRES_JDBC_JAR} not found (the workshop job's import step needs it): "
                       "run `make setup`")
    variables = connections.variables(cfg)
    uris = {name: f"{variables['SPARK_JOBS_PATH']}/{name}" for name in WORKSHOP_STEPS
            if (cfg.spark_jobs_dir / name).is_file()}
    for name, uri in uris.items():
        bucket.upload(cfg, cfg.spark_jobs_dir / name, uri)
    uris["jar"] = bucket.upload(cfg, POSTGRES_JDBC_JAR, variables["POSTGRES_JDBC_JAR_PATH"])
    return uris


def follow_timeout(cfg: Config) -> float:
    """How long notebook 08 follows a run (the timeout of its `follow`), in seconds: 900 on the lab's endpoint, whose
    clusters start at once; on aws the cost spec's run, start-up included, plus one more start-up (spec.py)."""
    if cfg.profile != "aws":
        return LOCAL_FOLLOW_SECONDS
    return (spec.EMR_RUN_MINUTES + spec.EMR_STARTUP_MINUTES) * 60


def step_log(cfg: Config, log_uri: str, cluster_id: str, step_id: str, name: str = "stderr",
             lines: int = 40, wait: float | None = None, report=print) -> str:
    """The end of a step's log where EMR writes it: <LogUri>/<cluster-id>/steps/<step-id>/<name>.gz.

    On aws an S3 object (labkit.aws.steplogs) that EMR's log pusher uploads some minutes after the step: polled for
    up to `wait` seconds (LOG_WAIT_SECONDS by default on aws), saying so once; '' if it has not come by then."""
    if cfg.profile == "aws":
        wait = LOG_WAIT_SECONDS if wait is None else wait
        deadline = time.monotonic() + wait
        text = aws_steplogs.step_log(cfg, log_uri, cluster_id, step_id, name, lines)
        if not text and wait > 0:
            report(f"{name} of step {step_id}: not in S3 yet; waiting up to {wait:.0f} s for EMR's log pusher")
        while not text and time.monotonic() < deadline:
            time.sleep(min(LOG_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            text = aws_steplogs.step_log(cfg, log_uri, cluster_id, step_id, name, lines)
        return text
    folder = bucket.local_path(cfg.s3_dir, f"{log_uri.rstrip('/')}/{cluster_id}/steps/{step_id}/")
    return tail_log(folder / name, lines)


def results(cfg: Config, run_date: str) -> list[tuple]:
    """The EMR job's rows in `emr_table` for one date ([] before the job's first success creates the table)."""
    with connections.get(cfg, "mysql").connect() as conn, conn.cursor() as cur:
        cur.execute("select count(*) from information_schema.tables where table_name = 'emr_table'")
        if not cur.fetchone()[0]:
            return []
        cur.execute("select date, value from emr_table where date = %s", (run_date,))
        return list(cur.fetchall())
