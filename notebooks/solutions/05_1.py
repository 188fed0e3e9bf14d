"""my_workshop_job: the workshop job, grown one task per notebook.

02: a first DAG (the seed's CTAS). 04: the rows of one day per run, replaced when the day runs again.
05: the day imported Sqoop-style into the landing zone.
"""
import pendulum

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(
    dag_id="my_workshop_job",
    schedule=None,                                   # runs only when you trigger it (with a logical date)
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workshop"],
    doc_md=__doc__,
) as dag:
    generate_day_rows = SQLExecuteQueryOperator(
        task_id="generate_day_rows",
        conn_id="postgres_default",
        # one transaction: the day's rows are replaced, never added twice; other days are not touched
        sql="""
            create table if not exists tbl_my_daily (line text, comment text, created text);
            delete from tbl_my_daily where created >= '{{ ds }}' and created < '{{ macros.ds_add(ds, 1) }}';
            insert into tbl_my_daily (line, comment, created)
            select 'dummy' || case when line < 10 then '0' else '' end || line,
                   repeat('Aa', 20),
                   to_char(minute, 'YYYY-MM-DD HH24:MI')
            from generate_series('{{ ds }}'::timestamp, '{{ ds }}'::timestamp + interval '1 day' - interval '1 minute',
                                 interval '1 minute') as minute
            cross join generate_series(1, 100) as line;
        """,
    )

    import_day = BashOperator(
        task_id="import_day",
        bash_command=(
            "labkit sqoop import"
            " --connect jdbc:postgresql://{{ conn.postgres_default.host }}:{{ conn.postgres_default.port }}"
            "/{{ conn.postgres_default.schema }}"
            " --username {{ conn.postgres_default.login }}"
            ' --password-file <(printf %s "$DB_PASSWORD")'       # the password never on a command line
            " --table tbl_my_daily"
            " --where \"created >= '{{ ds }}' and created < '{{ macros.ds_add(ds, 1) }}'\""
            " -m 2 --as-parquetfile --delete-target-dir --no-progress"
            " --target-dir {{ var.value.LANDING_ZONE }}/my_workshop_job/tbl_my_daily/ds={{ ds }}"
        ),
        env={"DB_PASSWORD": "{{ conn.postgres_default.password }}"},
        append_env=True,
    )

    generate_day_rows >> import_day
