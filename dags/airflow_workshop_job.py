"""
The workshop job: every day, that day's rows from PostgreSQL -> Sqoop-style import -> landing zone -> Spark.

The seed workshop's DAG (`drop_dummy_table >> ctas_dummy_table >> sqoop_import_dummy_table >>
spark_file_counter`) written for Airflow 3, working on its **data interval**: the run for 2021-01-02
generates, imports and aggregates the rows created on 2021-01-02, and nothing else.

Which run is which:

* **Scheduled** (daily, midnight UTC): the day that just ended. ``catchup=False``: unpausing runs the
  latest complete day only.
* **Backfill** (``airflow backfill create``, the API, the UI): one run per logical date in a range, each
  for its own day: a backfill of three dates lands three different days.
* **Manual with a logical date** (the UI's Trigger form, ``api.run_for_date``): Airflow gives it the last
  complete day *before* that logical date; the run works on that interval.
* **Manual without a logical date** has no data interval, so there is nothing to import: its first task
  stops with one line saying so.
* **A rerun** (Clear) of any of them redoes the same interval and changes nothing.

The tasks:

1. ``generate_interval_rows`` plays the source system: ``tbl_airflow_dummy_daily`` receives the
   interval's rows (100 lines x each minute, the fixed variant of notebook 03 with its own key:
   ``id = 100 x minutes since 2021-01-01 00:00 + line``). It deletes the interval's rows, inserts them and
   counts them, in one transaction; other days are never touched. A run costs one day of rows at any
   ``LAB_SCALE`` (the seed's 25,992,100-row table is notebook 03's, built by hand).
2. ``sqoop_import_interval``: ``labkit sqoop import --where "created >= '<start>' and created < '<end>'"``
   (Sqoop's ``--where``) into ``.../tbl_airflow_dummy_daily/ds=<day>`` with ``--delete-target-dir``,
   split by ``id`` (dense within a day, the primary key finds each mapper's range). ``--expect-rows``
   takes the count of task 1 (its XCom): if the interval lost rows in between, the import fails and
   writes no ``_SUCCESS`` instead of landing fewer rows.
3. ``spark_aggregate_dummy`` overwrites the aggregates' ``run_date=<day>`` partition.

What changed from the seed, and why:

* ``SQLExecuteQueryOperator`` replaces ``PostgresOperator`` (gone in Airflow 3); ``schedule`` is a
  ``CronDataIntervalTimetable``: Airflow 3 reads ``"@daily"`` as a *trigger* (a point in time, an empty
  data interval), and this job needs the interval; no ``days_ago``.
* Sqoop is retired and Airflow dropped its provider, so the import is ``labkit sqoop import``: the same
  flags, run on this (client) node. Its password arrives through the environment from the
  ``postgres_default`` connection and is read as a ``--password-file`` that exists only in the shell.
* Idempotent per interval: the seed's ``--append`` doubled the landed rows on every rerun; here each task
  replaces exactly its interval's rows, folder or partition.
* Nothing about hosts, paths or passwords is in this file: connections, variables and templates only.
  ``LANDING_ZONE`` is ``fs.defaultFS``'s landing folder, ``SPARK_JOBS_DIR`` where the Spark jobs
  live on this node; ``spark-submit`` takes its master and settings from the client configuration.
* The ``local`` profile only: on ``aws`` the Airflow node is the learner's machine, outside the EMR cluster's
  VPC, so its import and ``spark-submit`` cannot reach the cluster (README, "The workshop job on AWS", for the
  design that would). Every task first reads the ``WORKSHOP_JOB_REFUSAL`` variable (empty on ``local``) and,
  when it is set, fails at once with that line, without a retry and before any SQL or command runs.
* Runs touch disjoint data, but each one starts a Spark JVM on a 2-core machine: ``max_active_runs=1``.
  Airflow 3 counts backfill runs apart from the others, so start a backfill when no other run is
  active (notebook 06 does).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, CronDataIntervalTimetable
from airflow.sdk.exceptions import AirflowFailException


def interval(start, end) -> dict:
    """The run's data interval as `created` writes a minute ('YYYY-MM-DD HH24:MI', UTC), and its day (`ds`).

    Called by the templates when a task runs (a user-defined macro), never at parse time.
    """
    if not (isinstance(start, datetime) and isinstance(end, datetime)):
        raise ValueError("airflow_workshop_job works on a data interval and this run has none (a manual run "
                         "without a logical date): trigger it with a logical date (the UI's Trigger form, or "
                         "labkit's api.run_for_date)")
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    if start >= end:
        raise ValueError(f"the data interval {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} is empty: "
                         "trigger the run with a logical date so that Airflow gives it a whole day")
    return {"start": f"{start:%Y-%m-%d %H:%M}", "end": f"{end:%Y-%m-%d %H:%M}", "ds": f"{start:%Y-%m-%d}"}


def refuse_where_it_cannot_run(context) -> None:
    """Before a task runs: stop it (no retry) when this profile says the job cannot run here (the variable)."""
    refusal = context["var"]["value"].get("WORKSHOP_JOB_REFUSAL", "")
    if refusal:
        raise AirflowFailException(refusal)


# Every template starts by naming the interval (and stops a run that has none).
RUN = "{% set run = interval(data_interval_start, data_interval_end) %}"
# [START where]
WHERE = "created >= '{{ run.start }}' and created < '{{ run.end }}'"
# [END where]
# This DAG's own corner of the landing zone (the notebooks' hand-run steps use the folders beside it).
OUT = "{{ var.value.LANDING_ZONE }}/{{ dag.dag_id }}"
LANDED = OUT + "/tbl_airflow_dummy_daily/ds={{ run.ds }}"

with DAG(
    dag_id="airflow_workshop_job",
    description="Every day: that day's rows in PostgreSQL, imported Sqoop-style, aggregated with Spark",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    user_defined_macros={"interval": interval},
    default_args={"owner": "lab", "retries": 1, "retry_delay": timedelta(seconds=30),
                  "pre_execute": refuse_where_it_cannot_run},
    tags=["workshop", "postgres", "sqoop", "spark"],
) as dag:
    dag.doc_md = __doc__

    generate_interval_rows = SQLExecuteQueryOperator(
        task_id="generate_interval_rows",
        conn_id="postgres_default",
        sql="sql/generate_interval_rows.sql",
        split_statements=True,         # one statement at a time, one transaction, committed at the end
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

    spark_aggregate_dummy = BashOperator(
        task_id="spark_aggregate_dummy",
        bash_command=(
            RUN + "spark-submit {{ var.value.SPARK_JOBS_DIR }}/aggregate_dummy.py"
            f" --input {LANDED}"
            f" --output {OUT}/aggregates"
            " --run-date {{ run.ds }}"
        ),
    )

    generate_interval_rows >> sqoop_import_interval >> spark_aggregate_dummy
