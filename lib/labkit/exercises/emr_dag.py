"""The checks of notebook 08's exercises, which build the learner's `my_emr_job` one task at a time from a file
that has only the given parts (notebooks/skeletons/my_emr_job.py: the cluster, the step, two helpers).

Each check reads the DAG's shape from Airflow's DagBag, then runs the learner's tasks with `dag.test()` on the
lab's EMR endpoint (labkit.exercises.dagtest.run_only, one run for the logical date DAY) and reads what they
did: the cluster the run created and its state, its step, the row the step wrote into MySQL's `emr_table`, and
whether the sensor deferred. A cluster that a wrong file leaves running is terminated by the check, which says so.
"""
from __future__ import annotations

from pathlib import Path

from labkit import connections, emr_client
from labkit.config import Config
from labkit.emr_client import retail
from labkit.exercises import dagtest
from labkit.exercises.checking import exercise

FILE, DAG_ID = "my_emr_job.py", "my_emr_job"
CREATE, STEP, SENSOR, TERMINATE = "create_cluster", "add_step", "monitor_step", "terminate_cluster"
GROWS = ("08.1", "08.2", "08.3")            # the exercises that each add tasks to the file
DAY = "2024-02-01"                  # the logical date of the checks' runs (the notebook's own runs use others)
LIVE = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING")


def _task(dag: dict, task_id: str, operator: str, exercise_id: str) -> tuple[dict | None, list[str]]:
    task = dag["tasks"].get(task_id)
    if task is None:
        return None, [f"your DAG has no task `{task_id}` yet (it has: {', '.join(sorted(dag['tasks'])) or 'none'}): "
                      f"add it as exercise {exercise_id} describes"]
    if task["operator"] != operator:
        return None, [f"`{task_id}` is a {task['operator']}, not an {operator}"]
    return task, []


def _reads(task: dict, field: str) -> list[str]:
    """The tasks whose XCom a field takes as an XComArg ([] for a string, an xcom_pull template included)."""
    return task["xcom_args"].get(field, [])


def _downstream(dag: dict, task_id: str) -> set[str]:
    seen, todo = set(), list(dag["tasks"][task_id]["downstream"])
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += dag["tasks"][current]["downstream"]
    return seen


# -- what a run did ---------------------------------------------------------------------------------------------
def clusters(client) -> dict[str, str]:
    """{id: state} of the clusters the checks' runs create (named `my_emr_job <DAY>`)."""
    return {c["Id"]: c["Status"]["State"] for c in client.list_clusters()["Clusters"]
            if c["Name"] == f"{DAG_ID} {DAY}"}


def expected_sum(cfg: Config) -> int:
    """What the step must write for DAY: the sum of Quantity of the raw data (notebook 08's section 1)."""
    return retail.expected_quantity_sum(retail.rows_for(cfg))


def _forget_day(cfg: Config) -> None:
    """No row of DAY before a run: the row a check reads is the one its run wrote."""
    if emr_client.results(cfg, DAY):
        with connections.get(cfg, "mysql").connect() as conn, conn.cursor() as cur:
            cur.execute("delete from emr_table where date = %s", (DAY,))
            conn.commit()


