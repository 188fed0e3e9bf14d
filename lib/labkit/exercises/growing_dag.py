"""The checks of the exercises that grow the learner's DAG, one task per data notebook: `my_workshop_job.py`, the
file of their first DAG (notebook 02), gains the day's rows (04), their import (05) and their aggregation (06).

Each check parses the file with Airflow's DagBag for the task's shape, then runs the learner's tasks with
`dag.test()` (labkit.exercises.dagtest.run_only: every other task marked success) for two days and reads what
they wrote: PostgreSQL's rows, the landed parquet, the aggregates. A task that writes the wrong rows, the wrong
day, or doubles a day when it runs again is named in one line, however good its code looks.

The runs use the logical dates DAY and OTHER_DAY: with `schedule=None` (a DAG the learner triggers) a run's
`{{ ds }}` is its logical date's day, which is the day these tasks work on. Notebook 07 then moves the same
tasks onto a schedule and its data intervals.
"""
from __future__ import annotations

import re
from pathlib import Path

from labkit import connections, procs
from labkit.config import Config
from labkit.exercises import dagtest
from labkit.exercises.checking import exercise
from labkit.workshop import aggregates, daily_runs, dummy, landing

FILE = "my_workshop_job.py"
DAG_ID = "my_workshop_job"
TABLE = "tbl_my_daily"                                # the learner's own daily table
GENERATE, IMPORT, AGGREGATE = "generate_day_rows", "import_day", "aggregate_day"
DAY, OTHER_DAY = "2021-01-02", "2021-01-03"
GROWS = ("04.1", "05.1", "06.1", "06.2")             # the exercises that each add one task
FAILURE = "report_failure"
DAY_ROWS = dummy.LINES * 24 * 60                      # 100 lines x 1,440 minutes
LINES = {f"dummy{n:02d}" for n in range(1, dummy.LINES + 1)}
OTHER_TABLES = (dummy.TABLE, daily_runs.TABLE, "tbl_my_dummy")   # 04's, the workshop DAG's, 02's


def landed_dir(cfg: Config, day: str) -> Path:
    """Where the import of `day` lands: `{{ var.value.LANDING_ZONE }}/my_workshop_job/tbl_my_daily/ds={{ ds }}`."""
    return cfg.landing_dir / DAG_ID / TABLE / f"ds={day}"


def aggregates_dir(cfg: Config) -> Path:
    """Where the aggregation writes: `{{ var.value.LANDING_ZONE }}/my_workshop_job/my_aggregates`."""
    return cfg.landing_dir / DAG_ID / "my_aggregates"


def _task(dag: dict, task_id: str, notebook: str) -> tuple[dict | None, list[str]]:
    task = dag["tasks"].get(task_id)
    if task is None:
        return None, [f"your DAG has no task `{task_id}` yet (it has: {', '.join(sorted(dag['tasks'])) or 'none'}); "
                      f"add it as notebook {notebook} describes"]
    return task, []


def _text(value) -> str:
    return " ".join(value) if isinstance(value, (list, tuple)) else str(value or "")


def _case(dag: dict, day: str, only: list[str], **extra) -> dict:
    """One dagtest.run_only case: the learner's DAG, the run of logical day `day`, only the tasks `only`."""
    return {"path": dag["fileloc"], "dag_id": DAG_ID, "logical_date": f"{day}T00:00:00+00:00", "only": only, **extra}


def _run(cfg: Config, dag: dict, cases: list[tuple[str, list[str]]]) -> list[str]:
    """dag.test() of each (logical day, task ids) in turn, in one process; [] or one line for the first run that
    did not succeed (the task's own error where Airflow's log has it)."""
    states = dagtest.run_only(cfg, [_case(dag, day, only) for day, only in cases])
    for (day, only), state in zip(cases, states):
        if "error" in state:
            return [f"dag.test() of your DAG for {day} did not run: {state['error']}"]
        failed = [t for t in only if state.get(t) != "success"]
        if failed:
            return [f"`{failed[0]}` for {day} ended {state.get(failed[0]) or 'without running'}"
                    f"{dagtest.task_error(dagtest.log_path(cfg, 'run_only'))}; Airflow's log: {dagtest.log_path(cfg, 'run_only')}"]
    return []


