AGGREGATES = Asset(name="my_workshop_job_aggregates")

spark_aggregate_dummy = SparkSubmitOperator(
    task_id="spark_aggregate_dummy",
    conn_id="spark_default",            # its host is the master: the client configuration's (local[*] here)
    application="{{ var.value.SPARK_JOBS_DIR }}/aggregate_dummy.py",
    name="aggregate_dummy",
    application_args=["--input", RUN + LANDED, "--output", OUT + "/aggregates", "--run-date", RUN + "{{ run.ds }}"],
    outlets=[AGGREGATES],               # a successful run updates the Asset: its consumers are scheduled
)
reconciled >> spark_aggregate_dummy
