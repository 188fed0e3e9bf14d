"""Parse one DAG file with Airflow's own DagBag and print, as JSON, what the exercise checks look at.

Run as `python -m labkit.exercises.dagbag <file>...`, or `--serve` (the checks' helper process, see `parsing`:
one JSON list of paths per input line, one JSON line of reports back), with a throwaway AIRFLOW_HOME: parsing
needs no lab and never touches its metadata database. The learner's file is parsed as the lab's DAG processor
parses it, and a file that does not import is reported, never raised into the notebook.
"""
from __future__ import annotations

import json
import os
import sys

from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.xcom_arg import XComArg

from labkit.exercises.parsing import (READY, SAMPLE_CALLS, SAMPLE_INTERVAL, SAMPLE_LOGICAL_DATE,
                                      sample_connection, sample_variable)

# The template fields rendered for a sample run (parsing.SAMPLE_INTERVAL), each item of a list on its own: what a
# check compares with the truth, instead of reading the template's text.
RENDERED = ("application", "application_args", "bash_command")


def _text(value) -> object:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _text(v) for k, v in value.items()}
    return repr(value)


def _assets(objects) -> list[str]:
    """Asset names (or URIs) among a task's outlets or inlets."""
    out = []
    for obj in objects or []:
        name = getattr(obj, "name", None) or getattr(obj, "uri", None)
        if name is not None:
            out.append(str(name))
    return out


def _schedule_assets(dag) -> list[str]:
    """The names of the assets a DAG is scheduled on (Airflow 3.3's SDK conditions nest `objects`)."""
    def walk(node):
        if hasattr(node, "objects"):                       # AssetAll / AssetAny
            return [name for child in node.objects for name in walk(child)]
        name = getattr(node, "name", None) or getattr(node, "uri", None)
        return [str(name)] if name is not None else []
    condition = getattr(dag.timetable, "asset_condition", None)
    return walk(condition) if condition is not None else []


def _xcom_sources(task) -> dict[str, list[str]]:
    """The template fields given an XComArg: field -> the task ids whose XCom it reads when the task runs
    (`task:key` when it is not the task's return value: `add_step.output[0]` reads key 0 of add_step)."""
    found = {}
    for name in getattr(task, "template_fields", ()):
        ids = sorted({op.task_id if key == "return_value" else f"{op.task_id}:{key}"
                      for op, key in XComArg.iter_xcom_references(getattr(task, name, None))})
        if ids:
            found[name] = ids
    return found


class _Variables:
    """`var.value.NAME` (and `var.value.get("NAME")`) in a sample run: "<NAME>"."""

    def __getattr__(self, name: str) -> str:
        if name.startswith("__"):
            raise AttributeError(name)
        return sample_variable(name)

    def get(self, name: str, default=None) -> str:
        return sample_variable(name)


class _Connections:
    """`conn.<id>.<field>` in a sample run: "<id.field>"."""

    def __getattr__(self, conn_id: str):
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return type("_Connection", (), {"__getattr__": lambda _, field: sample_connection(conn_id, field)})()


class _TaskInstance:
    """`ti.xcom_pull(...)` in a sample run: a count, [[0]] (what the first task of my_workshop_job returns)."""

    def xcom_pull(self, *args, **kwargs):
        return [[0]]