# -- 04.1: the day's rows ---------------------------------------------------------------------------------------
def day_facts(cfg: Config) -> dict[str, dict]:
    """Per day of TABLE: rows, distinct lines and minutes, whether 13:05 is there (24-hour clock), the lines."""
    with dummy.connect(cfg) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass(%s)", (f"public.{TABLE}",))
        if cur.fetchone()[0] is None:
            return {}
        cur.execute(f"select left(created, 10), count(*), count(distinct line), count(distinct created), "
                    f"bool_or(right(created, 5) = '13:05'), array_agg(distinct line) from {TABLE} group by 1")
        return {day: {"rows": rows, "lines": lines, "minutes": minutes, "pm": pm, "line_names": set(names or [])}
                for day, rows, lines, minutes, pm, names in cur.fetchall()}


def rows_behaviour(before: dict, after: dict) -> list[str]:
    """What 04.1's runs (DAY, OTHER_DAY, DAY again) did to the table, in one line; [] when each day is whole once."""
    day, other = after.get(DAY, {}), after.get(OTHER_DAY, {})
    if not day:
        return [f"after its runs for {DAY} and {OTHER_DAY}, {TABLE} has no rows of {DAY}: generate the minutes of "
                "the run's own day ({{ ds }}), not a fixed date"]
    if day["rows"] > DAY_ROWS:
        return [f"after two runs for {DAY}, {TABLE} holds {day['rows']:,} rows of that day, not {DAY_ROWS:,}: the "
                "rerun added them again; make the task replace its day (delete that day's rows first, in the same task)"]
    if not other:
        return [f"the second run for {DAY} removed the rows of {OTHER_DAY}: replace only the run's own day"]
    if day["minutes"] != 24 * 60 or not day["pm"]:
        return [f"{DAY} has {day['minutes']:,} distinct `created` values, not 1,440{'' if day['pm'] else ' and no 13:05'}"
                ": format the minutes with a 24-hour clock (HH24, notebook 04's first quirk)"]
    if day["line_names"] != LINES:
        odd = sorted(day["line_names"] - LINES)[:2] or sorted(LINES - day["line_names"])[:2]
        return [f"{DAY}'s lines are not dummy01 .. dummy100 (e.g. {', '.join(odd)}): notebook 04's third quirk"]
    if day["rows"] != DAY_ROWS:
        return [f"{DAY} has {day['rows']:,} rows, not {DAY_ROWS:,} ({dummy.LINES} lines x 1,440 minutes)"]
    grew = [d for d in after if d not in (DAY, OTHER_DAY) and after[d]["rows"] != before.get(d, {}).get("rows")]
    if grew:
        return [f"the runs for {DAY} and {OTHER_DAY} also changed the rows of {grew[0]}: a run writes its own day only"]
    return []


@exercise("04.1", file=FILE, dag_id=DAG_ID, title="your DAG's first data task: one day of rows per run",
          solution="file", runs_tasks=True)
def day_rows(dag: dict, cfg: Config) -> list[str]:
    task, missing = _task(dag, GENERATE, "04")
    if missing:
        return missing
    if "sql" not in task["fields"]:
        return [f"`{GENERATE}` is a {task['operator']}: use SQLExecuteQueryOperator"]
    if task["conn_id"] != "postgres_default":
        return [f"`{GENERATE}` runs on {task['conn_id']!r}: the rows live on postgres_default"]
    sql = _text(task["fields"]["sql"]).lower()
    for other in OTHER_TABLES:
        if re.search(rf"\b{other}\b", sql):
            return [f"`{GENERATE}` touches {other}, a table of another notebook: write {TABLE}"]
    if not re.search(rf"\b{TABLE}\b", sql):
        return [f"`{GENERATE}` does not write {TABLE}"]
    before = day_facts(cfg)
    return (_run(cfg, dag, [(DAY, [GENERATE]), (OTHER_DAY, [GENERATE]), (DAY, [GENERATE])])
            or rows_behaviour(before, day_facts(cfg)))


