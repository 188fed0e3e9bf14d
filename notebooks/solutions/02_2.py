"""my_workshop_job: the seed workshop's first two tasks, on one day of its rows (notebook 02's first DAG).

Drop the table, then create it from a query (CTAS) on the `postgres_default` connection.
"""
import pendulum

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

TABLE = "tbl_my_dummy"

with DAG(
    dag_id="my_workshop_job",
    schedule=None,                                   # runs only when you trigger it
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workshop"],
    doc_md=__doc__,
) as dag:
    drop_dummy_table = SQLExecuteQueryOperator(
        task_id="drop_dummy_table",
        conn_id="postgres_default",
        sql=f"drop table if exists {TABLE}",
    )
    ctas_dummy_table = SQLExecuteQueryOperator(
        task_id="ctas_dummy_table",
        conn_id="postgres_default",
        sql=f"""
            create table {TABLE} as
            select 'dummy' || right('0' || line, 2) as line,
                   repeat('Aa', 20) as comment,
                   to_char(generate_series('2021-01-01 00:00'::timestamp, '2021-01-01 23:59', '1 minutes'),
                           'YYYY-MM-dd hh:mi') as created
            from generate_series(1, 100) as tbl(line)
        """,
    )

    drop_dummy_table >> ctas_dummy_table
