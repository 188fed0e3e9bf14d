"""The reference DAGs are the answer key: the solved learner DAGs do what they do (issue 22, item 5).

Notebook 07 builds `my_workshop_job` from notebooks/skeletons/my_workshop_job.py and names
dags/airflow_workshop_job.py its answer key; notebook 08 builds `my_emr_job` beside dags/emr_ephemeral_job.py,
one task at a time from a file with no task (its last exercise's answer, 08_3.py, is the whole DAG). Here every
exercise's solution is written into its TODO block, or 08's last whole file (`exercises.solve()`, in a scratch
workspace), and Airflow's DagBag parses the solved files and the references (the checks' helper,
labkit.exercises.dagbag).

"Equal" is asserted for every task both DAGs have (the EMR job's under other ids: RENAMED): the same operator
class, connection, template fields (the same text; rendered for the sample run of 2021-01-02 they differ only
by the dag_id that `{{ dag.dag_id }}` names), XComArgs, trigger rule, setup/teardown role, retries and
order among those tasks; and the DAG settings that decide what a run handles (timetable, start date, catchup,
max_active_runs, params, macros). So a change to the import's --where, the Spark job's arguments or the EMR
step in one file only fails here. What differs on purpose is listed below, and it is all that may differ:

- The workshop job. The learner's DAG has more (07.3's `reconcile_day`, 07.6's data-quality gate, 07.4's
  Asset, 07.5's report DAG); the reference is the job as it runs every day. Task 1's count reaches the import
  in two ways: the reference's `generate_interval_rows` returns it as text (handler `day_count`) and its import
  takes it as an XComArg in `env` (`--expect-rows "$EXPECT_ROWS"`); the skeleton keeps a `ti.xcom_pull`
  template there, which is why 07.1 asks for `>>` (an XComArg orders the tasks by itself), and its first task
  returns the rows (`[[144000]]`) that 07.3's `reconcile_day` reads. The commands are compared with the same
  count in both places (WORKSHOP_EXPECT_ROWS).
- The EMR job. The reference keeps the seed's `start_job` and `end_job` (a failed step still fails the run),
  a third (Task) instance group, YARN's application lifetime (`Configurations`), `VisibleToAllUsers`, retries
  (terminate_cluster's back off) and all three tasks a rerun must redo as setups of its teardown; the learner's
  file retries nothing, its teardown's one setup is the cluster (08.1 writes it before there is a step), and
  08.3 makes its sensor deferrable.
- Owners and tags (`lab` vs `learner`/`me`) are not compared.
"""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

import labkit
from labkit import exercises
from labkit.exercises import checking

ROOT = Path(__file__).resolve().parents[1]
WORKSHOP, EMR = "workshop", "emr"
REFERENCE = {WORKSHOP: ("dags/airflow_workshop_job.py", "airflow_workshop_job"),
             EMR: ("dags/emr_ephemeral_job.py", "emr_ephemeral_job")}
LEARNER = {WORKSHOP: ("my_workshop_job.py", "my_workshop_job"), EMR: ("my_emr_job.py", "my_emr_job")}
# The learner's task ids that the reference names otherwise (notebook 08's shorter ones).
RENAMED = {EMR: {"create_cluster": "create_emr_cluster", "add_step": "add_emr_step", "monitor_step": "monitor_emr_step"}}
TASK_KEYS = ("operator", "module", "conn_id", "handler", "fields", "rendered", "xcom_args", "trigger_rule",
             "is_setup", "is_teardown", "deferrable", "mode", "retries", "callable", "calls", "outlets", "inlets")
DAG_KEYS = ("timetable", "schedule", "schedule_assets", "catchup", "max_active_runs", "start_date", "params",
            "macros", "doc_md")

# The skeleton's import pulls task 1's count in its template; the reference's reads it from its env (an XComArg).
SKELETON_PULL = "{{ ti.xcom_pull(task_ids='generate_interval_rows')[0][0] }}"
WORKSHOP_EXPECT_ROWS = '"$EXPECT_ROWS"'
SAMPLE_PULLED = "0"      # what SKELETON_PULL renders to in the sample run (dagbag._TaskInstance: [[0]])
TASK_1 = "XComArg(<Task(SQLExecuteQueryOperator): generate_interval_rows>)"