# -- 05.1: the day's import -------------------------------------------------------------------------------------
def landed_facts(folder: Path) -> dict | None:
    """Rows and days of a finished import in `folder` (None: nothing finished there)."""
    import duckdb

    if landing.parquet_rows(folder) is None:
        return None
    with duckdb.connect() as con:
        rows, days = con.sql(f"select count(*), list(distinct left(created, 10)) from read_parquet('{folder}/*.parquet',"
                             " hive_partitioning = false)").fetchall()[0]
    return {"rows": rows, "days": sorted(days or [])}


def import_behaviour(cfg: Config, facts: dict | None) -> list[str]:
    folder = landed_dir(cfg, DAY)
    if facts is None:
        found = sorted(p.name for p in folder.parent.glob("*")) if folder.parent.is_dir() else []
        return [f"the import for {DAY} finished nothing in {folder} (there: {', '.join(found[:3]) or 'nothing'}): "
                "--target-dir must be {{ var.value.LANDING_ZONE }}/my_workshop_job/tbl_my_daily/ds={{ ds }}"]
    if facts["days"] != [DAY]:
        return [f"the import for {DAY} landed rows of {', '.join(facts['days'])}: its --where must select the run's "
                "day only (from its first minute, up to but not including the next day's)"]
    if facts["rows"] != DAY_ROWS:
        more = " (a second import added its files to the first's: replace the folder)" if facts["rows"] > DAY_ROWS else ""
        return [f"the import for {DAY} landed {facts['rows']:,} rows, not the day's {DAY_ROWS:,}{more}"]
    return []


@exercise("05.1", file=FILE, dag_id=DAG_ID, title="your DAG imports its day", solution="file", runs_tasks=True)
def day_import(dag: dict, cfg: Config) -> list[str]:
    task, missing = _task(dag, IMPORT, "05")
    if missing:
        return missing
    if "bash_command" not in task["fields"]:
        return [f"`{IMPORT}` is a {task['operator']}: run `labkit sqoop import` with a BashOperator"]
    if GENERATE not in task["upstream"]:
        return [f"`{IMPORT}` does not run after `{GENERATE}`: {GENERATE} >> {IMPORT}"]
    command = _text(task["fields"]["bash_command"])
    if "sqoop import" not in command:
        return [f"`{IMPORT}` does not run `labkit sqoop import`"]
    if re.search(r"\.password\b", command):
        return [f"`{IMPORT}`'s command line holds the password (anyone on the machine can read a command line): "
                "pass it in the task's env and give the import --password-file"]
    return _run(cfg, dag, [(OTHER_DAY, [GENERATE]), (DAY, [GENERATE, IMPORT])]) \
        or import_behaviour(cfg, landed_facts(landed_dir(cfg, DAY)))


# -- 06.1: the day's aggregation --------------------------------------------------------------------------------
def aggregate_facts(cfg: Config) -> dict | None:
    """The daily aggregates of run date DAY: rows counted and the days they count (None: no such partition)."""
    folder = aggregates.partition_dir(aggregates_dir(cfg), aggregates.DAILY, DAY)
    if not folder.is_dir():
        return None
    daily = aggregates.read(aggregates_dir(cfg), aggregates.DAILY, DAY)
    return {"rows": int(daily["rows"].sum()), "days": sorted({str(d)[:10] for d in daily["day"]})}


def aggregate_behaviour(cfg: Config, facts: dict | None) -> list[str]:
    if facts is None:
        found = aggregates.run_dates(aggregates_dir(cfg))
        return [f"there are no aggregates for run date {DAY} in {aggregates_dir(cfg)} (run dates there: "
                f"{', '.join(found[:3]) or 'none'}): --output must be {{{{ var.value.LANDING_ZONE }}}}/my_workshop_job/"
                "my_aggregates and --run-date the run's day"]
    if facts["days"] != [DAY]:
        return [f"the aggregates of run date {DAY} count the days {', '.join(facts['days'])}: --input must be the "
                "folder the run's import landed (ds={{ ds }}), not the whole table"]
    if facts["rows"] != DAY_ROWS:
        return [f"the aggregates of run date {DAY} count {facts['rows']:,} rows, not the day's {DAY_ROWS:,}"]
    return []


