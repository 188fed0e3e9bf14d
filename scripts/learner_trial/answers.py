"""A learner's own answers to 07 and 08 (own names and style, not the solutions): 07's as TODO-block bodies, 08's as
the tasks of its growing file."""
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
# Notebook 08 grows its file one exercise at a time: each answer is the whole body of the `with DAG(...)` block,
# which replaces the starting file's `pass` line (grow()).
E = {
"08.1": """    make_it = EmrCreateJobFlowOperator(task_id="create_cluster", job_flow_overrides=JOB_FLOW_OVERRIDES,
                                       aws_conn_id="aws_default", emr_conn_id=None)
    stop_it = EmrTerminateJobFlowOperator(task_id="terminate_cluster", job_flow_id=make_it.output,
                                          aws_conn_id="aws_default")
    make_it >> stop_it.as_teardown(setups=make_it)
""",
"08.2": """    make_it = EmrCreateJobFlowOperator(task_id="create_cluster", job_flow_overrides=JOB_FLOW_OVERRIDES,
                                       aws_conn_id="aws_default", emr_conn_id=None)
    step = EmrAddStepsOperator(task_id="add_step", job_flow_id=make_it.output, steps=SPARK_STEPS,
                               aws_conn_id="aws_default", wait_for_completion=True, waiter_delay=3)
    stop_it = EmrTerminateJobFlowOperator(task_id="terminate_cluster", job_flow_id=make_it.output,
                                          aws_conn_id="aws_default")
    step >> stop_it.as_teardown(setups=make_it)
""",
"08.3": """    make_it = EmrCreateJobFlowOperator(task_id="create_cluster", job_flow_overrides=JOB_FLOW_OVERRIDES,
                                       aws_conn_id="aws_default", emr_conn_id=None)
    step = EmrAddStepsOperator(task_id="add_step", job_flow_id=make_it.output, steps=SPARK_STEPS,
                               aws_conn_id="aws_default")
    wait = EmrStepSensor(task_id="monitor_step", job_flow_id=make_it.output, step_id=first_step(step.output),
                         aws_conn_id="aws_default", pre_execute=poll_from_variable, timeout=3600, deferrable=True)
    stop_it = EmrTerminateJobFlowOperator(task_id="terminate_cluster", job_flow_id=make_it.output,
                                          aws_conn_id="aws_default")
    wait >> stop_it.as_teardown(setups=make_it)
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


def grow(text: str, body: str) -> str:
    """08's starting file with its `pass` line (no task yet) replaced by the learner's tasks."""
    lines = text.splitlines(keepends=True)
    [at] = [i for i, line in enumerate(lines) if line.startswith("    pass ")]
    return "".join(lines[:at]) + body + "".join(lines[at + 1:])
