"""my_emr_job: your own ephemeral EMR job (notebook 08), built from this skeleton.

The same cluster, step and sensor as the reference `emr_ephemeral_job`, with three things left for you:

- 08.1: the cluster id and the step id travel as XComArgs (`create_cluster.output`), not `xcom_pull` strings;
- 08.2: the cluster is always terminated: `terminate_cluster` is the *teardown* of `create_cluster`;
- 08.3: the sensor waits on the triggerer (deferrable), not in a worker slot.

`exercises.check("08.N")` in the notebook says what is still missing.
"""
from __future__ import annotations

from datetime import datetime

from airflow.providers.amazon.aws.operators.emr import (
    EmrAddStepsOperator,
    EmrCreateJobFlowOperator,
    EmrTerminateJobFlowOperator,
)
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.sdk import DAG, Param, task

# A manual run has no logical date in Airflow 3: then the run's date is the day it was triggered (run_after).
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"
RAW_DATA = "{{ params.raw_data_path or var.value.RAW_DATA_PATH }}"
INSTANCE = {"Market": "ON_DEMAND", "InstanceType": "{{ var.value.EMR_INSTANCE_TYPE }}", "InstanceCount": 1}

JOB_FLOW_OVERRIDES = {
    "Name": f"my_emr_job {RUN_DATE}",
    "ReleaseLabel": "{{ var.value.EMR_RELEASE_LABEL }}",
    "LogUri": "{{ var.value.EMR_LOG_URI }}",
    "Applications": [{"Name": "Spark"}],
    "Instances": {
        "InstanceGroups": [{"Name": "Primary", "InstanceRole": "MASTER", **INSTANCE},
                           {"Name": "Core", "InstanceRole": "CORE", **INSTANCE}],
        "KeepJobFlowAliveWhenNoSteps": True,           # created empty: add_step gives it its step
        "TerminationProtected": False,
        "Ec2SubnetId": "{{ var.value.SUBNET_ID }}",
        "EmrManagedMasterSecurityGroup": "{{ var.value.EMR_MASTER_SECURITY_GROUP }}",
        "EmrManagedSlaveSecurityGroup": "{{ var.value.EMR_SLAVE_SECURITY_GROUP }}",
    },
    "AutoTerminationPolicy": {"IdleTimeout": 900},     # a forgotten cluster stops itself after 15 idle minutes
    "JobFlowRole": "{{ var.value.EMR_INSTANCE_PROFILE }}",
    "ServiceRole": "{{ var.value.EMR_SERVICE_ROLE }}",
    "Tags": [{"Key": "{{ var.value.LAB_TAG_KEY }}", "Value": "{{ var.value.LAB_TAG_VALUE }}"},
             {"Key": "{{ var.value.EMR_MANAGED_TAG_KEY }}", "Value": "{{ var.value.EMR_MANAGED_TAG_VALUE }}"}],
}

SPARK_STEPS = [{
    "Name": f"retail_quantity {RUN_DATE}",
    "ActionOnFailure": "CONTINUE",
    "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [
        "spark-submit", "--deploy-mode", "cluster", "--jars", "{{ var.value.JDBC_JAR_PATH }}",
        "{{ var.value.SPARK_JOBS_PATH }}/retail_quantity.py", "--input", RAW_DATA,
        "--jdbc-url", "jdbc:mysql://{{ var.value.AURORA_ENDPOINT }}/airflow{{ var.value.MYSQL_JDBC_PARAMETERS }}",
        "--table", "emr_table",
        "--credentials", "{{ var.value.EMR_JDBC_CREDENTIALS }}", "--run-date", RUN_DATE,
    ]},
}]


def poll_from_variable(context) -> None:
    """Poll every EMR_POKE_INTERVAL seconds (2 on the lab, 60 on AWS), up to the sensor's timeout."""
    sensor = context["task"]
    sensor.poke_interval = float(context["var"]["value"].EMR_POKE_INTERVAL)
    sensor.max_attempts = int(sensor.timeout // sensor.poke_interval)     # a deferred sensor's own limit


@task
def first_step(step_ids: list[str]) -> str:
    """add_step returns the list of the step ids it added; the sensor watches the first."""
    return step_ids[0]


with DAG(
    dag_id="my_emr_job",
    description="My ephemeral EMR cluster: one spark-submit step (sum of Quantity -> MySQL emr_table)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "me", "retries": 0},              # a failed step fails at once (the reference retries once)
    params={"raw_data_path": Param(None, type=["null", "string"], description="this run's input, if not RAW_DATA_PATH")},
    tags=["emr", "workspace"],
    doc_md=__doc__,
) as dag:
    create_cluster = EmrCreateJobFlowOperator(
        task_id="create_cluster",
        job_flow_overrides=JOB_FLOW_OVERRIDES,
        aws_conn_id="aws_default",
        emr_conn_id=None,
    )

    # [TODO 08.1] Pass the cluster id (create_cluster.output) and the step id (first_step(add_step.output)) as XComArgs.
    add_step = EmrAddStepsOperator(
        task_id="add_step",
        job_flow_id="{{ ti.xcom_pull(task_ids='create_cluster') }}",
        steps=SPARK_STEPS,
        aws_conn_id="aws_default",
    )
    cluster_id = "{{ ti.xcom_pull(task_ids='create_cluster') }}"
    step_id = "{{ ti.xcom_pull(task_ids='add_step')[0] }}"
    create_cluster >> add_step
    # [END TODO 08.1]

    monitor_step = EmrStepSensor(
        task_id="monitor_step",
        job_flow_id=cluster_id,
        step_id=step_id,
        # [TODO 08.3] Wait on the triggerer, not in a worker slot.
        # [END TODO 08.3]
        aws_conn_id="aws_default",
        pre_execute=poll_from_variable,
        timeout=60 * 60,
    )
    add_step >> monitor_step

    # [TODO 08.2] Terminate the cluster (EmrTerminateJobFlowOperator) as the teardown of create_cluster, after the sensor.
    pass
    # [END TODO 08.2]
