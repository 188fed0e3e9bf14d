"""The checks of notebook 07's exercises: the learner builds `my_workshop_job` (and its asset's consumer).

Each check reads the DAG's report (labkit.exercises.dagbag) and returns what is still missing, one short
phrase each, in the order a learner would fix them.
"""
from __future__ import annotations

import re

from labkit.config import Config
from labkit.exercises.checking import exercise
from labkit.exercises.parsing import SAMPLE_INTERVAL, SAMPLE_LOGICAL_DATE, sample_variable

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
    return upstream in dag["tasks"].get(task_id, {}).get("upstream", [])


@exercise("07.1", file=FILE, dag_id=DAG_ID, title="the order of the tasks")
def order(dag: dict, cfg: Config) -> list[str]:
    missing: list[str] = []
    if _task(dag, GENERATE, missing) and _task(dag, IMPORT, missing) and not _after(dag, IMPORT, GENERATE):
        missing.append(f"`{IMPORT}` does not run after `{GENERATE}` (it reads that task's count): "
                       f"{GENERATE} >> {IMPORT}")
    return missing


def _where(bash_command: str) -> str:
    found = re.search(r'--where\s+"([^"]*)"', bash_command or "")
    return found.group(1) if found else ""


@exercise("07.2", file=FILE, dag_id=DAG_ID, title="the data interval")
def data_interval(dag: dict, cfg: Config) -> list[str]:
    missing: list[str] = []
    if dag["timetable"] != "CronDataIntervalTimetable":
        missing.append(f"the schedule is a {dag['timetable']}: give it a daily data interval, "
                       "CronDataIntervalTimetable(\"@daily\", timezone=\"UTC\") (a bare \"@daily\" is a point in time)")
    elif dag["schedule"] not in ("@daily", "0 0 * * *"):
        missing.append(f"the schedule is {dag['schedule']!r}: one run a day, \"@daily\"")
    task = _task(dag, IMPORT, missing)
    if task:
        where = _where(task["fields"].get("bash_command"))
        if re.search(r"\{\{\s*(ds|ds_nodash|logical_date|ts)\b", where):
            missing.append("the --where uses the logical date ({{ ds }}), which a manual run in Airflow 3 may not "
                           "have: take the day from the interval, {{ run.start }} and {{ run.end }}")
        elif not (re.search(r"(run\.start|data_interval_start)", where)
                  and re.search(r"(run\.end|data_interval_end)", where)):
            missing.append("the --where must bound `created` on both sides of the run's interval: "
                           "created >= '{{ run.start }}' and created < '{{ run.end }}'")
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
