"""
### The workshop job

Every day, that day's rows from PostgreSQL, imported Sqoop-style into the landing zone, aggregated with Spark:
the seed's `drop_dummy_table >> ctas_dummy_table >> sqoop_import_dummy_table >> spark_file_counter`, written
for Airflow 3. This Airflow node is a Hadoop/Spark/Sqoop *client* of the cluster (notebook 03).

1. `generate_interval_rows` plays the source system: the run's rows into `tbl_airflow_dummy_daily`
   (delete, insert and count in one transaction; `sql/generate_interval_rows.sql`).
2. `sqoop_import_interval` lands them in `ds=<day>` of the landing zone, replacing it; `--expect-rows` (task 1's
   count, an XComArg) fails the import rather than land fewer rows than task 1 counted.
3. `spark_aggregate_dummy` (the seed's `SparkSubmitOperator` on `spark_default`) overwrites the day's partition.

Each run works on its **data interval** (the run for 2021-01-02 handles 2021-01-02's rows only) and replaces
exactly that interval's data, so a rerun (Clear) or a backfill never doubles a row. A manual run without a
logical date has no interval: its first task stops with one line saying so. On the `aws` profile the same job
runs its steps on an ephemeral EMR cluster: `dags/aws/airflow_workshop_job.py`.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pendulum

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, CronDataIntervalTimetable
from airflow.sdk.exceptions import AirflowFailException

log = logging.getLogger(__name__)


def interval(start, end) -> dict:
    """A macro: the run's data interval as `created` writes a minute ('YYYY-MM-DD HH24:MI', UTC), and its day.

    A run without a whole interval fails at once, without a retry, with one line first in its log
    (`::endgroup::` closes the log group Airflow opens while it renders templates)."""
    if not (isinstance(start, datetime) and isinstance(end, datetime)) or start >= end:
        message = ("this run has no data interval (a manual run without a logical date): run a day as a backfill of "
                   "its date, e.g. `airflow backfill create --dag-id airflow_workshop_job --from-date 2021-01-02 "
                   "--to-date 2021-01-02`, or trigger it in the UI with a logical date")
        log.info("::endgroup::")
        log.error(message)
        raise AirflowFailException(message)
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    return {"start": f"{start:%Y-%m-%d %H:%M}", "end": f"{end:%Y-%m-%d %H:%M}", "ds": f"{start:%Y-%m-%d}"}


def day_count(cursor) -> str | None:
    """The SQL task's handler, called after each statement: the count the last one selects, as the text
    `--expect-rows` takes (the task's XCom); None after a statement that returns no rows."""
    return str(cursor.fetchone()[0]) if cursor.description else None


# Every template starts by naming the run's interval: `run.start`, `run.end`, `run.ds`.
RUN = "{% set run = interval(data_interval_start, data_interval_end) %}"
WHERE = "created >= '{{ run.start }}' and created < '{{ run.end }}'"
OUT = "{{ var.value.LANDING_ZONE }}/{{ dag.dag_id }}"            # this DAG's own corner of the landing zone
LANDED = OUT + "/tbl_airflow_dummy_daily/ds={{ run.ds }}"

with DAG(
    dag_id="airflow_workshop_job",
    description="Every day: that day's rows in PostgreSQL, imported Sqoop-style, aggregated with Spark",
    # A data-interval timetable: each run covers the whole day before it ("@daily" alone is a trigger in
    # Airflow 3: a point in time, an empty interval).
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,                 # each run starts a Spark JVM: one at a time on a small machine
    user_defined_macros={"interval": interval},
    default_args={"owner": "lab", "retries": 1, "retry_delay": timedelta(seconds=30)},
    tags=["workshop", "postgres", "sqoop", "spark"],
    doc_md=__doc__,
) as dag:
    generate_interval_rows = SQLExecuteQueryOperator(
        task_id="generate_interval_rows",
        conn_id="postgres_default",
        sql="sql/generate_interval_rows.sql",
        split_statements=True,         # one statement at a time, one transaction, committed at the end
        handler=day_count,
    )

    sqoop_import_interval = BashOperator(
        task_id="sqoop_import_interval",
        bash_command=(
            RUN + "labkit sqoop import"
            " --connect jdbc:postgresql://{{ conn.postgres_default.host }}:{{ conn.postgres_default.port }}"
            "/{{ conn.postgres_default.schema }}"
            " --username {{ conn.postgres_default.login }}"
            ' --password-file <(printf %s "$DB_PASSWORD")'     # the password exists only in the shell
            f' --table tbl_airflow_dummy_daily --where "{WHERE}" --split-by id -m 2'
            ' --expect-rows "$EXPECT_ROWS"'                      # fewer rows than task 1 counted fail
            f" --as-parquetfile --target-dir {LANDED} --delete-target-dir --no-progress"
        ),
        # task 1's count as an XComArg: Airflow resolves it when the task runs
        env={"DB_PASSWORD": "{{ conn.postgres_default.password }}", "EXPECT_ROWS": generate_interval_rows.output},
        append_env=True,
    )

    spark_aggregate_dummy = SparkSubmitOperator(
        task_id="spark_aggregate_dummy",
        conn_id="spark_default",       # Spark's master, from the client configuration (local[*] here)
        application="{{ var.value.SPARK_JOBS_DIR }}/aggregate_dummy.py",
        name="aggregate_dummy",
        application_args=["--input", RUN + LANDED, "--output", OUT + "/aggregates",
                          "--run-date", RUN + "{{ run.ds }}"],
    )

    generate_interval_rows >> sqoop_import_interval >> spark_aggregate_dummy
