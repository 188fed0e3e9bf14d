"""Notebook 08's checks (labkit.exercises.emr_dag: 08.1 the cluster and its teardown, 08.2 the step, 08.3 a
deferrable sensor) on a learner's likely wrong turns. Each check rejects a wrong shape from the parse alone, and
a plausible file whose tasks run green but do the wrong thing when dag.test() runs them on the session's lab
(the cluster left running, the step cut short, a sensor that never waits), naming it in one line. That each
solution passes its own check is proven where it is used: nbval runs notebook 08 with LAB_SOLUTIONS=1, where a
solution that fails its check is an error.
"""
from __future__ import annotations

import pytest

import labkit
from helpers import solution, solution_variant
from labkit import connections, emr_client
from labkit.emr_client import retail
from labkit.exercises import checking, dagtest, emr_dag

IDS = ("08.1", "08.2", "08.3")
TEARDOWN = "    terminate_cluster.as_teardown(setups=create_cluster)\n"
WAIT = ("        wait_for_completion=True,                      # return once the step is done (asking EMR every 5 s)\n"
        "        waiter_delay=5,\n")
DEFERRABLE = ("        deferrable=True,                               # poll from the triggerer: no worker slot held "
              "meanwhile\n")


# (exercise, name): (text in the solution, its wrong replacement, what the check must say)
SHAPE = {
    ("08.1", "all_done"): (TEARDOWN, '    terminate_cluster.trigger_rule = "all_done"\n',
                           "is not a teardown (its trigger rule is all_done): all_done also runs after a failed step"),
    ("08.1", "no_setup"): (TEARDOWN, "    terminate_cluster.as_teardown()\n", "a teardown without its setup"),
    ("08.2", "pull_string"): ("        job_flow_id=create_cluster.output,             # an XComArg",
                              "        job_flow_id=\"{{ ti.xcom_pull(task_ids='create_cluster') }}\",  #",
                              "`add_step`'s job_flow_id is a string"),
    ("08.2", "terminate_first"): ("    add_step >> terminate_cluster.as_teardown(setups=create_cluster)\n",
                                  "    terminate_cluster.as_teardown(setups=create_cluster)\n",
                                  "`terminate_cluster` does not come after `add_step`"),
    ("08.3", "poke"): (DEFERRABLE, "", "waits in a worker slot for the step's whole run (mode='poke')"),
    ("08.3", "reschedule"): (DEFERRABLE, '        mode="reschedule",\n',
                             "has mode='reschedule': it frees its worker slot between pokes"),
    ("08.3", "index"): ("step_id=first_step(add_step.output),", "step_id=add_step.output[0],",
                        "does not import: ValueError: XComArg only supports str lookup"),     # Airflow's own line
    ("08.3", "other_key"): ("step_id=first_step(add_step.output),", "step_id=add_step.output['return'],",
                            "`monitor_step`'s step_id reads add_step:return, not the step ids"),
}
# Plausible files whose tasks run green but do the wrong thing ("{ended}": a cluster id the test made and ended).
BEHAVIOUR = {
    # a teardown that ends a cluster, but not this run's (an id copied from an earlier run)
    ("08.1", "another_cluster"): ("job_flow_id=create_cluster.output,", 'job_flow_id="{ended}",',
                                  "was still running (the check terminated it): it ended another cluster"),
    # the step is added, and its cluster is terminated at once
    ("08.2", "no_wait"): (WAIT, "", "no row for 2024-02-01 (its step ended CANCELLED)"),
}


def variant(cfg, tmp_path, exercise_id: str, name: str, right: str, wrong: str):
    return solution_variant(cfg, tmp_path, exercise_id, name, right, wrong, emr_dag.FILE)


def test_each_exercise_is_a_whole_file_growing_the_one_before():
    cfg = labkit.load()
    skeleton = checking.skeleton_path(cfg, emr_dag.FILE).read_text()
    given = skeleton[:skeleton.index("    pass ")]
    texts = [solution(cfg, i) for i in IDS]
    for exercise_id, text in zip(IDS, texts):
        assert checking.get(exercise_id).solution == "file" and checking.get(exercise_id).file == emr_dag.FILE
        assert text.startswith(given), f"{exercise_id}'s answer changed the given part of the file"
    for task in (emr_dag.CREATE, emr_dag.TERMINATE, emr_dag.STEP, emr_dag.SENSOR):
        grown = [f'task_id="{task}"' in t for t in texts]
        assert grown == sorted(grown), (task, grown)      # once an exercise adds a task, every later answer keeps it
    assert "task_id=" not in skeleton


def test_shape_mistakes_are_named_from_the_parse_alone(tmp_path):
    cfg = labkit.load()
    paths = {key: variant(cfg, tmp_path, *key, right, wrong) for key, (right, wrong, _) in SHAPE.items()}
    reports = checking.parse(cfg, *paths.values())
    for key, path in paths.items():
        result = checking.verdict(checking.get(key[0]), reports[str(path)], path, cfg)
        assert not result.passed and SHAPE[key][2] in str(result), (key, str(result))
        assert len(str(result).splitlines()) == 1


