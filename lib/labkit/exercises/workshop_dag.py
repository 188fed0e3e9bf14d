"""The checks of notebook 07's exercises: the learner builds `my_workshop_job` (and its asset's consumer).

Each check reads the DAG's report (labkit.exercises.dagbag) and returns what is still missing, one short
phrase each, in the order a learner would fix them.
"""
from __future__ import annotations

import re

from labkit import services
from labkit.config import Config
from labkit.exercises import dagtest
from labkit.exercises.checking import LAST_RUN, TESTS_INI, exercise, learner_path
from labkit.services.airflow import airflow_env
from labkit.workshop import daily_runs, dummy
from labkit.workshop.sqoop.interval import interval_where
from labkit.exercises.parsing import (SAMPLE_CALLS, SAMPLE_COUNT, SAMPLE_INTERVAL, SAMPLE_LOGICAL_DATE,
                                      sample_variable)

FILE = "my_workshop_job.py"
DAG_ID = "my_workshop_job"
REPORT_DAG_ID = "my_workshop_report"
GENERATE, IMPORT, RECONCILE, AGGREGATE = ("generate_interval_rows", "sqoop_import_interval", "reconcile_day",
                                          "spark_aggregate_dummy")


def _task(dag: dict, task_id: str, missing: list[str], hint: str = "") -> dict | None:
    """The task's report, or None (and "there is no task ..." among what is missing)."""
    task = dag["tasks"].get(task_id)
    if task is None:
        missing.append(f"there is no task `{task_id}` yet" + (f": {hint}" if hint else ""))
    return task


def _after(dag: dict, task_id: str, upstream: str) -> bool:
    """Does `task_id` run after `upstream` (directly, or through tasks between them)?"""
    seen, todo = set(), list(dag["tasks"].get(task_id, {}).get("upstream", []))
    while todo:
        current = todo.pop()
        if current == upstream:
            return True
        if current not in seen:
            seen.add(current)
            todo += dag["tasks"].get(current, {}).get("upstream", [])
    return False


@exercise("07.1", file=FILE, dag_id=DAG_ID, title="the order of the tasks")
def order(dag: dict, cfg: Config) -> list[str]:
    missing: list[str] = []
    if _task(dag, GENERATE, missing) and _task(dag, IMPORT, missing) and not _after(dag, IMPORT, GENERATE):
        missing.append(f"`{IMPORT}` does not run after `{GENERATE}` (it reads that task's count): "
                       f"{GENERATE} >> {IMPORT}")
    return missing


def _where(bash_command: str) -> str | None:
    found = re.search(r'--where\s+"([^"]*)"', bash_command or "")
    return found.group(1) if found else None


# Sample `created` values around the sample run's day (parsing.SAMPLE_INTERVAL: 2021-01-02), as the job's table
# stores them ('YYYY-MM-DD HH24:MI', text): its first and last minutes, and the minutes either side of it.
SAMPLE_CREATED = ("2020-12-31 12:00", "2021-01-01 23:59", "2021-01-02 00:00", "2021-01-02 00:01", "2021-01-02 12:00",
                  "2021-01-02 23:59", "2021-01-03 00:00", "2021-01-03 00:01", "2021-01-04 12:00")


def _selected(where: str) -> list[str] | str:
    """The SAMPLE_CREATED values a --where selects (compared as text, as PostgreSQL compares the text column
    `created`), or what is wrong with it as SQL (one line)."""
    import sqlite3

    with sqlite3.connect(":memory:") as db:
        db.execute("create table tbl_airflow_dummy_daily (created text)")
        db.executemany("insert into tbl_airflow_dummy_daily values (?)", [(c,) for c in SAMPLE_CREATED])
        try:
            return [r[0] for r in db.execute(f"select created from tbl_airflow_dummy_daily where {where} "
                                             "order by created")]
        except sqlite3.Error as exc:
            return f"{exc}"


