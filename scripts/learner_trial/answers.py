"""A learner's own answers to 07 and 08 (own names and style, not the solutions), as TODO-block bodies."""
W = {
"07.1": """    chain(generate_interval_rows, sqoop_import_interval)
""",
"07.2": """SCHEDULE = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")
WHERE = "created >= '{{ run.start }}' AND created < '{{ run.end }}'"
""",
"07.3": """    @task
    def reconcile_day(pg_result, sqoop_line: str) -> int:
        want = int(pg_result[0][0])
        got = int(re.search(r"Retrieved ([0-9,]+) records", sqoop_line).group(1).replace(",", ""))
        if got != want:
            raise ValueError(f"counts differ: postgres {want}, landed {got}")
        return got

    reconciled = reconcile_day(generate_interval_rows.output, sqoop_import_interval.output)
""",
"07.4": """    AGGREGATES = Asset(name="my_workshop_job_aggregates")
    aggregate = SparkSubmitOperator(
        task_id="spark_aggregate_dummy",
        conn_id="spark_default",
        application="{{ var.value.SPARK_JOBS_DIR }}/aggregate_dummy.py",
        application_args=["--input", RUN + LANDED, "--output", RUN + OUT + "/aggregates",
                          "--run-date", RUN + "{{ run.ds }}"],
        outlets=[AGGREGATES],
    )
    reconciled >> aggregate
""",
"07.5": """with DAG(dag_id="my_workshop_report", schedule=[AGGREGATES], start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
         tags=["exercise"]):
    @task
    def print_events(triggering_asset_events=None):
        for asset, evs in (triggering_asset_events or {}).items():
            for ev in evs:
                print("new aggregates from", ev.source_run_id)

    print_events()
""",
}
E = {
"08.1": """    add_step = EmrAddStepsOperator(
        task_id="add_step",
        job_flow_id=create_cluster.output,
        steps=SPARK_STEPS,
        aws_conn_id="aws_default",
    )
    cluster_id = create_cluster.output
    step_id = first_step(add_step.output)
""",
"08.3": """        deferrable=True,
""",
"08.2": """    stop_it = EmrTerminateJobFlowOperator(task_id="terminate_cluster", job_flow_id=cluster_id,
                                          aws_conn_id="aws_default")
    monitor_step >> stop_it.as_teardown(setups=create_cluster)
""",
}
import re


def fill(text: str, blocks: dict, upto: list[str]) -> str:
    """The skeleton text with the given TODO blocks' bodies replaced by the learner's answers."""
    for key in upto:
        pat = re.compile(r"(^[ \t]*# \[TODO %s\][^\n]*\n)(.*?)(^[ \t]*# \[END TODO %s\])" % (re.escape(key), re.escape(key)),
                         re.S | re.M)
        assert pat.search(text), key
        text = pat.sub(lambda m: m.group(1) + blocks[key] + m.group(3), text, count=1)
    return text