def run(cfg: Config, dag: dict, only: list[str]) -> dict:
    """dag.test() of the learner's `only` tasks for DAY (the others marked success), and what it did:
    {"state": run_only's answer, "clusters": {id: state} it created, "steps": [states of their steps],
    "left": [clusters it left running, which this check terminated], "row": emr_table's value of DAY or None}."""
    client = emr_client.client(cfg)
    before = set(clusters(client))
    _forget_day(cfg)
    case = {"path": dag["fileloc"], "dag_id": DAG_ID, "logical_date": f"{DAY}T00:00:00+00:00", "only": only}
    try:
        state = dagtest.run_only(cfg, [case])[0]
    finally:                                       # also when the run did not finish (a timeout)
        now = clusters(client)
        made = [c for c in now if c not in before]
        left = [c for c in made if now[c] in LIVE and now[c] != "TERMINATING"]
        if left:                                   # a wrong file's cluster: ended here, never left billing
            client.terminate_job_flows(JobFlowIds=left)
    for cluster_id in made:                        # TERMINATING lasts a moment
        client.get_waiter("cluster_terminated").wait(ClusterId=cluster_id, WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    steps = [s["Status"]["State"] for c in made for s in client.list_steps(ClusterId=c)["Steps"]]
    rows, now = emr_client.results(cfg, DAY), clusters(client)
    return {"state": state, "clusters": {c: now[c] for c in made}, "steps": steps, "left": left,
            "row": int(rows[0][1]) if rows else None, "log": str(dagtest.log_path(cfg, "run_only"))}


def _ended(facts: dict, tasks: list[str]) -> list[str]:
    """One line for a run that did not start, or the first of `tasks` that did not succeed."""
    state = facts["state"]
    if "error" in state:
        return [f"dag.test() of your DAG for {DAY} did not run: {state['error']}"]
    for task_id in tasks:
        if state.get(task_id) != "success":
            return [f"`{task_id}` for {DAY} ended {state.get(task_id) or 'without running'}"
                    f"{dagtest.task_error(Path(facts['log']))}; Airflow's log: {facts['log']}"]
    return []


def cluster_behaviour(facts: dict) -> list[str]:
    """08.1's run: one cluster created, and terminated by the run itself."""
    ended = _ended(facts, [CREATE, TERMINATE])
    if ended:
        return ended
    if not facts["clusters"]:
        return [f"the run for {DAY} created no cluster named `{DAG_ID} {DAY}`: create_cluster must use "
                "JOB_FLOW_OVERRIDES"]
    if facts["left"]:
        return [f"`{TERMINATE}` succeeded, but the cluster the run created ({facts['left'][0]}) was still running "
                "(the check terminated it): it ended another cluster; its job_flow_id must be the id that "
                f"`{CREATE}` returned"]
    return []


def step_behaviour(facts: dict, expected: int, tasks: list[str]) -> list[str]:
    """08.2's and 08.3's run: the step wrote the day's sum, and the cluster is gone."""
    ended = _ended(facts, tasks) or cluster_behaviour(facts)
    if ended:
        return ended
    if facts["row"] is None:
        cut = [s for s in facts["steps"] if s in ("CANCELLED", "PENDING", "RUNNING", "INTERRUPTED")]
        return [f"the run for {DAY} succeeded, but emr_table has no row for {DAY}"
                + (f" (its step ended {cut[0]}): {TERMINATE} ended the cluster while the step still ran; the run must "
                   "wait until the step has finished" if cut else
                   f" (its steps: {', '.join(facts['steps']) or 'none'})")]
    if facts["row"] != expected:
        return [f"emr_table's row for {DAY} is {facts['row']:,}, not the sum of Quantity {expected:,}"]
    return []


# -- 08.1: the cluster, and its teardown ------------------------------------------------------------------------
def teardown_shape(dag: dict) -> list[str]:
    create, missing = _task(dag, CREATE, "EmrCreateJobFlowOperator", "08.1")
    if missing:
        return missing
    terminate, missing = _task(dag, TERMINATE, "EmrTerminateJobFlowOperator", "08.1")
    if missing:
        return missing
    if not terminate["is_teardown"]:
        rule = terminate["trigger_rule"]
        return [f"`{TERMINATE}` is not a teardown (its trigger rule is {rule}): "
                + ("all_done also runs after a failed step, but then it succeeds as the run's last task and the run "
                   "of a failed step ends success" if rule == "all_done" else
                   "it is skipped when a task before it fails, and the cluster is left running")]
    if CREATE not in terminate["upstream"] or not create["is_setup"]:
        return [f"`{TERMINATE}` is a teardown without its setup: the setup is `{CREATE}` (the teardown then runs "
                "only when the cluster was created)"]
    if terminate["on_failure_fail_dagrun"]:
        return [f"`{TERMINATE}` has on_failure_fail_dagrun=True: a failed step is what must fail the run"]
    return []


@exercise("08.1", file=FILE, dag_id=DAG_ID, title="a cluster, and its teardown", solution="file", runs_tasks=True)
def cluster_and_teardown(dag: dict, cfg: Config) -> list[str]:
    return teardown_shape(dag) or cluster_behaviour(run(cfg, dag, [CREATE, TERMINATE]))


# -- 08.2: the step -----------------------------------------------------------------------------------------------
def step_shape(dag: dict) -> list[str]:
    step, missing = _task(dag, STEP, "EmrAddStepsOperator", "08.2")
    if missing:
        return missing
    if _reads(step, "job_flow_id") != [CREATE]:
        return [f"`{STEP}`'s job_flow_id is {'a string' if not _reads(step, 'job_flow_id') else 'another XComArg'}: "
                f"make it the XComArg of what `{CREATE}` returns ({CREATE}.output), no task id in a string"]
    if "retail_quantity.py" not in str(step["fields"].get("steps")):
        return [f"`{STEP}` does not add SPARK_STEPS"]
    if TERMINATE not in _downstream(dag, STEP):
        return [f"`{TERMINATE}` does not come after `{STEP}`: it could end the cluster before the step is even added"]
    return []


@exercise("08.2", file=FILE, dag_id=DAG_ID, title="the step, on the cluster", solution="file", runs_tasks=True)
def the_step(dag: dict, cfg: Config) -> list[str]:
    missing = teardown_shape(dag) or step_shape(dag)
    if missing:
        return missing
    tasks = sorted(dag["tasks"])
    return step_behaviour(run(cfg, dag, tasks), expected_sum(cfg), [CREATE, STEP, TERMINATE])


# -- 08.3: a deferrable sensor ------------------------------------------------------------------------------------
def sensor_shape(dag: dict) -> list[str]:
    sensor, missing = _task(dag, SENSOR, "EmrStepSensor", "08.3")
    if missing:
        return missing
    if _reads(sensor, "job_flow_id") != [CREATE]:
        return [f"`{SENSOR}`'s job_flow_id is not the XComArg of what `{CREATE}` returns"]
    source = _reads(sensor, "step_id")
    if not source:
        return [f"`{SENSOR}`'s step_id is a string: make it an XComArg of the step id `{STEP}` returned"]
    if not any(s == STEP or STEP in dag["tasks"].get(s, {}).get("upstream", []) for s in source):
        return [f"`{SENSOR}`'s step_id reads {', '.join(source)}, not the step ids `{STEP}` returned"]
    if not sensor["deferrable"]:
        if sensor["mode"] == "reschedule":
            return [f"`{SENSOR}` has mode='reschedule': it frees its worker slot between pokes, but each poke starts "
                    "the task again on a worker (a new process that parses the DAG); make it deferrable instead: "
                    "the triggerer polls EMR in one shared loop and no worker slot is held"]
        return [f"`{SENSOR}` waits in a worker slot for the step's whole run (mode='poke'): make it deferrable, "
                "and the triggerer polls EMR while no worker slot is held"]
    if TERMINATE not in _downstream(dag, SENSOR):
        return [f"`{TERMINATE}` does not come after `{SENSOR}`: it would end the cluster under the step"]
    return []


def deferral_behaviour(facts: dict) -> list[str]:
    """08.3's run, after step_behaviour: the sensor handed its wait to a trigger."""
    if SENSOR not in facts["state"].get(dagtest.DEFERRED, []):
        return [f"`{SENSOR}` never deferred: the step had already ended when it first asked EMR, so it had nothing "
                f"to wait for. Does `{STEP}` still wait for its step itself (wait_for_completion)? Let the sensor "
                "wait, from the triggerer"]
    return []


@exercise("08.3", file=FILE, dag_id=DAG_ID,
          title="a deferrable sensor waits for the step", solution="file", runs_tasks=True)
def deferrable_sensor(dag: dict, cfg: Config) -> list[str]:
    missing = teardown_shape(dag) or step_shape(dag) or sensor_shape(dag)
    if missing:
        return missing
    facts = run(cfg, dag, sorted(dag["tasks"]))
    return step_behaviour(facts, expected_sum(cfg), [CREATE, STEP, SENSOR, TERMINATE]) or deferral_behaviour(facts)
