terminate_cluster = EmrTerminateJobFlowOperator(
    task_id="terminate_cluster",
    job_flow_id=cluster_id,
    aws_conn_id="aws_default",
)
# Runs once create_cluster succeeded, whatever the step did; a failed sensor still fails the run.
monitor_step >> terminate_cluster.as_teardown(setups=create_cluster)
