"""
The workshop job: PostgreSQL -> Sqoop-style import -> landing zone -> Spark aggregation, every day.

The seed workshop's DAG (`drop_dummy_table >> ctas_dummy_table >> sqoop_import_dummy_table >>
spark_file_counter`) written for Airflow 3. What changed and why:

* ``SQLExecuteQueryOperator`` replaces ``PostgresOperator`` (gone in Airflow 3); ``schedule`` replaces
  ``schedule_interval``; no ``days_ago``.
* Sqoop is retired and Airflow dropped its provider, so the import is ``labkit sqoop import``: the same
  flags, run on this (client) node. Its password arrives through the environment from the
  ``postgres_default`` connection and is read as a ``--password-file`` that exists only in the shell.
* Two mappers split the table by ranges of its blocks (no ``--split-by``): each block is read once and
  no index is needed; notebook 04 compares that with ``--split-by id``.
* Idempotent per logical date: the import writes ``.../tbl_airflow_dummy/ds={{ ds }}`` with
  ``--delete-target-dir`` (the seed's ``--append`` doubled the landed rows on every rerun) and the
  Spark job overwrites its ``run_date={{ ds }}`` partition.
* Nothing about hosts, paths or passwords is in this file: connections, variables and templates only.
  ``LANDING_ZONE`` is ``fs.defaultFS``'s landing folder, ``SPARK_JOBS_DIR`` where the Spark jobs
  live on this node; ``spark-submit`` takes its master and settings from the client configuration.
* Every run regenerates the one table ``tbl_airflow_dummy``, so runs must not overlap:
  ``max_active_runs=1``. Airflow 3 counts backfill runs apart from the others, so start a backfill
  when no other run is active (notebook 06 does).
"""
from __future__ import annotations

from datetime import timedelta

import pendulum

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param

# This DAG's own corner of the landing zone (the notebooks' hand-run steps use the folders beside it).
OUT = "{{ var.value.LANDING_ZONE }}/{{ dag.dag_id }}"
LANDED = OUT + "/tbl_airflow_dummy/ds={{ ds }}"

with DAG(
    dag_id="airflow_workshop_job",
    description="Generate 26M rows in PostgreSQL, import them Sqoop-style, aggregate them with Spark",
    schedule="@daily",
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "lab", "retries": 1, "retry_delay": timedelta(seconds=30)},
    params={"scale": Param(None, type=["null", "string"], enum=[None, "smoke", "full"],
                           description="smoke = one day of rows, full = the workshop's 25,992,100; "
                                       "empty = the LAB_SCALE variable")},
    tags=["workshop", "postgres", "sqoop", "spark"],
) as dag:
    drop_dummy_table = SQLExecuteQueryOperator(
        task_id="drop_dummy_table",
        conn_id="postgres_default",
        sql="drop table if exists tbl_airflow_dummy",
    )

    ctas_dummy_table = SQLExecuteQueryOperator(
        task_id="ctas_dummy_table",
        conn_id="postgres_default",
        sql="sql/ctas_tbl_airflow_dummy.sql",
        split_statements=True,
    )

    sqoop_import_dummy_table = BashOperator(
        task_id="sqoop_import_dummy_table",
        bash_command=(
            "labkit sqoop import"
            " --connect jdbc:postgresql://{{ conn.postgres_default.host }}:{{ conn.postgres_default.port }}"
            "/{{ conn.postgres_default.schema }}"
            " --username {{ conn.postgres_default.login }}"
            ' --password-file <(printf %s "$DB_PASSWORD")'
            " --table tbl_airflow_dummy -m 2"
            f" --as-parquetfile --target-dir {LANDED} --delete-target-dir --no-progress"
        ),
        env={"DB_PASSWORD": "{{ conn.postgres_default.password }}"},
        append_env=True,
    )

    spark_aggregate_dummy = BashOperator(
        task_id="spark_aggregate_dummy",
        bash_command=(
            "spark-submit {{ var.value.SPARK_JOBS_DIR }}/aggregate_dummy.py"
            f" --input {LANDED}"
            f" --output {OUT}/aggregates"
            " --run-date {{ ds }}"
        ),
    )

    drop_dummy_table >> ctas_dummy_table >> sqoop_import_dummy_table >> spark_aggregate_dummy
