"""
My workshop job: every day, that day's rows from PostgreSQL -> Sqoop-style import -> landing zone -> Spark.

Built in notebook 07, one exercise at a time, on the model of the lab's reference DAG
(`dags/airflow_workshop_job.py`). Each `# [TODO 07.N]` block below is yours to fill in;
`exercises.check("07.N")` in the notebook says what is still missing, `%load solutions/07_N.py` shows a
solution. Everything this DAG writes lands in its own corner of the landing zone (`{{ dag.dag_id }}`).

The tasks, once the exercises are done:

1. ``generate_interval_rows``: the day's rows into ``tbl_airflow_dummy_daily`` (the source system).
   A data-quality gate (common-sql check operators) stops a day whose rows are not whole before it is imported.
2. ``sqoop_import_interval``: ``labkit sqoop import --where <the day>`` into the landing zone.
3. ``reconcile_day``: a Python step (TaskFlow) that compares the two counts it receives as XComArgs.
4. ``spark_aggregate_dummy``: ``SparkSubmitOperator`` on the ``spark_default`` connection; it produces
   the Asset of the day's aggregates, on which ``my_workshop_report`` is scheduled.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pendulum

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.common.sql.operators.sql import (SQLColumnCheckOperator, SQLExecuteQueryOperator,
                                                        SQLTableCheckOperator)
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, chain, task
from airflow.sdk.exceptions import AirflowFailException

log = logging.getLogger("my_workshop_job")


def stop(message: str):
    """Fail the task at once, with no retry (a retry would fail the same way), `message` first in its log.

    Templates are rendered while the task log's "Pre Execute" group is open, which the UI shows collapsed:
    `::endgroup::` closes it (Airflow's log grouping), so the message is the first line one sees."""
    log.info("::endgroup::")
    log.error(message)
    raise AirflowFailException(message)


def interval(start, end) -> dict:
    """The run's data interval as `created` writes a minute ('YYYY-MM-DD HH24:MI', UTC), and its day (`ds`)."""
    if not (isinstance(start, datetime) and isinstance(end, datetime)):
        stop("my_workshop_job works on a data interval and this run has none (a manual run without a logical "
             "date): trigger it with a logical date")
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    if start >= end:
        stop(f"the data interval {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} is empty: give the DAG a "
             "schedule whose runs have a whole day (a data-interval timetable)")
    return {"start": f"{start:%Y-%m-%d %H:%M}", "end": f"{end:%Y-%m-%d %H:%M}", "ds": f"{start:%Y-%m-%d}"}


# Every template starts by naming the run's interval: `run.start`, `run.end`, `run.ds`.
RUN = "{% set run = interval(data_interval_start, data_interval_end) %}"
# This DAG's own corner of the landing zone.
OUT = "{{ var.value.LANDING_ZONE }}/{{ dag.dag_id }}"
LANDED = OUT + "/tbl_airflow_dummy_daily/ds={{ run.ds }}"

# [TODO 07.2] the data interval: a daily schedule whose runs each cover a whole day, and the import's --where
SCHEDULE = None
WHERE = "created >= '{{ ds }}'"
# [END TODO 07.2]

with DAG(
    dag_id="my_workshop_job",
    description="My build of the workshop job: the day's rows, imported Sqoop-style, reconciled, aggregated",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    end_date=pendulum.datetime(2021, 6, 30, tz="UTC"),   # the seed's dates: unpausing starts no run of "yesterday"
    catchup=False,
    max_active_runs=1,
    user_defined_macros={"interval": interval},
    default_args={"owner": "learner", "retries": 1, "retry_delay": timedelta(seconds=30)},
    tags=["workshop", "exercise"],
) as dag:
    dag.doc_md = __doc__

    generate_interval_rows = SQLExecuteQueryOperator(
        task_id="generate_interval_rows",
        conn_id="postgres_default",
        sql="sql/generate_interval_rows.sql",
        split_statements=True,
    )

    sqoop_import_interval = BashOperator(
        task_id="sqoop_import_interval",
        bash_command=(
            RUN + "labkit sqoop import"
            " --connect jdbc:postgresql://{{ conn.postgres_default.host }}:{{ conn.postgres_default.port }}"
            "/{{ conn.postgres_default.schema }}"
            " --username {{ conn.postgres_default.login }}"
            ' --password-file <(printf %s "$DB_PASSWORD")'
            f' --table tbl_airflow_dummy_daily --where "{WHERE}" --split-by id -m 2'
            " --expect-rows {{ ti.xcom_pull(task_ids='generate_interval_rows')[0][0] }}"
            f" --as-parquetfile --target-dir {LANDED} --delete-target-dir --no-progress"
        ),
        env={"DB_PASSWORD": "{{ conn.postgres_default.password }}"},
        append_env=True,
    )

    # [TODO 07.1] the order: the import runs after the rows are generated
    # [END TODO 07.1]

    # [TODO 07.6] a data-quality gate on the day's rows in PostgreSQL, between the generated rows and the import
    # [END TODO 07.6]

    # [TODO 07.3] a Python step (TaskFlow): reconcile the day's generated and imported rows
    # [END TODO 07.3]

    # [TODO 07.4] the aggregation: SparkSubmitOperator on connection spark_default, and the Asset it produces
    # [END TODO 07.4]

# [TODO 07.5] a small DAG scheduled on the Asset (data-aware scheduling)
# [END TODO 07.5]
