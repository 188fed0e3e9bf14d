"""The workshop job on EMR (the `aws` profile's): the same job as `dags/airflow_workshop_job.py`, for an Airflow
node outside the cluster's VPC. After the day's rows, each run makes a small EMR cluster whose two steps import
the day with a Spark JDBC read (the same `--where`, split, `--expect-rows` and target folder) and aggregate it.
One sensor per step shows which one failed; `terminate_cluster` is the *teardown*: it runs whatever the steps
did, and clearing a sensor clears its setups (cluster, steps, step ids), so a rerun gets a new cluster.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pendulum

from airflow.providers.amazon.aws.operators.emr import (EmrAddStepsOperator, EmrCreateJobFlowOperator,
                                                         EmrTerminateJobFlowOperator)
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, task
from airflow.sdk.exceptions import AirflowFailException

log = logging.getLogger(__name__)


def interval(start, end) -> dict:
    """A macro, as in dags/airflow_workshop_job.py: the run's interval as `created` writes it, or one line."""
    if not (isinstance(start, datetime) and isinstance(end, datetime)) or start >= end:
        message = ("this run has no data interval (a manual run without a logical date): run a day as a backfill of "
                   "its date, e.g. `airflow backfill create --dag-id airflow_workshop_job --from-date 2021-01-02 "
                   "--to-date 2021-01-02`, or trigger it in the UI with a logical date")
        log.info("::endgroup::")
        log.error(message)
        raise AirflowFailException(message)
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    return {"start": f"{start:%Y-%m-%d %H:%M}", "end": f"{end:%Y-%m-%d %H:%M}", "ds": f"{start:%Y-%m-%d}"}


def day_count(cursor) -> str | None:
    """The SQL task's handler (after each statement): the last one's count, as `--expect-rows` takes it."""
    return str(cursor.fetchone()[0]) if cursor.description else None


def var(name: str) -> str:
    """A variable as a template: read when the task runs, never when the file is parsed."""
    return "{{ var.value.%s }}" % name


RUN = "{% set run = interval(data_interval_start, data_interval_end) %}"
WHERE = "created >= '{{ run.start }}' and created < '{{ run.end }}'"
OUT = var("LANDING_ZONE") + "/{{ dag.dag_id }}"      # the client job's folders (the same dag_id)
LANDED = OUT + "/tbl_airflow_dummy_daily/ds={{ run.ds }}"
SOURCE = ("jdbc:postgresql://{{ conn.postgres_default.host }}:{{ conn.postgres_default.port }}"
          "/{{ conn.postgres_default.schema }}" + var("POSTGRES_JDBC_PARAMETERS"))    # TLS on aws, none on the lab
NODE = {"Market": "ON_DEMAND", "InstanceType": var("EMR_INSTANCE_TYPE"), "InstanceCount": 1}
JOB_FLOW_OVERRIDES = {
    "Name": RUN + "airflow_workshop_job {{ run.ds }}",
    "ReleaseLabel": var("EMR_RELEASE_LABEL"), "LogUri": var("EMR_LOG_URI"), "Applications": [{"Name": "Spark"}],
    "Instances": {
        "InstanceGroups": [{"Name": "Primary", **NODE, "InstanceRole": "MASTER"},
                           {"Name": "Core", **NODE, "InstanceRole": "CORE"}],
        "KeepJobFlowAliveWhenNoSteps": True, "TerminationProtected": False,   # created empty: steps come next
        "Ec2SubnetId": var("SUBNET_ID"), "EmrManagedMasterSecurityGroup": var("EMR_MASTER_SECURITY_GROUP"),
        "EmrManagedSlaveSecurityGroup": var("EMR_SLAVE_SECURITY_GROUP")},
    "AutoTerminationPolicy": {"IdleTimeout": 900},     # a forgotten cluster stops itself after 15 idle minutes
    # a hung step stops billing without Airflow: YARN ends an application older than this, then the cluster idles
    "Configurations": [{"Classification": "capacity-scheduler", "Properties": {
        "yarn.scheduler.capacity.root.default.maximum-application-lifetime": var("EMR_STEP_LIFETIME_SECONDS")}}],
    "JobFlowRole": var("EMR_INSTANCE_PROFILE"), "ServiceRole": var("EMR_SERVICE_ROLE"), "VisibleToAllUsers": True,
    "Tags": [{"Key": var("LAB_TAG_KEY"), "Value": var("LAB_TAG_VALUE")},
             {"Key": var("EMR_MANAGED_TAG_KEY"), "Value": var("EMR_MANAGED_TAG_VALUE")}],
}