# Everything that may differ, after RENAMED and the normalisations below: {(reference task id, key): (reference, learner)}.
EXPECTED = {
    WORKSHOP: {
        "only_reference": [], "only_learner": ["check_day_columns", "check_day_rows", "reconcile_day"],
        "other_dags": ["my_workshop_report"], "dag": {},
        "tasks": {("generate_interval_rows", "handler"): ("day_count", "fetch_all_handler"),
                  ("spark_aggregate_dummy", "outlets"): ([], ["my_workshop_job_aggregates"])},
        "order": {},
    },
    EMR: {
        "only_reference": ["end_job", "start_job"], "only_learner": [], "other_dags": [], "dag": {},
        "tasks": {("create_emr_cluster", "retries"): (1, 0), ("add_emr_step", "retries"): (1, 0),
                  ("first_step", "retries"): (1, 0), ("monitor_emr_step", "retries"): (1, 0),
                  ("terminate_cluster", "retries"): (8, 0),
                  ("add_emr_step", "is_setup"): (True, False), ("first_step", "is_setup"): (True, False),
                  ("monitor_emr_step", "deferrable"): (False, True)},
        "order": {},
    },
}


def solved(cfg, file: str, workspace: Path) -> Path:
    """The learner's `file` with every exercise solved, as exercises.solve() writes it into a workspace: the
    skeleton with each block exercise's solution written in (in order), or, for a file that grows one task per
    exercise with no blocks (notebook 08's), the last exercise's whole file."""
    scratch = dataclasses.replace(cfg, workspace_dir=workspace)
    path = checking.begin(file, scratch)
    order = {"key": lambda i: tuple(int(n) for n in i.split("."))}
    ids = sorted((i for i, ex in exercises.REGISTRY.items() if ex.file == file and ex.solution == "block"), **order)
    ids = ids or sorted((i for i, ex in exercises.REGISTRY.items() if ex.file == file and ex.solution == "file"),
                        **order)[-1:]
    assert ids, f"no exercise writes into {file}"
    for exercise_id in ids:
        checking.solve(exercise_id, scratch)
    return path


def renamed(value, names: dict[str, str]):
    """`value` (a report's JSON) with the learner's task ids and dag_id written as the reference's."""
    text = json.dumps(value)
    for old, new in names.items():
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    return json.loads(text)


def as_skeleton(job: str, tasks: dict) -> dict:
    """The reference's tasks, with what differs on purpose written as the learner's DAG has it (module doc)."""
    tasks = json.loads(json.dumps(tasks))
    if job == WORKSHOP:
        imp = tasks["sqoop_import_interval"]
        assert imp["fields"]["env"].pop("EXPECT_ROWS") == TASK_1
        assert imp["xcom_args"].pop("env") == ["generate_interval_rows"]
        assert WORKSHOP_EXPECT_ROWS in imp["fields"]["bash_command"]
        imp["fields"]["bash_command"] = imp["fields"]["bash_command"].replace(WORKSHOP_EXPECT_ROWS, SKELETON_PULL)
        imp["rendered"]["bash_command"] = imp["rendered"]["bash_command"].replace(WORKSHOP_EXPECT_ROWS, SAMPLE_PULLED)
    if job == EMR:
        cluster = tasks["create_emr_cluster"]["fields"]["job_flow_overrides"]
        assert cluster.pop("Configurations")[0]["Classification"] == "capacity-scheduler"
        assert cluster.pop("VisibleToAllUsers") is True
        groups = cluster["Instances"]["InstanceGroups"]
        assert [g["Name"] for g in groups] == ["Primary", "Core", "Task"]
        cluster["Instances"]["InstanceGroups"] = groups[:2]
    return tasks


def ancestors(tasks: dict, task_id: str) -> set[str]:
    seen, todo = set(), list(tasks[task_id]["upstream"])
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += tasks[current]["upstream"]
    return seen


