"""The workshop's pipeline (the `airflow_workshop_job` DAG, notebooks 04-07): PostgreSQL -> landing zone -> Spark.

- `dummy`              the dummy table `tbl_airflow_dummy`: its constants, the seed's and the fixed generator
                       (`fixed_ctas.sql`), building and querying it in `airline_db`
- `sqoop`              the Sqoop-shaped import: engine, flags (`labkit sqoop import`), results; no lab glue
- `landing`            the lab's import of the dummy table: its URL and command, where it lands, `ensure_landed`
- `synthetic`          the same landed files written straight from pyarrow, without the database
- `spark_aggregation`  spark-submit of the aggregation job; `aggregates`: its two tables, read back
- `crosschecks`        the same aggregation by DuckDB on the landed files and by PostgreSQL on the source
- `daily_runs`         what each daily run of the DAG works on and leaves behind (the per-day outputs table)
- `timings`            the learner's own timings of the import (05) and the aggregation (06), read by 09
- `growth`             the reference series of bench/growth.py (a quarter, half, all of the table) and its fit
"""