def _where_selects(rendered: object) -> list[str]:
    """What is wrong with the import's --where, rendered for the sample run and applied to sample rows."""
    day = SAMPLE_INTERVAL[0][:10]
    if isinstance(rendered, dict):
        return [f"the import's command does not render for the run of {day} ({rendered['error']})"]
    where = _where(rendered)
    if where is None:
        return ['the import has no --where "..." (in double quotes): which rows are the run\'s?']
    selected = _selected(where)
    if isinstance(selected, str):
        return [f"the --where renders as {where!r} for the run of {day}, which is no SQL condition ({selected})"]
    want = [c for c in SAMPLE_CREATED if c.startswith(day)]
    if selected == want:
        return []
    lost, extra = [c for c in want if c not in selected], [c for c in selected if c not in want]
    return [f"for the run of {day} (logical date {SAMPLE_LOGICAL_DATE[:10]}) the --where renders as {where!r}, "
            f"which " + " and ".join(filter(None, [
                f"misses rows of that day (created {', '.join(lost[:2])})" if lost else "",
                f"selects rows of other days (created {', '.join(extra[:2])})" if extra else ""])) +
            ": `created` holds text like '2021-01-02 00:00'; compare it with both ends of the run's interval as "
            "the DAG's RUN names them"]


@exercise("07.2", file=FILE, dag_id=DAG_ID, title="the data interval")
def data_interval(dag: dict, cfg: Config) -> list[str]:
    missing: list[str] = []
    if dag["timetable"] != "CronDataIntervalTimetable":
        missing.append(f"the schedule is a {dag['timetable']}: a daily schedule whose runs each cover a whole day "
                       "needs a data-interval timetable (a bare \"@daily\" is a point in time)")
    elif dag["schedule"] not in ("@daily", "0 0 * * *"):
        missing.append(f"the schedule is {dag['schedule']!r}: one run a day, \"@daily\"")
    task = _task(dag, IMPORT, missing)
    if task:
        missing += _where_selects(task["rendered"].get("bash_command"))
    return missing


@exercise("07.3", file=FILE, dag_id=DAG_ID, title="a TaskFlow step that takes XComArgs")
def reconcile(dag: dict, cfg: Config) -> list[str]:
    missing: list[str] = []
    task = _task(dag, RECONCILE, missing, f"a function decorated with @task, called with {GENERATE}.output and "
                                          f"{IMPORT}.output")
    if task is None:
        return missing
    if task["callable"] is None:
        missing.append(f"`{RECONCILE}` is a {task['operator']}: write it as a Python function decorated with @task")
    arguments = repr(task["fields"].get("op_args")) + repr(task["fields"].get("op_kwargs"))
    for source in (GENERATE, IMPORT):
        if not re.search(rf"XComArg\(<Task\(\w+\): {source}>", arguments):
            missing.append(f"`{RECONCILE}` does not receive {source}.output (an XComArg) as an argument")
    if missing:
        return missing
    equal, unequal = task["calls"].get("equal", {}), task["calls"].get("unequal", {})
    generated = SAMPLE_CALLS["equal"][GENERATE]
    if "raised" in equal:
        missing.append(f"called with equal counts ({generated} and {SAMPLE_CALLS['equal'][IMPORT][:30]}...), "
                       f"`{RECONCILE}` raises {equal['raised']}")
    elif equal.get("returned") != repr(SAMPLE_COUNT):
        missing.append(f"called with equal counts ({SAMPLE_COUNT:,} rows), `{RECONCILE}` returns "
                       f"{equal.get('returned')}, not the count {SAMPLE_COUNT}")
    if "raised" not in unequal:
        missing.append(f"called with {generated} and an import that landed {SAMPLE_COUNT - 1:,} records, "
                       f"`{RECONCILE}` returns {unequal.get('returned')}: it must raise (fail the task) when "
                       "the counts differ")
    return missing