def step(name: str, on_failure: str, args: list) -> dict:
    """A spark-submit step, one YARN attempt (YARN would give a failed cluster-mode application a second)."""
    submit = ["spark-submit", "--deploy-mode", "cluster", "--conf", "spark.yarn.maxAppAttempts=1"]
    return {"Name": RUN + name + " {{ run.ds }}", "ActionOnFailure": on_failure,
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": submit + args}}


@task(multiple_outputs=True)
def name_steps(step_ids: list[str]) -> dict[str, str]:
    """The step ids `add_steps` returned, by name (each sensor takes its own as an XComArg)."""
    return dict(zip(("import", "aggregate"), step_ids, strict=True))


def poke_interval_from_variable(context) -> None:
    """Poll every EMR_POKE_INTERVAL seconds (2 on the lab, 60 on AWS), read when the sensor starts."""
    context["task"].poke_interval = float(context["var"]["value"].EMR_POKE_INTERVAL)


with DAG(
    dag_id="airflow_workshop_job",
    description="Every day: that day's rows in PostgreSQL, imported and aggregated by steps of an EMR cluster",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,                 # one cluster at a time: each counts against the account's vCPU quota
    user_defined_macros={"interval": interval},
    default_args={"owner": "lab", "retries": 1, "retry_delay": timedelta(seconds=30)},
    tags=["workshop", "postgres", "spark", "emr"],
    doc_md=__doc__,
) as dag:
    generate_interval_rows = SQLExecuteQueryOperator(
        task_id="generate_interval_rows",
        conn_id="postgres_default",
        sql="sql/generate_interval_rows.sql",
        split_statements=True,
        handler=day_count,
    )

    create_cluster = EmrCreateJobFlowOperator(
        task_id="create_cluster",
        job_flow_overrides=JOB_FLOW_OVERRIDES,
        emr_conn_id=None,                              # the whole configuration is JOB_FLOW_OVERRIDES
    )

    add_steps = EmrAddStepsOperator(
        task_id="add_steps",
        job_flow_id=create_cluster.output,
        steps=[
            step("import_interval", "CANCEL_AND_WAIT", [          # a failed import cancels the aggregation
                "--jars", var("POSTGRES_JDBC_JAR_PATH"), var("SPARK_JOBS_PATH") + "/import_interval.py",
                "--jdbc-url", SOURCE, "--credentials", var("WORKSHOP_JDBC_CREDENTIALS"),   # a secret's name
                "--table", "tbl_airflow_dummy_daily", "--where", RUN + WHERE,
                "--split-by", "id", "--num-mappers", "2",
                "--expect-rows", generate_interval_rows.output,   # task 1's count: an XComArg, resolved when it runs
                "--target-dir", RUN + LANDED]),
            step("aggregate_dummy", "CONTINUE", [                 # the teardown terminates the cluster either way
                var("SPARK_JOBS_PATH") + "/aggregate_dummy.py",
                "--input", RUN + LANDED, "--output", OUT + "/aggregates", "--run-date", RUN + "{{ run.ds }}"]),
        ],
    )
    step_ids = name_steps(add_steps.output)

    watch_import, watch_aggregate = (
        EmrStepSensor(task_id=f"watch_{name}", job_flow_id=create_cluster.output, step_id=step_ids[name],
                      pre_execute=poke_interval_from_variable, timeout=60 * 60,
                      retry_delay=timedelta(seconds=5))   # a FAILED step stays FAILED: the retry covers API hiccups
        for name in ("import", "aggregate")
    )

    terminate_cluster = EmrTerminateJobFlowOperator(
        task_id="terminate_cluster",
        job_flow_id=create_cluster.output,
        retries=8, retry_delay=timedelta(seconds=10),   # the cluster's only way out, while the EMR API may be away:
        retry_exponential_backoff=2.0, max_retry_delay=timedelta(minutes=2),     # 10 s up to 2 min, ~10 min in all
    )

    generate_interval_rows >> create_cluster
    watch_import >> watch_aggregate >> terminate_cluster.as_teardown(setups=[create_cluster, add_steps, step_ids])