def differences(job: str, reference: dict, learner: dict, learner_dags: list[str]) -> dict:
    """How the learner's DAG differs from the reference, in EXPECTED's shape."""
    ref_id, mine_id = REFERENCE[job][1], LEARNER[job][1]
    ref, mine = reference["dags"][ref_id], renamed(learner["dags"][mine_id], {**RENAMED.get(job, {}), mine_id: ref_id})
    ref_tasks, mine_tasks = as_skeleton(job, ref["tasks"]), mine["tasks"]
    shared = sorted(set(ref_tasks) & set(mine_tasks))
    out = {"only_reference": sorted(set(ref_tasks) - set(mine_tasks)),
           "only_learner": sorted(set(mine_tasks) - set(ref_tasks)),
           "other_dags": sorted(set(learner_dags) - {mine_id}),
           "dag": {k: (ref[k], mine[k]) for k in DAG_KEYS if ref[k] != mine[k]},
           "tasks": {(t, k): (ref_tasks[t][k], mine_tasks[t][k]) for t in shared for k in TASK_KEYS
                     if ref_tasks[t][k] != mine_tasks[t][k]},
           "order": {}}
    for t in shared:                       # which shared tasks run before each one, directly or through others
        before = (sorted(ancestors(ref_tasks, t) & set(shared)), sorted(ancestors(mine_tasks, t) & set(shared)))
        if before[0] != before[1]:
            out["order"][t] = before
    return out


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    """{job: (reference report, learner's report)}, one DagBag pass over the four files."""
    cfg = labkit.load()
    tmp = tmp_path_factory.mktemp("answer-key")
    learner = {job: solved(cfg, file, tmp / job) for job, (file, _) in LEARNER.items()}
    reports = checking.parse(cfg, *learner.values(), *(ROOT / path for path, _ in REFERENCE.values()))
    for path, report in reports.items():
        assert report["import_errors"] == {}, (path, report["import_errors"])
    return cfg, tmp, {job: (reports[str(ROOT / REFERENCE[job][0])], reports[str(learner[job])]) for job in REFERENCE}


@pytest.mark.parametrize("job", [WORKSHOP, EMR])
def test_the_solved_learner_dag_does_what_the_reference_does(parsed, job):
    _, _, reports = parsed
    reference, learner = reports[job]
    assert differences(job, reference, learner, sorted(learner["dags"])) == EXPECTED[job]


def test_both_do_the_work_of_the_day_the_same_way(parsed):
    """The shared path compared above is the job itself: the three steps of the workshop job, the EMR step."""
    _, _, reports = parsed
    workshop = reports[WORKSHOP][0]["dags"]["airflow_workshop_job"]["tasks"]
    assert {"generate_interval_rows", "sqoop_import_interval", "spark_aggregate_dummy"} <= set(workshop)
    assert "--where \"created >= '2021-01-02 00:00' and created < '2021-01-03 00:00'\"" in \
        workshop["sqoop_import_interval"]["rendered"]["bash_command"]
    emr = reports[EMR][0]["dags"]["emr_ephemeral_job"]["tasks"]
    assert "retail_quantity.py" in json.dumps(emr["add_emr_step"]["fields"]["steps"])


# One-file edits the comparison must notice: (job, text in the reference, its replacement).
EDITS = [
    (WORKSHOP, "WHERE = \"created >= '{{ run.start }}' and created < '{{ run.end }}'\"",
     "WHERE = \"created >= '{{ run.start }}' and created <= '{{ run.end }}'\""),
    (WORKSHOP, '"--output", OUT + "/aggregates"', '"--output", OUT + "/aggregate"'),
    (WORKSHOP, "--split-by id -m 2", "--split-by id -m 4"),
    (EMR, '"--table", "emr_table"', '"--table", "emr_table_2"'),
    (EMR, '"ActionOnFailure": "CONTINUE"', '"ActionOnFailure": "TERMINATE_CLUSTER"'),
]


@pytest.mark.parametrize("job, before, after", EDITS, ids=[f"{job}: {after}" for job, _, after in EDITS])
def test_an_edit_of_the_reference_alone_is_a_difference(parsed, job, before, after):
    cfg, tmp, reports = parsed
    source = ROOT / REFERENCE[job][0]
    folder = tmp / f"edited-{EDITS.index((job, before, after))}"
    folder.mkdir()
    (folder / "sql").symlink_to(source.parent / "sql", target_is_directory=True)
    text = source.read_text()
    assert text.count(before) == 1, before
    edited = folder / source.name
    edited.write_text(text.replace(before, after))
    report = checking.parse(cfg, edited)[str(edited)]
    assert report["import_errors"] == {}
    learner = reports[job][1]
    assert differences(job, report, learner, sorted(learner["dags"])) != EXPECTED[job]
    shutil.rmtree(folder)
