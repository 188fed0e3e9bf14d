"""The checks of notebook 08's exercises: the learner's `my_emr_job` (skeleton `notebooks/skeletons/my_emr_job.py`).

Each check reads the DAG's report (`dagbag.dag_report`) and returns what is missing, one short sentence each.
"""
from __future__ import annotations

from labkit.exercises.checking import exercise

FILE, DAG_ID = "my_emr_job.py", "my_emr_job"
CREATE, STEP, SENSOR, TERMINATE = "create_cluster", "add_step", "monitor_step", "terminate_cluster"


def _tasks(dag: dict, *task_ids: str) -> list[str]:
    """The tasks the skeleton has and the check needs, if one is gone."""
    return [f"there is no task {t!r} (start afresh with `labkit workspace reset`)" for t in task_ids
            if t not in dag["tasks"]]


def _reads(task: dict, field: str) -> list[str]:
    """The tasks whose XCom a field takes as an XComArg ([] for a string, an xcom_pull template included)."""
    return task["xcom_args"].get(field, [])


@exercise("08.1", file=FILE, dag_id=DAG_ID, title="XComArgs, not xcom_pull strings")
def xcom_args(dag: dict, cfg) -> list[str]:
    missing = _tasks(dag, CREATE, STEP, SENSOR)
    if missing:
        return missing
    tasks = dag["tasks"]
    if _reads(tasks[STEP], "job_flow_id") != [CREATE]:
        missing.append(f"{STEP}.job_flow_id is a string (want {CREATE}.output)")
    if _reads(tasks[SENSOR], "job_flow_id") != [CREATE]:
        missing.append(f"{SENSOR}.job_flow_id is a string (want cluster_id = {CREATE}.output)")
    source = _reads(tasks[SENSOR], "step_id")
    if not source:
        missing.append(f"{SENSOR}.step_id is a string (want step_id = first_step({STEP}.output))")
    elif not any(s == STEP or STEP in tasks.get(s, {}).get("upstream", []) for s in source):
        missing.append(f"{SENSOR}.step_id reads {', '.join(source)}, not the step ids {STEP} returned")
    return missing


@exercise("08.2", file=FILE, dag_id=DAG_ID, title="terminate the cluster as a teardown")
def teardown(dag: dict, cfg) -> list[str]:
    missing = _tasks(dag, CREATE, SENSOR)
    if missing:
        return missing
    terminate = dag["tasks"].get(TERMINATE)
    if terminate is None:
        return [f"there is no task {TERMINATE!r}: an EmrTerminateJobFlowOperator with job_flow_id=cluster_id"]
    if terminate["operator"] != "EmrTerminateJobFlowOperator":
        missing.append(f"{TERMINATE} is a {terminate['operator']}, not an EmrTerminateJobFlowOperator")
    if _reads(terminate, "job_flow_id") != [CREATE]:
        missing.append(f"{TERMINATE}'s job_flow_id is not {CREATE}.output (cluster_id)")
    if SENSOR not in terminate["upstream"]:
        missing.append(f"{TERMINATE} does not come after {SENSOR} (it would end the cluster under the step)")
    if not terminate["is_teardown"]:
        rule = terminate["trigger_rule"]
        missing.append(f"{TERMINATE} is not a teardown: use .as_teardown(setups={CREATE})"
                       + (" (all_done alone would mark a failed step's run success)" if rule == "all_done" else
                          f" (with trigger rule {rule} it is skipped when the step fails)"))
    elif CREATE not in terminate["upstream"] or not dag["tasks"][CREATE]["is_setup"]:
        missing.append(f"{TERMINATE} is a teardown without its setup: .as_teardown(setups={CREATE})")
    elif terminate["on_failure_fail_dagrun"]:
        missing.append(f"{TERMINATE} has on_failure_fail_dagrun=True: the step's failure is what fails the run")
    return missing


@exercise("08.3", file=FILE, dag_id=DAG_ID, title="a deferrable sensor")
def deferrable(dag: dict, cfg) -> list[str]:
    missing = _tasks(dag, SENSOR)
    if missing:
        return missing
    sensor = dag["tasks"][SENSOR]
    if not sensor["deferrable"]:
        if sensor["mode"] == "reschedule":
            return [f"{SENSOR} has mode='reschedule': it frees its worker slot between pokes, but each poke starts "
                    "the task again on a worker (a new process that parses the DAG); give it deferrable=True "
                    "instead: the triggerer polls EMR in one shared loop and no worker slot is held"]
        return [f"{SENSOR} waits in a worker slot for the step's whole run (mode='poke'): give it deferrable=True, "
                "and the triggerer polls EMR while no worker slot is held"]
    return []
