add_step = EmrAddStepsOperator(
    task_id="add_step",
    job_flow_id=create_cluster.output,       # the cluster id create_cluster returned: Airflow sets the order
    steps=SPARK_STEPS,
    aws_conn_id="aws_default",
)
cluster_id = create_cluster.output
step_id = first_step(add_step.output)        # a TaskFlow task between them: the first of the step ids