@exercise("06.1", file=FILE, dag_id=DAG_ID,
          title="your DAG aggregates its day with Spark", solution="file", runs_tasks=True)
def day_aggregation(dag: dict, cfg: Config) -> list[str]:
    task, missing = _task(dag, AGGREGATE, "06")
    if missing:
        return missing
    if task["operator"] != "SparkSubmitOperator":
        return [f"`{AGGREGATE}` is a {task['operator']}: use SparkSubmitOperator (the seed's operator)"]
    if task["conn_id"] != "spark_default":
        return [f"`{AGGREGATE}` runs on {task['conn_id']!r}: Spark's master is the spark_default connection"]
    if IMPORT not in task["upstream"]:
        return [f"`{AGGREGATE}` does not run after `{IMPORT}`: {IMPORT} >> {AGGREGATE}"]
    return _run(cfg, dag, [(OTHER_DAY, [GENERATE, IMPORT]), (DAY, [GENERATE, IMPORT, AGGREGATE])]) \
        or aggregate_behaviour(cfg, aggregate_facts(cfg))



# -- 06.2: a failed day is reported, and the run stays failed ------------------------------------------------------
def down_postgres(cfg: Config) -> dict:
    """postgres_default as it is when the database is down: the lab's fields, a port where nothing listens."""
    pg = connections.get(cfg, "postgres")
    return {"postgres_default": {"conn_type": "postgres", "host": pg.host, "port": procs.free_port(),
                                 "login": pg.login, "password": "", "schema": pg.database}}


def failure_behaviour(bad: dict, good: dict) -> list[str]:
    """What report_failure and the run did on a day whose first task failed, and on a whole day."""
    for state in (bad, good):
        if "error" in state:
            return [f"dag.test() of your DAG did not run: {state['error']}"]
    if bad.get(GENERATE) != "failed":
        return [f"with postgres_default down, `{GENERATE}` ended {bad.get(GENERATE)}, not failed: it must use "
                "postgres_default"]
    if bad.get(FAILURE) in ("skipped", "upstream_failed", None, "None"):
        return [f"when `{GENERATE}` failed (postgres_default down), `{FAILURE}` ended {bad.get(FAILURE)}: its trigger "
                "rule must let it run when a task before it failed"]
    if good.get(FAILURE) != "skipped":
        return [f"on a day whose tasks all succeeded, `{FAILURE}` ended {good.get(FAILURE)}: it must run only when a "
                "task failed (not on every run)"]
    if bad.get(dagtest.RUN_STATE) != "failed":
        return [f"on the day `{GENERATE}` failed, `{FAILURE}` ran and the run ended {bad.get(dagtest.RUN_STATE)}: a "
                "task after the failure that succeeds makes the run look green; let it fail after it reports"]
    return []


@exercise("06.2", file=FILE, dag_id=DAG_ID, title="a failed day is reported, and its run stays failed",
          solution="file", runs_tasks=True)
def failure_reported(dag: dict, cfg: Config) -> list[str]:
    task, missing = _task(dag, FAILURE, "06")
    if missing:
        return missing
    if task["trigger_rule"] == "all_success":
        return [f"`{FAILURE}` has the default trigger rule (all_success): it would never run after a failure"]
    if not task["upstream"]:
        return [f"`{FAILURE}` has no task before it: put it after the day's tasks"]
    # two processes: a run's connections file must not outlive it (Airflow keeps its secrets backends per process)
    bad = dagtest.run_only(cfg, [_case(dag, DAY, [GENERATE, IMPORT, AGGREGATE, FAILURE],
                                       connections=down_postgres(cfg))])
    good = dagtest.run_only(cfg, [_case(dag, DAY, [FAILURE])])
    return failure_behaviour(bad[0], good[0])
