"""The ephemeral EMR job: create a cluster, run one Spark step, watch it, always terminate the cluster.

The seed's `EMR_SCHEDULING_DAG` (start_job -> CREATE_EMR_CLUSTER -> ADD_EMR_STEP -> MONITOR_EMR_STEP ->
TERMINATE_CLUSTER -> end_job) for Airflow 3, with what the seed got wrong fixed (notebook 08 shows each):
settings are templates rendered when a task runs (no `Variable.get` at parse time); the cluster and step ids
travel as XComArgs; `terminate_cluster` is the *teardown* of the cluster and its step, so it runs when the step
fails too, and `end_job` still fails the run; no password is in the step's arguments (the job reads its login
from where `EMR_JDBC_CREDENTIALS` points). The same file runs on the lab (a local EMR-compatible endpoint that
runs the step on local Spark) and on AWS: only the `aws_default` connection and the variables differ.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.amazon.aws.operators.emr import (EmrAddStepsOperator, EmrCreateJobFlowOperator,
                                                         EmrTerminateJobFlowOperator)
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param, task


def var(name: str) -> str:
    """A variable as a template: read when the task runs, never when the file is parsed."""
    return "{{ var.value.%s }}" % name


RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"       # a manual run without one: its day
# The raw data: the RAW_DATA_PATH variable, unless a run is given another path (notebook 08 breaks one run so).
RAW_DATA = "{{ params.raw_data_path or var.value.RAW_DATA_PATH }}"
NODE = {"Market": "ON_DEMAND", "InstanceType": var("EMR_INSTANCE_TYPE"), "InstanceCount": 1}

JOB_FLOW_OVERRIDES = {
    "Name": f"emr_ephemeral_job {RUN_DATE}",
    "ReleaseLabel": var("EMR_RELEASE_LABEL"),                      # EMR 7: Spark 3.5
    "LogUri": var("EMR_LOG_URI"),                # step logs: <LogUri>/<cluster-id>/steps/<step-id>/
    "Applications": [{"Name": "Spark"}],
    "Instances": {
        "InstanceGroups": [{"Name": "Primary", **NODE, "InstanceRole": "MASTER"},     # the seed's three groups
                           {"Name": "Core", **NODE, "InstanceRole": "CORE"},
                           {"Name": "Task", **NODE, "InstanceRole": "TASK"}],
        "KeepJobFlowAliveWhenNoSteps": True, "TerminationProtected": False,   # created empty: a step comes next
        "Ec2SubnetId": var("SUBNET_ID"),
        "EmrManagedMasterSecurityGroup": var("EMR_MASTER_SECURITY_GROUP"),
        "EmrManagedSlaveSecurityGroup": var("EMR_SLAVE_SECURITY_GROUP"),
    },
    "AutoTerminationPolicy": {"IdleTimeout": 900},     # seconds idle before EMR ends a forgotten cluster
    # a hung step stops billing without Airflow: YARN ends an application older than this, then the cluster idles
    "Configurations": [{"Classification": "capacity-scheduler", "Properties": {
        "yarn.scheduler.capacity.root.default.maximum-application-lifetime": var("EMR_STEP_LIFETIME_SECONDS")}}],
    "JobFlowRole": var("EMR_INSTANCE_PROFILE"), "ServiceRole": var("EMR_SERVICE_ROLE"),
    "VisibleToAllUsers": True,
    "Tags": [{"Key": var("LAB_TAG_KEY"), "Value": var("LAB_TAG_VALUE")},          # teardown finds it by this
             {"Key": var("EMR_MANAGED_TAG_KEY"), "Value": var("EMR_MANAGED_TAG_VALUE")}],   # EMR's v2 policy asks it
}

SPARK_STEPS = [{
    "Name": f"retail_quantity {RUN_DATE}",
    "ActionOnFailure": "CONTINUE",                     # the teardown terminates the cluster either way
    "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [
        "spark-submit", "--deploy-mode", "cluster", "--jars", var("JDBC_JAR_PATH"),
        var("SPARK_JOBS_PATH") + "/retail_quantity.py", "--input", RAW_DATA,
        # TLS on aws (MYSQL_JDBC_PARAMETERS), nothing added on the lab's MariaDB
        "--jdbc-url", "jdbc:mysql://" + var("AURORA_ENDPOINT") + "/airflow" + var("MYSQL_JDBC_PARAMETERS"),
        "--table", "emr_table", "--credentials", var("EMR_JDBC_CREDENTIALS"), "--run-date", RUN_DATE,
    ]},
}]


def print_arguments(**settings: str) -> None:
    """What the run will use (the seed's start_job printed its variables)."""
    for name, value in settings.items():
        print(f"{name} = {value}")


@task
def first_step(step_ids: list[str]) -> str:
    """add_emr_step returns the ids of the steps it added: the sensor watches the first (and only) one."""
    return step_ids[0]


def poke_interval_from_variable(context) -> None:
    """Poll every EMR_POKE_INTERVAL seconds (2 on the lab, 60 on AWS), read when the sensor starts."""
    context["task"].poke_interval = float(context["var"]["value"].EMR_POKE_INTERVAL)


with DAG(
    dag_id="emr_ephemeral_job",
    description="Ephemeral EMR cluster: one spark-submit step (sum of Quantity -> MySQL emr_table)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,                                 # one cluster at a time; reruns replace the date's row
    dagrun_timeout=timedelta(hours=2),
    default_args={"owner": "lab", "retries": 1, "retry_delay": timedelta(seconds=30)},
    params={"raw_data_path": Param(None, type=["null", "string"],
                                   description="read the raw data from here instead of RAW_DATA_PATH (this run only)")},
    tags=["emr", "workshop-2"],
    doc_md=__doc__,
) as dag:
    start_job = PythonOperator(
        task_id="start_job",
        python_callable=print_arguments,
        op_kwargs={"RAW_DATA_PATH": RAW_DATA, "S3_PATH": var("S3_PATH"), "SUBNET_ID": var("SUBNET_ID"),
                   "AURORA_ENDPOINT": var("AURORA_ENDPOINT"), "RUN_DATE": RUN_DATE},
    )

    create_emr_cluster = EmrCreateJobFlowOperator(
        task_id="create_emr_cluster",
        job_flow_overrides=JOB_FLOW_OVERRIDES,
        aws_conn_id="aws_default",
        emr_conn_id=None,                              # the whole configuration is JOB_FLOW_OVERRIDES
    )

    add_emr_step = EmrAddStepsOperator(
        task_id="add_emr_step",
        job_flow_id=create_emr_cluster.output,
        steps=SPARK_STEPS,
        aws_conn_id="aws_default",
    )
    step_id = first_step(add_emr_step.output)

    monitor_emr_step = EmrStepSensor(
        task_id="monitor_emr_step",
        job_flow_id=create_emr_cluster.output,
        step_id=step_id,
        aws_conn_id="aws_default",
        pre_execute=poke_interval_from_variable,
        timeout=60 * 60,
        retry_delay=timedelta(seconds=5),              # a FAILED step stays FAILED: the retry covers API hiccups
    )

    terminate_cluster = EmrTerminateJobFlowOperator(
        task_id="terminate_cluster",
        job_flow_id=create_emr_cluster.output,
        aws_conn_id="aws_default",
        # the cluster's only way out, while the EMR API may be away for minutes: 10 s to 2 min, ~10 minutes in all
        retries=8,
        retry_delay=timedelta(seconds=10),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=2),
    )

    end_job = EmptyOperator(task_id="end_job")

    start_job >> create_emr_cluster
    # Clearing the sensor clears the teardown's setups too: a new cluster, its step, the new step id.
    monitor_emr_step >> terminate_cluster.as_teardown(setups=[create_emr_cluster, add_emr_step, step_id])
    # end_job waits for both, so a failed step fails the run (and the cluster is gone by then).
    [monitor_emr_step, terminate_cluster] >> end_job
