"""my_emr_job: your own ephemeral EMR job (notebook 08), one task at a time.

Given: the cluster (JOB_FLOW_OVERRIDES), the Spark step (SPARK_STEPS), their settings as templates of Variables,
and two helpers. Yours: the tasks, under `with DAG(...)`:

- 08.1: create_cluster, and terminate_cluster as its teardown (the cluster is always ended);
- 08.2: add_step between them: the step that writes the day's sum of Quantity to MySQL;
- 08.3: monitor_step, a deferrable sensor that waits for the step on the triggerer.

`exercises.check("08.N")` in the notebook runs your tasks and says what they did wrong, if anything.
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
    """A sensor's pre_execute (08.3): poll every EMR_POKE_INTERVAL seconds (2 on the lab, 60 on AWS)."""
    sensor = context["task"]
    sensor.poke_interval = float(context["var"]["value"].EMR_POKE_INTERVAL)
    sensor.max_attempts = int(sensor.timeout // sensor.poke_interval)     # a deferred sensor's own limit


@task
def first_step(step_ids: list[str]) -> str:
    """add_step returns the list of the step ids it added; a sensor watches one (08.3)."""
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
    pass             # your tasks: replace this line (08.1, 08.2, 08.3)
