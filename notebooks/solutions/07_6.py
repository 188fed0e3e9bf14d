# The day's rows, checked in PostgreSQL before they are imported. partition_clause is a template field: the
# checks see the run's own day (RUN names its interval), never the whole table.
DAY = RUN + "created >= '{{ run.start }}' and created < '{{ run.end }}'"
check_day_rows = SQLTableCheckOperator(
    task_id="check_day_rows",
    conn_id="postgres_default",
    table="tbl_airflow_dummy_daily",
    partition_clause=DAY,
    checks={
        "every_minute": {"check_statement": "count(distinct created) = 24 * 60"},
        "lines_per_minute": {"check_statement": "count(*) = 100 * count(distinct created)"},
    },
)
check_day_columns = SQLColumnCheckOperator(
    task_id="check_day_columns",
    conn_id="postgres_default",
    table="tbl_airflow_dummy_daily",
    partition_clause=DAY,
    column_mapping={"line": {"null_check": {"equal_to": 0}}, "created": {"null_check": {"equal_to": 0}}},
)
generate_interval_rows >> [check_day_rows, check_day_columns] >> sqoop_import_interval
