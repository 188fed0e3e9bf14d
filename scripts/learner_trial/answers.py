"""A learner's own answers to 04-08 (own names and style, not the solutions): 04-06's as whole files with a
plausible mistake first (G), 07's as TODO-block bodies (W), 08's as the tasks of its growing file (E)."""
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


# The growth exercises of 04-06 (whole files: the learner edits their own my_workshop_job.py). Each is a list of
# attempts in order: the first ones are plausible mistakes a learner makes, the last is their working answer.
_HEAD = '''"""My workshop job, one task per notebook."""
from datetime import datetime

from airflow.sdk import DAG
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
'''
_ROWS = '''
with DAG("my_workshop_job", schedule=None, start_date=datetime(2021, 1, 1), catchup=False, tags=["mine"]) as dag:
    generate_day_rows = SQLExecuteQueryOperator(
        task_id="generate_day_rows",
        conn_id="postgres_default",
        sql=[
            "create table if not exists tbl_my_daily (line text, comment text, created text)",
            "delete from tbl_my_daily where created like '{{ ds }}%'",
            """insert into tbl_my_daily
               select 'dummy' || LINE_EXPR, repeat('Aa', 20), to_char(m, 'YYYY-MM-DD HH24:MI')
               from generate_series(1, 100) as n,
                    generate_series('{{ ds }} 00:00'::timestamp, '{{ ds }} 23:59'::timestamp, '1 minute') as m""",
        ],
    )
'''
_ROWS_02 = _ROWS.replace("LINE_EXPR", "right('0' || n, 2)")           # 02's expression: dummy00 (quirk 3)
_ROWS_OK = _ROWS.replace("LINE_EXPR", "case when n < 10 then '0' || n else n::text end")
_IMPORT = '''
    import_day = BashOperator(
        task_id="import_day",
        bash_command="""labkit sqoop import \\
 --connect "jdbc:postgresql://{{ conn.postgres_default.host }}:{{ conn.postgres_default.port }}/{{ conn.postgres_default.schema }}" \\
 --username "{{ conn.postgres_default.login }}" --password-file <(echo -n "$PGPASS") \\
 --table tbl_my_daily --where "created like '{{ ds }}%'" --as-parquetfile --delete-target-dir \\
 --target-dir "{{ var.value.LANDING_ZONE }}/my_workshop_job/tbl_my_daily/ds={{ ds }}" """,
        env={"PGPASS": "{{ conn.postgres_default.password }}"},APPEND
    )
    generate_day_rows >> import_day
'''
_IMPORT_NOENV = _IMPORT.replace("APPEND", "")                          # forgets append_env: no PATH
_IMPORT_OK = _IMPORT.replace("APPEND", "\n        append_env=True,")
_BASH = "from airflow.providers.standard.operators.bash import BashOperator\n"
_SPARK = '''
    aggregate_day = SparkSubmitOperator(
        task_id="aggregate_day",
        application="{{ var.value.SPARK_JOBS_DIR }}/aggregate_dummy.py",
        conn_id="spark_default",
        application_args=[
            "--input", "{{ var.value.LANDING_ZONE }}/my_workshop_job/tbl_my_daily/ds={{ ds }}",
            "--output", "{{ var.value.LANDING_ZONE }}/my_workshop_job/my_aggregates",
            "--run-date", "{{ ds }}",
        ],
    )
    import_day >> aggregate_day
'''
_SPARK_IMPORT = "from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator\n"
_REPORT = '''
    def tell_the_owners(ds, **_):
        print(f"my_workshop_job failed on {ds}")RAISE

    report_failure = PythonOperator(task_id="report_failure", python_callable=tell_the_owners,
                                    trigger_rule="one_failed")
    aggregate_day >> report_failure
'''
_PY = "from airflow.providers.standard.operators.python import PythonOperator\n"
_REPORT_GREEN = _REPORT.replace("RAISE", "")                           # the report succeeds: the run turns green
_REPORT_OK = _REPORT.replace("RAISE", '\n        raise RuntimeError(f"the run of {ds} failed")')
G = {
    "04.1": [_HEAD + _ROWS_02, _HEAD + _ROWS_OK],
    "05.1": [_HEAD + _BASH + _ROWS_OK + _IMPORT_NOENV, _HEAD + _BASH + _ROWS_OK + _IMPORT_OK],
    "06.1": [_HEAD + _BASH + _SPARK_IMPORT + _ROWS_OK + _IMPORT_OK + _SPARK],
    "06.2": [_HEAD + _BASH + _SPARK_IMPORT + _PY + _ROWS_OK + _IMPORT_OK + _SPARK + _REPORT_GREEN,
             _HEAD + _BASH + _SPARK_IMPORT + _PY + _ROWS_OK + _IMPORT_OK + _SPARK + _REPORT_OK],
}
