"""
### The workshop job, on EMR (the `aws` profile's)

The same job as `dags/airflow_workshop_job.py`, for a machine outside the cluster's VPC: this Airflow node
is only an API client, and each daily run makes a small EMR cluster that runs the two heavy steps.

1. `generate_interval_rows`: the run's rows into `tbl_airflow_dummy_daily` (the same SQL file).
2. `create_cluster` (a primary and a core node), then `add_steps`: `import_interval` (the import as a Spark
   JDBC read: the same `--where`, split, `--expect-rows` and target folder) and `aggregate_dummy`.
3. `watch_import` and `watch_aggregate`, one sensor per step, so the graph shows which one failed.
4. `terminate_cluster`, the *teardown* of the cluster: it runs whatever the steps did, and the run's state is
   still the steps'. Clearing a sensor clears its setups too, so a rerun gets a new cluster with its steps.

Each run replaces exactly its data interval's rows, folder and partition, as the client job does, in the
same folders, so a run of either can be checked or rerun by the other. No host, path or password is in
this file: connections and variables (rendered when a task runs) only.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pendulum

from airflow.providers.amazon.aws.operators.emr import (
    EmrAddStepsOperator,
    EmrCreateJobFlowOperator,
    EmrTerminateJobFlowOperator,
)
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, task
from airflow.sdk.exceptions import AirflowFailException

log = logging.getLogger(__name__)


def interval(start, end) -> dict:
    """A macro: the run's data interval as `created` writes a minute ('YYYY-MM-DD HH24:MI', UTC), and its day.

    A run without a whole interval fails at once, without a retry, with one line first in its log."""
    if not (isinstance(start, datetime) and isinstance(end, datetime)) or start >= end:
        message = ("this run has no data interval (a manual run without a logical date): run a day as a backfill of "
                   "its date, e.g. `airflow backfill create --dag-id airflow_workshop_job --from-date 2021-01-02 "
                   "--to-date 2021-01-02`, or trigger it in the UI with a logical date")
        log.info("::endgroup::")
        log.error(message)
        raise AirflowFailException(message)
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    return {"start": f"{start:%Y-%m-%d %H:%M}", "end": f"{end:%Y-%m-%d %H:%M}", "ds": f"{start:%Y-%m-%d}"}


RUN = "{% set run = interval(data_interval_start, data_interval_end) %}"
WHERE = "created >= '{{ run.start }}' and created < '{{ run.end }}'"
# The client job's folders (its dag_id), so that both jobs land the same day in the same place.
OUT = "{{ var.value.LANDING_ZONE }}/{{ dag.dag_id }}"
LANDED = OUT + "/tbl_airflow_dummy_daily/ds={{ run.ds }}"
# POSTGRES_JDBC_PARAMETERS: TLS on aws (the login crosses the network), empty on the lab.
SOURCE = ("jdbc:postgresql://{{ conn.postgres_default.host }}:{{ conn.postgres_default.port }}"
          "/{{ conn.postgres_default.schema }}{{ var.value.POSTGRES_JDBC_PARAMETERS }}")
# Each step is one YARN attempt: by default YARN gives a failed cluster-mode application a second one.
SPARK_SUBMIT = ["spark-submit", "--deploy-mode", "cluster", "--conf", "spark.yarn.maxAppAttempts=1"]

JOB_FLOW_OVERRIDES = {
    "Name": RUN + "airflow_workshop_job {{ run.ds }}",
    "ReleaseLabel": "{{ var.value.EMR_RELEASE_LABEL }}",
    "LogUri": "{{ var.value.EMR_LOG_URI }}",
    "Applications": [{"Name": "Spark"}],
    "Instances": {
        "InstanceGroups": [
            {"Name": "Primary", "Market": "ON_DEMAND", "InstanceRole": "MASTER",
             "InstanceType": "{{ var.value.EMR_INSTANCE_TYPE }}", "InstanceCount": 1},
            {"Name": "Core", "Market": "ON_DEMAND", "InstanceRole": "CORE",
             "InstanceType": "{{ var.value.EMR_INSTANCE_TYPE }}", "InstanceCount": 1},
        ],
        "KeepJobFlowAliveWhenNoSteps": True,           # created empty: the next task adds the steps
        "TerminationProtected": False,
        "Ec2SubnetId": "{{ var.value.SUBNET_ID }}",
        "EmrManagedMasterSecurityGroup": "{{ var.value.EMR_MASTER_SECURITY_GROUP }}",
        "EmrManagedSlaveSecurityGroup": "{{ var.value.EMR_SLAVE_SECURITY_GROUP }}",
    },
    "AutoTerminationPolicy": {"IdleTimeout": 900},     # a forgotten cluster stops itself after 15 idle minutes
    # A hung step stops billing without Airflow: YARN ends an application older than this, then the idle cluster
    # ends itself (AutoTerminationPolicy)
    "Configurations": [{"Classification": "capacity-scheduler", "Properties": {
        "yarn.scheduler.capacity.root.default.maximum-application-lifetime":
            "{{ var.value.EMR_STEP_LIFETIME_SECONDS }}"}}],
    "JobFlowRole": "{{ var.value.EMR_INSTANCE_PROFILE }}",
    "ServiceRole": "{{ var.value.EMR_SERVICE_ROLE }}",
    "VisibleToAllUsers": True,
    "Tags": [{"Key": "{{ var.value.LAB_TAG_KEY }}", "Value": "{{ var.value.LAB_TAG_VALUE }}"},
             {"Key": "{{ var.value.EMR_MANAGED_TAG_KEY }}", "Value": "{{ var.value.EMR_MANAGED_TAG_VALUE }}"}],
}

STEPS = [
    {
        "Name": RUN + "import_interval {{ run.ds }}",
        "ActionOnFailure": "CANCEL_AND_WAIT",          # a failed import cancels the aggregation behind it
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": SPARK_SUBMIT + [
            "--jars", "{{ var.value.POSTGRES_JDBC_JAR_PATH }}",
            "{{ var.value.SPARK_JOBS_PATH }}/import_interval.py",
            "--jdbc-url", SOURCE,
            # a read-only login's secret, read by the step itself: never on its command line
            "--credentials", "{{ var.value.WORKSHOP_JDBC_CREDENTIALS }}",
            "--table", "tbl_airflow_dummy_daily", "--where", RUN + WHERE, "--split-by", "id", "--num-mappers", "2",
            "--expect-rows", "{{ ti.xcom_pull(task_ids='generate_interval_rows')[0][0] }}",
            "--target-dir", RUN + LANDED,
        ]},
    },
    {
        "Name": RUN + "aggregate_dummy {{ run.ds }}",
        "ActionOnFailure": "CONTINUE",                 # the teardown terminates the cluster either way
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": SPARK_SUBMIT + [
            "{{ var.value.SPARK_JOBS_PATH }}/aggregate_dummy.py",
            "--input", RUN + LANDED, "--output", OUT + "/aggregates", "--run-date", RUN + "{{ run.ds }}",
        ]},
    },
]


@task(multiple_outputs=True)
def name_steps(step_ids: list[str]) -> dict[str, str]:
    """The step ids `add_steps` returned, by name (each sensor takes its own as an XComArg)."""
    return dict(zip(("import", "aggregate"), step_ids, strict=True))


def poke_interval_from_variable(context) -> None:
    """A sensor polls every EMR_POKE_INTERVAL seconds (2 on the lab, 60 on AWS): not a templated field, so
    it is set when the sensor starts (a Variable read at parse time would query the database on every parse)."""
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
    )

    create_cluster = EmrCreateJobFlowOperator(
        task_id="create_cluster",
        job_flow_overrides=JOB_FLOW_OVERRIDES,
        aws_conn_id="aws_default",
        emr_conn_id=None,                              # the whole configuration is JOB_FLOW_OVERRIDES
    )

    add_steps = EmrAddStepsOperator(
        task_id="add_steps",
        job_flow_id=create_cluster.output,
        steps=STEPS,
        aws_conn_id="aws_default",
    )
    step_ids = name_steps(add_steps.output)

    watch_import, watch_aggregate = (
        EmrStepSensor(
            task_id=f"watch_{name}",
            job_flow_id=create_cluster.output,
            step_id=step_ids[name],
            aws_conn_id="aws_default",
            pre_execute=poke_interval_from_variable,
            timeout=60 * 60,
            retry_delay=timedelta(seconds=5),          # a FAILED step stays FAILED: the retry covers API hiccups
        )
        for name in ("import", "aggregate")
    )

    terminate_cluster = EmrTerminateJobFlowOperator(
        task_id="terminate_cluster",
        job_flow_id=create_cluster.output,
        aws_conn_id="aws_default",
        # the cluster's only way out: the EMR API may be away for minutes (the lab's endpoint crashed and waits for
        # `labkit up`; on AWS an outage or throttling), so retries back off from 10 s to 2 min, ~10 minutes in all
        retries=8,
        retry_delay=timedelta(seconds=10),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=2),
    )

    generate_interval_rows >> create_cluster
    watch_import >> watch_aggregate
    # The teardown of everything a rerun must redo: clearing a sensor clears these setups, so the rerun gets a
    # new cluster, its steps and their ids (with create_cluster alone, the sensors would watch old step ids).
    watch_aggregate >> terminate_cluster.as_teardown(setups=[create_cluster, add_steps, step_ids])