def _rendered(task) -> dict:
    """RENDERED fields of the task as they render for the sample run: a value, or {"error": one line} (an item of a
    list that does not render is that item's error)."""
    import pendulum

    dag = task.dag
    start, end = (pendulum.parse(s) for s in SAMPLE_INTERVAL)
    logical = pendulum.parse(SAMPLE_LOGICAL_DATE)
    context = {"data_interval_start": start, "data_interval_end": end, "logical_date": logical,
               "ds": logical.to_date_string(), "ds_nodash": logical.format("YYYYMMDD"), "ts": logical.isoformat(),
               "var": {"value": _Variables()}, "conn": _Connections(), "ti": _TaskInstance(), "dag": dag,
               "task": task, "params": dict(dag.params or {})}
    env = dag.get_template_env()

    def render(value):
        try:
            return _text(task.render_template(value, context, env))
        except Exception as exc:            # the learner's template: its error is the answer, in one line
            return {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"}

    out = {}
    for name in RENDERED:
        value = getattr(task, name, None)
        if value is None or name not in getattr(task, "template_fields", ()):
            continue
        out[name] = [render(item) for item in value] if isinstance(value, (list, tuple)) else render(value)
    return out


def _calls(task) -> dict:
    """A TaskFlow function called once per parsing.SAMPLE_CALLS case, its XComArgs replaced by the case's values:
    {case: {"returned": repr} or {"raised": one line}}; {} for a task that is no function or reads other XComs."""
    function = getattr(task, "python_callable", None)
    args, kwargs = getattr(task, "op_args", None) or [], getattr(task, "op_kwargs", None) or {}
    sources = {op.task_id for op, _ in XComArg.iter_xcom_references([args, kwargs])}
    if function is None or not sources:
        return {}
    out = {}
    for case, values in SAMPLE_CALLS.items():
        if not sources <= set(values):
            return {}

        def value(v):
            return values[v.operator.task_id] if isinstance(v, XComArg) else v
        try:
            out[case] = {"returned": repr(function(*map(value, args), **{k: value(v) for k, v in kwargs.items()}))}
        except Exception as exc:             # raising is the point of the "unequal" case
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            out[case] = {"raised": f"{type(exc).__name__}: {message}"}
    return out


def task_report(task) -> dict:
    return {
        "operator": type(task).__name__,
        "module": type(task).__module__,
        "upstream": sorted(task.upstream_task_ids),
        "downstream": sorted(task.downstream_task_ids),
        "trigger_rule": str(getattr(task.trigger_rule, "value", task.trigger_rule)),
        "retries": task.retries,
        "owner": task.owner,
        "is_setup": bool(getattr(task, "is_setup", False)),
        "is_teardown": bool(getattr(task, "is_teardown", False)),
        "deferrable": bool(getattr(task, "deferrable", False)),
        "mode": getattr(task, "mode", None),              # a sensor's: poke or reschedule
        "outlets": _assets(getattr(task, "outlets", [])),
        "inlets": _assets(getattr(task, "inlets", [])),
        "fields": {name: _text(getattr(task, name, None)) for name in getattr(task, "template_fields", ())},
        "xcom_args": _xcom_sources(task),
        "on_failure_fail_dagrun": bool(getattr(task, "on_failure_fail_dagrun", False)),
        "callable": getattr(getattr(task, "python_callable", None), "__name__", None),
        "handler": getattr(getattr(task, "handler", None), "__name__", None),     # an SQL task's result handler
        "conn_id": getattr(task, "conn_id", None) or getattr(task, "_conn_id", None),
        "rendered": _rendered(task),
        "calls": _calls(task),
    }


def dag_report(dag) -> dict:
    timetable = dag.timetable
    return {
        "fileloc": dag.fileloc,
        "timetable": type(timetable).__name__,
        "schedule": getattr(timetable, "summary", None) or getattr(timetable, "expression", None),
        "schedule_assets": _schedule_assets(dag),
        "catchup": bool(dag.catchup),
        "max_active_runs": dag.max_active_runs,
        "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "tags": sorted(dag.tags),
        "params": sorted(dag.params.keys()) if dag.params else [],
        "doc_md": bool(dag.doc_md),
        "macros": sorted((dag.user_defined_macros or {}).keys()),
        "tasks": {t.task_id: task_report(t) for t in dag.tasks},
    }


def report(path: str) -> dict:
    bag = DagBag(dag_folder=path, safe_mode=False)
    dags = {dag_id: dag_report(dag) for dag_id, dag in bag.dags.items()}
    produced = sorted({a for dag in dags.values() for t in dag["tasks"].values() for a in t["outlets"]})
    for dag in dags.values():
        dag["file_outlets"] = produced          # the assets any DAG of the same file produces (a consumer's check)
    return {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": dags}


def serve() -> None:
    """One JSON list of paths per line on stdin -> one JSON line of reports on stdout, until stdin closes."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)              # all else written to stdout (Airflow's logging, a print in a DAG file) goes to stderr
    answers.write(READY + "\n")    # Airflow is imported: from now on a parse's time is the file's own
    answers.flush()
    for line in sys.stdin:
        paths = json.loads(line)
        answers.write(json.dumps({path: report(path) for path in paths}) + "\n")
        answers.flush()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        print(json.dumps({path: report(path) for path in sys.argv[1:]}))