def _spark_arguments(rendered: dict) -> list[str]:
    """What is wrong with the aggregation's application and arguments, as they render for the sample run
    (parsing.SAMPLE_INTERVAL, variables as "<NAME>"), compared with what that run must get."""
    day = SAMPLE_INTERVAL[0][:10]
    out = f"{sample_variable('LANDING_ZONE')}/{DAG_ID}"
    want = {"--input": f"{out}/tbl_airflow_dummy_daily/ds={day}", "--output": f"{out}/aggregates", "--run-date": day}
    missing = []
    application = rendered.get("application")
    if application != f"{sample_variable('SPARK_JOBS_DIR')}/aggregate_dummy.py":
        missing.append("its application is the Spark job {{ var.value.SPARK_JOBS_DIR }}/aggregate_dummy.py")
    args = rendered.get("application_args") or []
    errors = [a["error"] for a in args if isinstance(a, dict)]
    if errors:
        return missing + [f"its application_args do not render for the run of {day} ({errors[0]}): start each "
                          "template that uses `run` with RUN, which names the run's interval"]
    args = [str(a) for a in args]
    for flag, value in want.items():
        if flag not in args:
            missing.append(f"its application_args lack {flag}")
            continue
        got = args[args.index(flag) + 1] if args.index(flag) + 1 < len(args) else None
        if got != value:
            hint = ": take the day from the interval (RUN, then run.ds)" if day in value else ""
            missing.append(f"its {flag} is {got!r} for the run of the day {day} (logical date "
                           f"{SAMPLE_LOGICAL_DATE[:10]}), not {value!r}{hint}")
    return missing


@exercise("07.4", file=FILE, dag_id=DAG_ID, title="the aggregation with SparkSubmitOperator, producing an Asset")
def aggregation(dag: dict, cfg: Config) -> list[str]:
    missing: list[str] = []
    task = _task(dag, AGGREGATE, missing, "a SparkSubmitOperator on connection spark_default")
    if task is None:
        return missing
    if task["operator"] != "SparkSubmitOperator":
        missing.append(f"`{AGGREGATE}` is a {task['operator']}: use SparkSubmitOperator (the seed's operator)")
    else:
        if task["conn_id"] != "spark_default":
            missing.append(f"its conn_id is {task['conn_id']!r}: spark_default (labkit generates it)")
        missing += _spark_arguments(task["rendered"])
    if not task["outlets"]:
        missing.append(f"`{AGGREGATE}` produces no Asset: outlets=[Asset(...)]")
    if not _after(dag, AGGREGATE, RECONCILE):
        missing.append(f"`{AGGREGATE}` must run after `{RECONCILE}` (aggregate only a reconciled day)")
    return missing


@exercise("07.5", file=FILE, dag_id=REPORT_DAG_ID, title="a DAG scheduled on the Asset")
def consumer(dag: dict, cfg: Config) -> list[str]:
    if dag["timetable"] != "AssetTriggeredTimetable":
        return [f"{REPORT_DAG_ID} is scheduled by a {dag['timetable']}: schedule=[<the Asset>] makes it data-aware"]
    missing = [f"{REPORT_DAG_ID} is scheduled on {name!r}, which no task of this file produces "
               f"(produced: {', '.join(dag['file_outlets']) or 'none'})"
               for name in dag["schedule_assets"] if name not in dag["file_outlets"]]
    if not dag["tasks"]:
        missing.append(f"{REPORT_DAG_ID} has no task: one @task that says which runs made the new aggregates")
    return missing


# -- 07.6: a data-quality gate, run by the check on a day it writes whole and a day it corrupts ----------------
CHECK_OPERATORS = {"SQLColumnCheckOperator", "SQLTableCheckOperator", "SQLCheckOperator", "SQLValueCheckOperator",
                   "SQLIntervalCheckOperator", "SQLThresholdCheckOperator"}
# The check's own two days, which no run of notebook 07 touches: the first whole, the second corrupted (see
# run_gates). Their rows are deleted again when the check ends.
GOOD_DAY, BAD_DAY = "2021-01-20", "2021-01-21"


def gates(dag: dict) -> list[str]:
    """The common-sql check tasks between the generated rows and the import."""
    return sorted(t for t, task in dag["tasks"].items() if task["operator"] in CHECK_OPERATORS
                  and _after(dag, t, GENERATE) and _after(dag, IMPORT, t))


def _next_day(ds: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(ds) + timedelta(days=1)).isoformat()