def test_the_starting_file_has_no_task_and_each_check_asks_for_its_own():
    cfg = labkit.load()
    path = checking.skeleton_path(cfg, emr_dag.FILE)
    report = checking.parse(cfg, path)[str(path)]
    assert report["dags"][emr_dag.DAG_ID]["tasks"] == {}
    for exercise_id, first in (("08.1", "create_cluster"), ("08.2", "create_cluster"), ("08.3", "create_cluster")):
        result = checking.verdict(checking.get(exercise_id), report, path, cfg)
        assert f"your DAG has no task `{first}` yet" in str(result), str(result)


@pytest.fixture(scope="module")
def emr_lab(lab):
    cfg, _ = lab
    retail.generate(cfg, progress=False)
    emr_client.stage_job(cfg)
    return cfg


@pytest.mark.services
@pytest.mark.parametrize("key", BEHAVIOUR, ids=["-".join(k) for k in BEHAVIOUR])
def test_plausible_tasks_that_do_the_wrong_thing_are_named(emr_lab, tmp_path, key):
    cfg = emr_lab
    exercise_id = key[0]
    # dag.test() syncs the DAG from the workspace bundle, where the learner's file is: the solution goes there
    learner = checking.learner_path(cfg, emr_dag.FILE)
    learner.parent.mkdir(parents=True, exist_ok=True)
    learner.write_text(solution(cfg, exercise_id))
    right, wrong, message = BEHAVIOUR[key]
    if "{ended}" in wrong:                           # a cluster of an earlier run: made here, and ended
        client, settings = emr_client.client(cfg), connections.variables(cfg)
        ended = client.run_job_flow(Name="an earlier run", ReleaseLabel=settings["EMR_RELEASE_LABEL"], Instances={
            "InstanceGroups": [{"InstanceRole": "MASTER", "InstanceType": settings["EMR_INSTANCE_TYPE"],
                                "InstanceCount": 1}]},
            JobFlowRole=settings["EMR_INSTANCE_PROFILE"], ServiceRole=settings["EMR_SERVICE_ROLE"])["JobFlowId"]
        client.terminate_job_flows(JobFlowIds=[ended])
        wrong = wrong.format(ended=ended)
    path = variant(cfg, tmp_path, *key, right, wrong)
    result = checking.verdict(checking.get(exercise_id), checking.parse(cfg, path)[str(path)], path, cfg)
    assert not result.passed and message in str(result), str(result)
    assert len(str(result).splitlines()) == 1
    assert not [c for c, state in emr_dag.clusters(emr_client.client(cfg)).items() if state in emr_dag.LIVE]


def test_the_readers_of_a_run_name_each_way_it_goes_wrong(tmp_path):
    """What the checks make of a run (emr_dag.run's facts), on facts written for it: cheaper than a Spark step."""
    ok = {emr_dag.CREATE: "success", emr_dag.STEP: "success", emr_dag.SENSOR: "success", emr_dag.TERMINATE: "success",
          dagtest.RUN_STATE: "success", dagtest.DEFERRED: [emr_dag.SENSOR]}
    facts = {"state": ok, "clusters": {"j-1": "TERMINATED"}, "steps": ["COMPLETED"], "left": [], "row": 7, "log": "x.log"}
    assert emr_dag.cluster_behaviour(facts) == [] and emr_dag.step_behaviour(facts, 7, list(ok)[:4]) == []
    assert emr_dag.deferral_behaviour(facts) == []
    assert "never deferred" in emr_dag.deferral_behaviour({**facts, "state": {**ok, dagtest.DEFERRED: []}})[0]
    assert "not the sum of Quantity 8" in emr_dag.step_behaviour(facts, 8, [emr_dag.STEP])[0]
    assert "created no cluster" in emr_dag.cluster_behaviour({**facts, "clusters": {}})[0]
    assert "(the check terminated it): it ended another cluster" in emr_dag.cluster_behaviour({**facts, "left": ["j-1"]})[0]
    failed = {**facts, "state": {**ok, emr_dag.TERMINATE: "failed"}}
    assert "`terminate_cluster` for 2024-02-01 ended failed; Airflow's log: x.log" == emr_dag.cluster_behaviour(failed)[0]
    log = tmp_path / "run_only.log"          # the task's own error, when the log has it, is quoted first
    log.write_text("botocore.exceptions.ClientError: An error occurred (ValidationException): no cluster j-9\n")
    assert emr_dag.cluster_behaviour({**failed, "log": str(log)})[0] == (
        "`terminate_cluster` for 2024-02-01 ended failed (botocore.exceptions.ClientError: An error occurred "
        f"(ValidationException): no cluster j-9); Airflow's log: {log}")
    assert "did not run: SyntaxError" in emr_dag.cluster_behaviour({**facts, "state": {"error": "SyntaxError: x"}})[0]
    running = {**facts, "row": None, "steps": ["RUNNING"]}
    assert "ended the cluster while the step still ran" in emr_dag.step_behaviour(running, 7, [emr_dag.STEP])[0]


def test_the_clusters_exercise_answer_is_a_file_that_compiles():
    """08's last exercise has no check: its answer is loaded on request (`%load solutions/08_clusters.py`)."""
    path = labkit.load().notebooks_dir / checking.SOLUTIONS / "08_clusters.py"
    compile(path.read_text(), str(path), "exec")
    assert "%load solutions/08_clusters.py" in (labkit.load().notebooks_dir / "08_emr_job.ipynb").read_text()
