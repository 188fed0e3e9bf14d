"""The ephemeral EMR job: create a cluster, run one Spark step, watch it, always terminate the cluster.

The seed's `EMR_SCHEDULING_DAG` (start_job -> CREATE_EMR_CLUSTER -> ADD_EMR_STEP -> MONITOR_EMR_STEP ->
TERMINATE_CLUSTER -> end_job) for Airflow 3, with what the seed got wrong fixed:

- no `Variable.get` at parse time: every setting is a template (`{{ var.value.S3_PATH }}`) rendered
  when the task runs, so parsing the file never touches the database; what differs between the lab and
  AWS (the IAM roles, the security groups, the bucket) is a variable that labkit generates for the profile;
- the cluster id and the step id travel as XComArgs (`create_emr_cluster.output`, `first_step(...)`), not as
  `xcom_pull` strings: Airflow sets the order from them;
- the cluster is always terminated: TERMINATE_CLUSTER is the *teardown* of CREATE_EMR_CLUSTER (and of the tasks
  that add and name its step, so clearing the sensor redoes all three), so it runs when the step fails too,
  and the run is still marked failed (with a plain `trigger_rule="all_done"` and
  `end_job` after it, the run would end "success" although the step failed);
- `AutoTerminationPolicy`: a cluster that is forgotten anyway stops itself after 15 idle minutes;
- no password in the step's arguments: the job reads its database login from where the
  `EMR_JDBC_CREDENTIALS` variable points (the lab's private file; on AWS the job user's Secrets Manager
  secret, which the step reads itself with the node's AWS CLI: no copy in S3).

The same file runs on the lab (`local`, a local EMR-compatible endpoint that runs the step on local Spark)
and on AWS: only the `aws_default` connection and the variables differ.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.amazon.aws.operators.emr import (
    EmrAddStepsOperator,
    EmrCreateJobFlowOperator,
    EmrTerminateJobFlowOperator,
)
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param, task


def var(name: str) -> str:
    """A variable as a template: read when the task runs, never when the file is parsed."""
    return "{{ var.value.%s }}" % name


# Rendered when a task runs (never at parse time). A run triggered without a logical date uses its run day.
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"
# The raw data: the RAW_DATA_PATH variable, unless a run is given another path (notebook 08 breaks one run so).
RAW_DATA = "{{ params.raw_data_path or var.value.RAW_DATA_PATH }}"
INSTANCE_TYPE = var("EMR_INSTANCE_TYPE")

JOB_FLOW_OVERRIDES = {
    "Name": f"emr_ephemeral_job {RUN_DATE}",
    "ReleaseLabel": var("EMR_RELEASE_LABEL"),                      # EMR 7: Spark 3.5
    "LogUri": "{{ var.value.EMR_LOG_URI }}",     # step logs: <LogUri>/<cluster-id>/steps/<step-id>/
    "Applications": [{"Name": "Spark"}],
    "Instances": {
        "InstanceGroups": [   # the seed's three groups, one node each
            {"Name": "Primary", "Market": "ON_DEMAND", "InstanceRole": "MASTER",
             "InstanceType": INSTANCE_TYPE, "InstanceCount": 1},
            {"Name": "Core", "Market": "ON_DEMAND", "InstanceRole": "CORE",
             "InstanceType": INSTANCE_TYPE, "InstanceCount": 1},
            {"Name": "Task", "Market": "ON_DEMAND", "InstanceRole": "TASK",
             "InstanceType": INSTANCE_TYPE, "InstanceCount": 1},
        ],
        "KeepJobFlowAliveWhenNoSteps": True,           # created empty: the step is added by the next task
        "TerminationProtected": False,
        "Ec2SubnetId": "{{ var.value.SUBNET_ID }}",
        "EmrManagedMasterSecurityGroup": var("EMR_MASTER_SECURITY_GROUP"),
        "EmrManagedSlaveSecurityGroup": var("EMR_SLAVE_SECURITY_GROUP"),
    },
    "AutoTerminationPolicy": {"IdleTimeout": 900},     # seconds idle before EMR ends a forgotten cluster
    # A hung step stops billing without Airflow: YARN ends an application older than this, then the idle cluster
    # ends itself (AutoTerminationPolicy)
    "Configurations": [{"Classification": "capacity-scheduler", "Properties": {
        "yarn.scheduler.capacity.root.default.maximum-application-lifetime": var("EMR_STEP_LIFETIME_SECONDS")}}],
    "JobFlowRole": var("EMR_INSTANCE_PROFILE"),
    "ServiceRole": var("EMR_SERVICE_ROLE"),
    "VisibleToAllUsers": True,
    "Tags": [{"Key": var("LAB_TAG_KEY"), "Value": var("LAB_TAG_VALUE")},          # teardown finds it by this
             {"Key": var("EMR_MANAGED_TAG_KEY"), "Value": var("EMR_MANAGED_TAG_VALUE")}],   # EMR's v2 policy asks it
}

SPARK_STEPS = [
    {
        "Name": f"retail_quantity {RUN_DATE}",
        "ActionOnFailure": "CONTINUE",                 # the teardown terminates the cluster either way
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": [
                "spark-submit", "--deploy-mode", "cluster",
                "--jars", "{{ var.value.JDBC_JAR_PATH }}",
                "{{ var.value.SPARK_JOBS_PATH }}/retail_quantity.py",
                "--input", RAW_DATA,
                # TLS on aws (MYSQL_JDBC_PARAMETERS), nothing added on the lab's MariaDB
                "--jdbc-url", "jdbc:mysql://{{ var.value.AURORA_ENDPOINT }}/airflow"
                              "{{ var.value.MYSQL_JDBC_PARAMETERS }}",
                "--table", "emr_table",
                "--credentials", "{{ var.value.EMR_JDBC_CREDENTIALS }}",
                "--run-date", RUN_DATE,
            ],
        },
    }
]


def print_arguments(**settings: str) -> None:
    """What the run will use (the seed's start_job printed its variables)."""
    for name, value in settings.items():
        print(f"{name} = {value}")


@task
def first_step(step_ids: list[str]) -> str:
    """add_emr_step returns the ids of the steps it added: the sensor watches the first (and only) one."""
    return step_ids[0]


def poke_interval_from_variable(context) -> None:
    """The sensor polls every EMR_POKE_INTERVAL seconds (2 on the lab, 60 on AWS), read when it starts.

    `poke_interval` is not a templated field, and reading the variable at parse time would touch the
    database on every parse: so the value is set here, when the task starts.
    """
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
    doc_md=__doc__,                                    # the rationale above, shown on the DAG's page in the UI
) as dag:
    start_job = PythonOperator(
        task_id="start_job",
        python_callable=print_arguments,
        op_kwargs={"RAW_DATA_PATH": RAW_DATA, "S3_PATH": "{{ var.value.S3_PATH }}",
                   "SUBNET_ID": "{{ var.value.SUBNET_ID }}", "AURORA_ENDPOINT": "{{ var.value.AURORA_ENDPOINT }}",
                   "RUN_DATE": RUN_DATE},
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
        # the cluster's only way out: the EMR API may be away for minutes (the lab's endpoint crashed and waits for
        # `labkit up`; on AWS an outage or throttling), so retries back off from 10 s to 2 min, ~10 minutes in all
        retries=8,
        retry_delay=timedelta(seconds=10),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=2),
    )

    end_job = EmptyOperator(task_id="end_job")

    start_job >> create_emr_cluster
    # Teardown: runs once create_emr_cluster succeeded, whatever happened to the step. Its setups are what a rerun
    # of the sensor must redo: clearing it then makes a new cluster, adds the step and watches the new step id.
    monitor_emr_step >> terminate_cluster.as_teardown(setups=[create_emr_cluster, add_emr_step, step_id])
    # end_job waits for both, so a failed step fails the run (and the cluster is gone by then).
    [monitor_emr_step, terminate_cluster] >> end_job