def run_gates(cfg: Config, files: list[tuple[str, list[str]]], dag_id: str = DAG_ID) -> list[dict[str, dict]]:
    """Per (file, its gate task ids): the gate tasks alone (`dag.test()`, every other task marked success) on
    GOOD_DAY and BAD_DAY as this writes them into PostgreSQL, {day: {task_id: state}} (or {day: {"error": ...}}).
    One process for all (Airflow imports once); the two days' rows are deleted again at the end."""

    days = {day: interval_where(*daily_runs.day_interval(day)) for day in (GOOD_DAY, BAD_DAY)}
    table = daily_runs.TABLE
    try:
        with dummy.connect(cfg) as conn, conn.cursor() as cur:
            for day in days:
                for statement in dummy.statements(daily_runs.generate_sql(cfg, day)):
                    cur.execute(statement)
            # the corruption: a minute's rows gone, and the day's first minute one row short and one row without
            # its line (a gate on the wrong minutes of the interval's ends reads that minute with the day before)
            cur.execute(f"delete from {table} where created = %s", (f"{BAD_DAY} 12:00",))
            cur.execute(f"delete from {table} where created = %s and line = 'dummy02'", (f"{BAD_DAY} 00:00",))
            cur.execute(f"update {table} set line = null where created = %s and line = 'dummy01'", (f"{BAD_DAY} 00:00",))
        # a manual run's data interval is the day before its logical date: the run of `day` has the next one
        cases = [{"path": path, "dag_id": dag_id, "logical_date": _next_day(day), "only": gate_ids}
                 for path, gate_ids in files for day in days]
        states = dagtest.run_only(cfg, cases)
        return [dict(zip(days, states[i:i + len(days)])) for i in range(0, len(states), len(days))]
    finally:
        with dummy.connect(cfg) as conn, conn.cursor() as cur:
            cur.execute(f"delete from {table} where " + " or ".join(f"({w})" for w in days.values()))


def _gate_behaviour(states: dict[str, dict], gate_ids: list[str]) -> list[str]:
    good, bad = states[GOOD_DAY], states[BAD_DAY]
    for day, got in states.items():
        if "error" in got:
            return [f"dag.test() of the gate for {day} did not run: {got['error']}"]
    failed_good = [t for t in gate_ids if good.get(t) != "success"]
    if failed_good:
        return [f"on {GOOD_DAY}, a whole day (144,000 rows: 100 a minute, none without its line), the gate "
                f"{', '.join(failed_good)} ends {good.get(failed_good[0])}: it must pass a good day (does its "
                "partition_clause select the run's day, from its data interval?)"]
    if all(bad.get(t) == "success" for t in gate_ids):
        return [f"on {BAD_DAY}, whose rows of 12:00 are missing and whose first minute lacks a row and has a row "
                "without its line, the gate passes: it must fail that day (check the day's rows: their count, their "
                "nulls)"]
    return []


@exercise("07.6", file=FILE, dag_id=DAG_ID, title="a data-quality gate before the import", runs_tasks=True)
def quality_gate(dag: dict, cfg: Config) -> list[str]:
    missing: list[str] = []
    if not (_task(dag, GENERATE, missing) and _task(dag, IMPORT, missing)):
        return missing
    checks = [t for t, task in dag["tasks"].items() if task["operator"] in CHECK_OPERATORS]
    found = gates(dag)
    if not checks:
        return [f"there is no data-quality gate yet: a common-sql check operator (SQLColumnCheckOperator, "
                f"SQLTableCheckOperator) on the day's rows, after `{GENERATE}` and before `{IMPORT}`"]
    if not found:
        return [f"{', '.join(checks)} must run after `{GENERATE}` and before `{IMPORT}` (a gate stops a bad day "
                "before it is imported)"]
    for t in found:
        task = dag["tasks"][t]
        if task["conn_id"] != "postgres_default" or daily_runs.TABLE not in str(task["fields"].get("table")):
            missing.append(f"`{t}` must check {daily_runs.TABLE} on postgres_default (it checks "
                           f"{task['fields'].get('table')!r} on {task['conn_id']!r})")
    if missing:
        return missing
    return _gate_behaviour(run_gates(cfg, [(dag["fileloc"], found)])[0], found)


