"""The checks of notebook 02's exercises (the Airflow primer): the learner's own connection, their first DAG written
from a blank file, and what that DAG did when it ran.

- 02.1 reads the connection back from Airflow (REST) and compares it with the lab's database endpoint.
- 02.2 parses the file with Airflow's DagBag: the seed's two tasks, in order, on `postgres_default`, and SQL that
  drops and creates the primer's own table (never the tables of notebook 04 or of the workshop DAG).
- 02.3 reads what the run wrote: the table exists and holds one day of the seed's rows, counted in PostgreSQL and
  compared with the count computed from the seed's shape (LINES lines x the minutes of the day).
"""
from __future__ import annotations

import re
from datetime import datetime

from labkit import connections, services
from labkit.config import Config
from labkit.errors import LabError
from labkit.exercises.checking import exercise
from labkit.workshop import daily_runs, dummy

FILE = "my_workshop_job.py"
DAG_ID = "my_workshop_job"
CONN_ID = "my_postgres"                   # the connection the learner makes (02.1)
TABLE = "tbl_my_dummy"                    # the primer's own table (not notebook 04's, not the workshop DAG's)
DAY = ("2021-01-01 00:00", "2021-01-01 23:59")   # one day of the seed's rows: the first day of its range
DROP, CTAS = "drop_dummy_table", "ctas_dummy_table"
OTHER_TABLES = (dummy.TABLE, daily_runs.TABLE)        # notebook 04's, and the workshop DAG's


def day_minutes() -> int:
    start, end = (datetime.strptime(v, "%Y-%m-%d %H:%M") for v in DAY)
    return int((end - start).total_seconds() // 60) + 1


def expected_rows() -> int:
    """One row per line and minute of the day: the seed's CTAS on one day."""
    return dummy.LINES * day_minutes()


# -- 02.1 ------------------------------------------------------------------------------------------------------
def _airflow_connection(cfg: Config, conn_id: str) -> dict | None:
    api = services.get(cfg, "airflow").api()
    resp = api.request("GET", f"connections/{conn_id}", allow=(404,))
    return None if resp.status_code == 404 else resp.json()


@exercise("02.1", file=None, dag_id=None, title="your own connection", solution="run")
def own_connection(_report, cfg: Config) -> list[str]:
    pg = connections.get(cfg, "postgres")
    conn = _airflow_connection(cfg, CONN_ID)
    if conn is None:
        return [f"Airflow has no connection {CONN_ID!r} yet: create it (conn_type postgres)"]
    missing = []
    want = {"conn_type": "postgres", "host": pg.host, "port": pg.port, "schema": pg.database, "login": pg.login}
    for field, value in want.items():
        if conn.get(field) != value:
            missing.append(f"its {field} is {conn.get(field)!r}, not {value!r}")
    if not conn.get("password"):
        missing.append(f"it has no password: read it from {pg.secret_file or 'its secret'} in the kernel")
    elif "*" not in conn["password"] and conn["password"] != pg.password:     # shown only when Airflow shows it
        missing.append("its password is not the one in the password file")
    return missing


# -- 02.2 ------------------------------------------------------------------------------------------------------
def _sql(task: dict) -> str:
    sql = task["fields"].get("sql")
    text = " ".join(sql) if isinstance(sql, list) else str(sql or "")
    return " ".join(text.lower().split())


@exercise("02.2", file=FILE, dag_id=DAG_ID, title="your first DAG, from a blank file", solution="file")
def first_dag(dag: dict, cfg: Config) -> list[str]:
    missing: list[str] = []
    tasks = dag["tasks"]
    for task_id in (DROP, CTAS):
        if task_id not in tasks:
            missing.append(f"there is no task `{task_id}` yet")
    if missing:
        return missing
    for task_id in (DROP, CTAS):
        task = tasks[task_id]
        if "sql" not in task["fields"]:
            missing.append(f"`{task_id}` is a {task['operator']}: use an SQL operator (SQLExecuteQueryOperator)")
        elif task["conn_id"] != "postgres_default":
            missing.append(f"`{task_id}` runs on {task['conn_id']!r}: the seed's tasks run on postgres_default")
    if DROP not in tasks[CTAS]["upstream"]:
        missing.append(f"`{CTAS}` does not run after `{DROP}`: {DROP} >> {CTAS}")
    drop, ctas = _sql(tasks[DROP]), _sql(tasks[CTAS])
    for task_id, sql in ((DROP, drop), (CTAS, ctas)):
        for other in OTHER_TABLES:
            if re.search(rf"\b{other}\b", sql):
                missing.append(f"`{task_id}` touches {other}, a table of the later notebooks: use {TABLE}")
    if "sql" in tasks[DROP]["fields"] and not re.search(rf"drop table (if exists )?{TABLE}\b", drop):
        missing.append(f"`{DROP}` does not drop {TABLE} (drop table if exists {TABLE})")
    if "sql" in tasks[CTAS]["fields"] and not re.search(rf"create table {TABLE} as\b", ctas):
        missing.append(f"`{CTAS}` does not create {TABLE} from a query (create table {TABLE} as select ...)")
    return missing


# -- 02.3 ------------------------------------------------------------------------------------------------------
def table_facts(cfg: Config) -> dict | None:
    """What is in the primer's table (None when there is none): rows, distinct lines, and the days of `created`."""
    with connections.get(cfg, "postgres").connect() as conn, conn.cursor() as cur:
        cur.execute("select to_regclass(%s)", (f"public.{TABLE}",))
        if cur.fetchone()[0] is None:
            return None
        cur.execute(f"select count(*), count(distinct line), array_agg(distinct left(created, 10)) from {TABLE}")
        rows, lines, days = cur.fetchone()
    return {"rows": rows, "lines": lines, "days": sorted(days or [])}


@exercise("02.3", file=None, dag_id=None, title="what your DAG wrote", solution="none")
def what_it_wrote(_report, cfg: Config) -> list[str]:
    try:
        facts = table_facts(cfg)
    except LabError as exc:
        return [str(exc)]
    if facts is None:
        return [f"there is no table {TABLE} in {connections.get(cfg, 'postgres').database}: run your DAG "
                f"(airflow tasks test {DAG_ID} {CTAS} ..., or trigger it)"]
    missing = []
    day = DAY[0][:10]
    if facts["days"] != [day]:
        missing.append(f"{TABLE} holds rows of {len(facts['days'])} days ({', '.join(facts['days'][:3])}"
                       f"{' ...' if len(facts['days']) > 3 else ''}), not only {day}")
    if facts["lines"] != dummy.LINES:
        missing.append(f"{TABLE} has {facts['lines']} distinct lines, not the seed's {dummy.LINES}")
    if facts["rows"] != expected_rows():
        missing.append(f"{TABLE} has {facts['rows']:,} rows, not {expected_rows():,} ({dummy.LINES} lines x "
                       f"{day_minutes():,} minutes, {DAY[0]} to {DAY[1]})")
    return missing