# -- 07.7: a backfill and a clear, done with Airflow's CLI; the check reads what Airflow recorded -----------------
BACKFILL_DAYS = ("2021-01-01", "2021-01-02", "2021-01-03")
CLEARED_DAY = "2021-01-02"


def _backfill_and_clear(runs: list[dict], cleared: dict[str, bool]) -> list[str]:
    """What is missing, from the DAG's runs (REST dagRuns) and, per run id, whether it was cleared after it had
    succeeded (see `_was_cleared`)."""
    by_day = {}
    for run in runs:
        if run.get("run_type") == "backfill" and (run.get("logical_date") or "")[:10] in BACKFILL_DAYS:
            by_day[run["logical_date"][:10]] = run
    absent = [d for d in BACKFILL_DAYS if d not in by_day]
    if absent:
        return [f"there is no backfill run of {', '.join(absent)} (`airflow backfill create --dag-id {DAG_ID} "
                "--from-date ... --to-date ...`)"]
    missing = []
    for day, run in sorted(by_day.items()):
        if (run.get("data_interval_start") or "")[:10] != day:
            missing.append(f"the run of {day} works on {(run.get('data_interval_start') or '')[:10]}, not its day")
        if run.get("state") != "success":
            missing.append(f"the backfill run of {day} is {run.get('state')}, not success (its task log says why)")
    if missing:
        return missing
    if not cleared.get(by_day[CLEARED_DAY]["dag_run_id"]):
        return [f"the run of {CLEARED_DAY} ran once: clear it (`airflow tasks clear {DAG_ID} ...`) so it runs again"]
    also = [d for d in BACKFILL_DAYS if d != CLEARED_DAY and cleared.get(by_day[d]["dag_run_id"])]
    if also:
        return [f"the run of {', '.join(also)} ran again too: clear {CLEARED_DAY} only (its start and end date)"]
    return []


def _was_cleared(tries: list[dict]) -> bool:
    """A task's tries (REST `.../taskInstances/<task>/tries`) show a clear: a try that succeeded, then another. A
    retry after a failure is no clear (its earlier try failed)."""
    tries = sorted(tries, key=lambda t: t.get("try_number") or 0)
    return any(t.get("state") == "success" for t in tries[:-1])


@exercise("07.7", file=FILE, dag_id=DAG_ID, title="a backfill and a clear with Airflow's CLI",
          solution="none")
def backfill_and_clear(dag: dict, cfg: Config) -> list[str]:
    api = services.get(cfg, "airflow").api()              # Airflow's REST API: GET dagRuns, a task's tries
    runs = api.get(f"dags/{DAG_ID}/dagRuns", run_type="backfill", limit=100)["dag_runs"]
    cleared = {run["dag_run_id"]: _was_cleared(api.get(f"dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/"
                                                        f"{GENERATE}/tries")["task_instances"])
               for run in runs if (run.get("logical_date") or "")[:10] in BACKFILL_DAYS}
    return _backfill_and_clear(runs, cleared)


# -- 07.8: the learner's own pytest file: it passes on their DAG, and fails on copies broken on purpose -----------
TEST_FILE = "tests/test_my_workshop_job.py"
# What the check breaks in a copy of the learner's DAG file: (what it appends, what a test that catches it tests)
BROKEN = {
    "does_not_import": ('\nraise ImportError("broken on purpose by the check of 07.8")\n',
                        "a DAG file that does not import"),
    "a_task_fails": ("""
# -- broken on purpose by the check of 07.8: the first task fails when it runs
for _dag in [v for v in list(globals().values()) if type(v).__name__ == "DAG" and v.dag_id == "my_workshop_job"][:1]:
    _dag.get_task("generate_interval_rows").sql, _dag.get_task("generate_interval_rows").retries = "select 1/0", 0
""", "a DAG whose first task fails when it runs (dag.test() must end in success)"),
}


def _junit(path) -> dict[str, dict[str, int]]:
    """Per test file directory's parent (the tree), {tests, failed}: from a junit XML that pytest wrote."""
    import xml.etree.ElementTree as ET

    out: dict[str, dict[str, int]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        tree = (case.get("classname") or "").split(".")[0]
        counts = out.setdefault(tree, {"tests": 0, "failed": 0})
        counts["tests"] += 1
        counts["failed"] += int(case.find("failure") is not None or case.find("error") is not None)
    return out


def run_on_broken(cfg: Config, test_files: list, dag_file, timeout: float = 600) -> list[dict[str, dict[str, int]]]:
    """Each test file on each BROKEN copy of the DAG file, all in one pytest process (Airflow imports once): per
    test file, {kind: {tests, failed}}. Each copy is a tree of its own, `t<N>_<kind>/dags/` and
    `t<N>_<kind>/tests/`, as a test finds the DAG folder beside its own folder."""
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path


    dag_file = Path(dag_file)
    with tempfile.TemporaryDirectory(prefix="labkit-07.8-") as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text(TESTS_INI)
        trees = []
        for n, test_file in enumerate(map(Path, test_files)):
            for kind, (broken, _) in BROKEN.items():
                tree = root / f"t{n}_{kind}"
                (tree / "dags").mkdir(parents=True)
                (tree / "tests").mkdir()
                (tree / "dags" / dag_file.name).write_text(dag_file.read_text() + broken)
                (tree / "dags" / "sql").symlink_to(cfg.dags_dir / "sql", target_is_directory=True)
                for helper in test_file.parent.glob("conftest.py"):       # the learner's fixtures, if any
                    shutil.copyfile(helper, tree / "tests" / helper.name)
                shutil.copyfile(test_file, tree / "tests" / test_file.name)
                trees.append(tree)
        result = root / "result.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-c", str(root / "pytest.ini"), "--rootdir", str(root),
                   "--import-mode=importlib", f"--junitxml={result}", *[str(t / "tests") for t in trees]]
        try:
            subprocess.run(command, cwd=root, env=airflow_env(cfg), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            pass                                   # no result: each tree counts as "did not fail"
        found = _junit(result) if result.exists() else {}
    return [{kind: found.get(f"t{n}_{kind}", {"tests": 0, "failed": 0}) for kind in BROKEN}
            for n in range(len(test_files))]


def _last_run(test_file, dag_file) -> list[str]:
    """What is wrong with the learner's last run of their tests (what the tests folder's conftest.py recorded)."""
    import json
    from pathlib import Path


    test_file, dag_file = Path(test_file), Path(dag_file)
    last = test_file.parent / LAST_RUN
    run_it = f"run them: `!pytest -v {test_file}` (the notebook's cell runs exactly that)"
    if not last.exists():
        return [f"your tests have not run yet: {run_it}"]
    if last.stat().st_mtime < max(test_file.stat().st_mtime, dag_file.stat().st_mtime):
        return [f"your tests or your DAG changed after your tests last ran: {run_it}"]
    outcomes = {k: v for k, v in json.loads(last.read_text()).items() if k.split("::")[0].endswith(test_file.name)}
    if not outcomes:
        return [f"{test_file.name} has no test yet (a function whose name starts with test_)"]
    failed = [k for k, v in outcomes.items() if v != "passed"]
    if failed:
        return [f"{len(failed)} of your {len(outcomes)} tests fail on your DAG ({failed[0].split('::')[-1]}): "
                "pytest's output says why"]
    return []


def _catches(broken: dict[str, dict[str, int]]) -> list[str]:
    missed = [BROKEN[kind][1] for kind, counts in broken.items() if not counts.get("failed")]
    if missed:
        return [f"your tests pass on {' and on '.join(missed)}: a test that cannot fail proves nothing"]
    return []


@exercise("07.8", file=TEST_FILE, dag_id=DAG_ID, title="your own tests of the DAG, run by pytest", dag_file=FILE)
def learner_tests(dag: dict, cfg: Config) -> list[str]:
    test_file, dag_file = learner_path(cfg, TEST_FILE), learner_path(cfg, FILE)
    return _last_run(test_file, dag_file) or _catches(run_on_broken(cfg, [test_file], dag_file)[0])
