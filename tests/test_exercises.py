"""The checked exercises (labkit.exercises): every check fails on the skeleton and passes on its solution, and
the machinery keeps a learner's own work (a solution is written into its TODO block only, the rest is kept,
and a learner's attempt is copied aside first).

Each exercise is checked on two files that differ only in its own block: the skeleton with the solutions of
the exercises before it applied (what a learner has when they reach it), and the same with its own solution.
"""
from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path

import pytest

import labkit
from labkit import exercises, workspace
from labkit.errors import LabError
from labkit.exercises import checking, parsing, workshop_dag

# The exercises of a skeleton's DAG (07's and 08's); 02's (a whole file and Airflow's interfaces) are tests/test_primer.py's.
EXERCISES = sorted((i for i, ex in exercises.REGISTRY.items() if ex.file and ex.solution != "file"),
                   key=lambda i: tuple(int(n) for n in i.split(".")))
# Exercises written into a file (a TODO block and a solution); the others are done with Airflow's CLI.
IN_FILE = [i for i in EXERCISES if exercises.get(i).solution == "block"]
# Checks that run what the learner wrote against the lab (PostgreSQL, Airflow's metadata database): their
# solutions pass in tests of their own, marked `services`.
WITH_LAB = ["07.6", "07.8"]


def solved_through(cfg, ex, upto: list[str], tmp: Path, name: str) -> Path:
    """The skeleton of `ex.file` with the solutions of `upto` written into their blocks, as file `name`."""
    scratch = dataclasses.replace(cfg, workspace_dir=tmp / name)
    path = checking.begin(ex.file, scratch)
    for other in upto:
        checking.solve(other, scratch)
    return path


@pytest.fixture(scope="module")
def states(tmp_path_factory):
    """For each exercise: (report of the file without its solution, report of the file with it), one DagBag run."""
    cfg = labkit.load()
    tmp = tmp_path_factory.mktemp("exercise-states")
    files = {}
    for exercise_id in IN_FILE:
        ex = exercises.get(exercise_id)
        before = [e for e in IN_FILE if exercises.get(e).file == ex.file and IN_FILE.index(e) < IN_FILE.index(exercise_id)]
        files[exercise_id] = (solved_through(cfg, ex, before, tmp, f"{exercise_id}-skeleton"),
                              solved_through(cfg, ex, before + [exercise_id], tmp, f"{exercise_id}-solution"))
    reports = checking.parse(cfg, *[p for pair in files.values() for p in pair])
    return cfg, {i: tuple((p, reports[str(p)]) for p in pair) for i, pair in files.items()}


def test_there_are_exercises_for_both_dags():
    files = {exercises.get(i).file for i in EXERCISES}
    assert len(EXERCISES) >= 2 and files, EXERCISES


@pytest.mark.parametrize("exercise_id", IN_FILE)
def test_each_check_fails_on_the_skeleton_and_passes_on_its_solution(states, exercise_id):
    cfg, by_id = states
    ex = exercises.get(exercise_id)
    (skeleton, before), (solved, after) = by_id[exercise_id]
    failing = checking.verdict(ex, before, skeleton, cfg)
    assert not failing.passed, f"{exercise_id}'s check passes on the skeleton: {failing}"
    assert failing.missing and all(m.strip() for m in failing.missing)
    assert len(str(failing).splitlines()) <= 2, f"the answer is one or two lines: {failing}"
    if exercise_id in WITH_LAB:
        return                           # its solution runs against the lab: test_06_6_runs_the_gate_...
    passing = checking.verdict(ex, after, solved, cfg)
    assert passing.passed, f"{exercise_id}'s solution fails its own check: {passing}"


@pytest.mark.parametrize("exercise_id", IN_FILE)
def test_each_solution_file_is_loadable_and_each_block_is_in_its_skeleton(exercise_id):
    cfg = labkit.load()
    ex = exercises.get(exercise_id)
    solution = checking.solution_path(cfg, ex)
    assert solution.exists(), f"no solution file {solution}"
    compile(textwrap.dedent(solution.read_text()), str(solution), "exec")    # `%load` shows valid Python
    checking.block(checking.skeleton_path(cfg, ex.file).read_text(), exercise_id)


# -- plausible wrong answers: each check renders the templates for a sample run, or calls the function, and ---------
# compares what it gets with the truth. Per exercise: a wrong shape and plausible-but-wrong behaviour, each
# written into the file solved through 07.4 in place of the solution's text.
SPARK_ARGS = 'application_args=["--input", RUN + LANDED, "--output", OUT + "/aggregates", "--run-date", RUN + "{{ run.ds }}"],'
WHERE = """WHERE = "created >= '{{ run.start }}' and created < '{{ run.end }}'\""""
COMPARE = "    if landed != expected:\n"
RECONCILE_CALL = "reconciled = reconcile_day(generate_interval_rows.output, sqoop_import_interval.output)"
WRONG = {
    # 07.2, shape: a bare "@daily" is a trigger timetable (an empty interval)
    ("07.2", "trigger_timetable"): ('SCHEDULE = CronDataIntervalTimetable("@daily", timezone="UTC")', 'SCHEDULE = "@daily"',
                                    "the schedule is a CronTriggerTimetable"),
    # 07.2, behaviour: the interval's own templates, which render with seconds and an offset ('2021-01-02
    # 00:00:00+00:00'): as text, the day's first minute is below it and the next day's first minute too, so the
    # import misses one and takes the other (the check used to pass it: both ends were named)
    ("07.2", "data_interval_raw"): (WHERE, """WHERE = "created >= '{{ data_interval_start }}' and created < '{{ data_interval_end }}'\"""",
                                    "misses rows of that day (created 2021-01-02 00:00) and selects rows of other days "
                                    "(created 2021-01-03 00:00)"),
    # 07.2, behaviour: the logical date's day (a manual run's logical date is the day after its interval)
    ("07.2", "logical_date_day"): (WHERE, """WHERE = "created like '{{ ds }}%'\"""",
                                   "misses rows of that day (created 2021-01-02 00:00, 2021-01-02 00:01) and selects "
                                   "rows of other days (created 2021-01-03 00:00, 2021-01-03 00:01)"),
    # 07.2, behaviour: a lower bound only: every later day too
    ("07.2", "lower_bound_only"): (WHERE, """WHERE = "created >= '{{ run.start }}'\"""",
                                   "selects rows of other days (created 2021-01-03 00:00, 2021-01-03 00:01)"),
    # 07.3, shape: the function is called with values, not the two XComArgs
    ("07.3", "no_xcomargs"): (RECONCILE_CALL, "reconciled = reconcile_day([[0]], 'Retrieved 0 records')",
                              "does not receive generate_interval_rows.output (an XComArg)"),
    # 07.3, behaviour: it parses the count and returns it, but never compares (the check used to pass it)
    ("07.3", "never_raises"): (COMPARE, "    if False:\n",
                               "called with [[144000]] and an import that landed 143,999 records, `reconcile_day` "
                               "returns 143999: it must raise"),
    # 07.3, behaviour: it raises on every call
    ("07.3", "always_raises"): (COMPARE, "    if True:\n", "called with equal counts"),
    # 07.4, shape: spark-submit from a BashOperator, not the seed's operator
    ("07.4", "bash_operator"): ("spark_aggregate_dummy = SparkSubmitOperator(",
                                "spark_aggregate_dummy = (lambda task_id, outlets, **_: BashOperator(task_id=task_id, "
                                "bash_command='spark-submit aggregate_dummy.py', outlets=outlets))(",
                                "`spark_aggregate_dummy` is a BashOperator: use SparkSubmitOperator"),
    # 07.6, shape: the gate runs after the import (it stops nothing)
    ("07.6", "gate_after_import"): ("generate_interval_rows >> [check_day_rows, check_day_columns] >> sqoop_import_interval",
                                    "sqoop_import_interval >> [check_day_rows, check_day_columns]",
                                    "must run after `generate_interval_rows` and before `sqoop_import_interval`"),
    # 07.4, behaviour: no RUN prefix: `run` is undefined when the template renders (the flags are all there)
    ("07.4", "no_run_prefix"): (SPARK_ARGS, 'application_args=["--input", LANDED, "--output", OUT + "/aggregates", "--run-date", "{{ run.ds }}"],',
                                "its application_args do not render for the run of 2021-01-02 (UndefinedError: 'run' is undefined)"),
    # 07.4, behaviour: the logical date's day
    ("07.4", "logical_date"): (SPARK_ARGS, SPARK_ARGS.replace('RUN + "{{ run.ds }}"', '"{{ ds }}"'),
                               "its --run-date is '2021-01-03' for the run of the day 2021-01-02 (logical date 2021-01-03), "
                               "not '2021-01-02'"),
    ("07.4", "one_folder_up"): (SPARK_ARGS, SPARK_ARGS.replace('"--output", OUT + "/aggregates"', '"--output", OUT'),
                                "its --output is '<LANDING_ZONE>/my_workshop_job' for the run of the day 2021-01-02"),
}


@pytest.fixture(scope="module")
def wrong(tmp_path_factory):
    cfg = labkit.load()
    tmp = tmp_path_factory.mktemp("wrong-answers")
    paths = {}
    for (exercise_id, name), (right, wrong_text, _) in WRONG.items():
        upto = sorted(set(IN_FILE[:IN_FILE.index(exercise_id) + 1]) | {"07.1", "07.2", "07.3", "07.4"}, key=IN_FILE.index)
        path = solved_through(cfg, exercises.get(exercise_id), upto, tmp, f"{exercise_id}-{name}")
        text = path.read_text()
        assert right in text, f"the solution of {exercise_id} has changed; update this test ({right!r})"
        path.write_text(text.replace(right, wrong_text))
        paths[exercise_id, name] = path
    reports = checking.parse(cfg, *paths.values())
    return {key: checking.verdict(exercises.get(key[0]), reports[str(p)], p, cfg) for key, p in paths.items()}


@pytest.mark.parametrize("key", WRONG, ids=["-".join(k) for k in WRONG])
def test_each_check_rejects_a_wrong_shape_and_plausible_wrong_behaviour_and_names_it(wrong, key):
    result = wrong[key]
    assert not result.passed and WRONG[key][2] in str(result), str(result)
    assert len(str(result).splitlines()) == 1


def test_every_check_has_a_wrong_shape_and_a_wrong_behaviour_variant():
    counts = {i: sum(1 for e, _ in WRONG if e == i) + sum(1 for e, _ in WRONG_LAB if e == i) for i in IN_FILE}
    lacking = [i for i, n in counts.items() if n < 2 and i not in ("07.1", "07.5") and exercises.get(i).file == "my_workshop_job.py"]
    assert not lacking, f"checks with fewer than two wrong variants: {lacking}"


# -- 07.6 against the lab: the gate runs (dag.test of the gate tasks alone) on a whole day and a corrupted day ---
DAY = """DAY = RUN + "created >= '{{ run.start }}' and created < '{{ run.end }}'\""""
WRONG_LAB = {
    # behaviour: the interval's own templates (seconds and an offset, compared as text): the gate reads the next
    # day's first minute instead of its own
    ("07.6", "data_interval_raw"): (DAY, """DAY = "created >= '{{ data_interval_start }}' and created < '{{ data_interval_end }}'\"""",
                                  "on 2021-01-20, a whole day"),
    # behaviour: no partition_clause, the whole table: the corrupted day in the table fails every day
    ("07.6", "whole_table"): ("    partition_clause=DAY,\n", "", "on 2021-01-20, a whole day"),
    # behaviour: a gate that checks only what cannot be wrong here (ids are a primary key)
    ("07.6", "checks_nothing_that_breaks"): (
        'column_mapping={"line": {"null_check": {"equal_to": 0}}, "created": {"null_check": {"equal_to": 0}}},',
        'column_mapping={"id": {"unique_check": {"equal_to": 0}}},', None),
}


@pytest.mark.services
def test_07_6_runs_the_gate_on_a_good_and_a_corrupted_day(lab, tmp_path):
    """The solution passes; plausible gates that check the wrong rows, or nothing that breaks, are rejected
    (all in one dag.test process: Airflow imports once)."""
    cfg, _ = lab
    ex = exercises.get("07.6")
    upto = IN_FILE[:IN_FILE.index("07.6") + 1]
    paths = {"solution": solved_through(cfg, ex, upto, tmp_path, "solution")}
    for (_, name), (right, wrong_text, _) in WRONG_LAB.items():
        path = solved_through(cfg, ex, upto, tmp_path, name)
        text = path.read_text()
        assert right in text, f"the solution of 07.6 has changed; update this test ({right!r})"
        if name == "checks_nothing_that_breaks":       # and no table check either
            text = text.replace("[check_day_rows, check_day_columns]", "check_day_columns")
            text = text[:text.index("check_day_rows = ")] + text[text.index("check_day_columns = "):]
        path.write_text(text.replace(right, wrong_text))
        paths[name] = path
    # dag.test() creates its run for the dag_id Airflow has serialized from one of its bundles: the learner's file
    # in the workspace bundle is what a real check has there; this test's own lab gets the solution there first
    # (whatever ran before it)
    shutil.copyfile(paths["solution"], cfg.workspace_dags_dir / "my_workshop_job.py")
    reports = checking.parse(cfg, *paths.values())
    found = {name: workshop_dag.gates(reports[str(p)]["dags"]["my_workshop_job"]) for name, p in paths.items()}
    assert all(found.values()), found                  # every variant has the gate in its place: the shape passes
    states = workshop_dag.run_gates(cfg, [(str(paths[name]), found[name]) for name in paths])
    answers = {name: workshop_dag._gate_behaviour(state, found[name]) for name, state in zip(paths, states)}
    assert answers["solution"] == [], answers["solution"]
    for (_, name), (_, _, expected) in WRONG_LAB.items():
        assert len(answers[name]) == 1, f"{name}: {answers[name]}"
        assert expected is None or expected in answers[name][0], f"{name}: {answers[name]}"
    assert "on 2021-01-21" in answers["checks_nothing_that_breaks"][0]
    assert "the gate passes" in answers["checks_nothing_that_breaks"][0]


# -- 07.7: the backfill and the clear, from what Airflow's REST API returns (runs, and each run's highest try) ---
def _run(day: str, state: str = "success", run_type: str = "backfill", interval_day: str | None = None) -> dict:
    return {"dag_run_id": f"{run_type}__{day}", "run_type": run_type, "state": state,
            "logical_date": f"{day}T00:00:00Z", "data_interval_start": f"{interval_day or day}T00:00:00Z"}


DAYS = workshop_dag.BACKFILL_DAYS
BACKFILLED = [_run(d) for d in DAYS]
CLEARED_ONCE = {f"backfill__{d}": d == "2021-01-02" for d in DAYS}


@pytest.mark.parametrize("runs, cleared, expected", [
    (BACKFILLED, CLEARED_ONCE, None),
    # wrong shape: the three dates triggered (`airflow dags trigger`), not backfilled
    ([_run(d, run_type="manual") for d in DAYS], CLEARED_ONCE, "there is no backfill run of 2021-01-01, 2021-01-02, 2021-01-03"),
    # plausible, wrong: backfilled, but 2021-01-02 never cleared
    (BACKFILLED, {k: False for k in CLEARED_ONCE}, "the run of 2021-01-02 ran once: clear it"),
    # plausible, wrong: the clear took all three days (no start and end date)
    (BACKFILLED, {k: True for k in CLEARED_ONCE}, "the run of 2021-01-01, 2021-01-03 ran again too"),
    # a backfill run that failed is no backfill done
    ([_run(d, state="failed" if d == "2021-01-03" else "success") for d in DAYS], CLEARED_ONCE,
     "the backfill run of 2021-01-03 is failed"),
], ids=["done", "triggered_not_backfilled", "not_cleared", "cleared_all", "failed_run"])
def test_07_7_reads_the_backfill_and_the_clear_from_airflows_record(runs, cleared, expected):
    missing = workshop_dag._backfill_and_clear(runs, cleared)
    if expected is None:
        assert missing == []
    else:
        assert len(missing) >= 1 and expected in missing[0], missing


@pytest.mark.parametrize("states, cleared", [
    (["success"], False), (["failed", "success"], False),          # a retry after a failure is no clear
    (["success", "success"], True), (["success", "running"], True), (["failed", "success", "success"], True),
])
def test_07_7_tells_a_clear_from_a_retry(states, cleared):
    assert workshop_dag._was_cleared([{"try_number": n + 1, "state": s} for n, s in enumerate(states)]) is cleared


# -- 07.8: the learner's tests must pass on their DAG (their last run) and fail on copies broken on purpose ------
PASSED = '{"test_my_workshop_job.py::test_a": "passed"}'
FAILED = '{"test_my_workshop_job.py::test_a": "failed"}'


@pytest.mark.parametrize("record, stale, expected", [
    (PASSED, False, None),
    (None, False, "your tests have not run yet"),
    (PASSED, True, "changed after your tests last ran"),
    (FAILED, False, "1 of your 1 tests fail on your DAG (test_a)"),
    ("{}", False, "has no test yet"),
], ids=["passed", "never_run", "stale", "failing", "empty"])
def test_07_8_reads_the_learners_last_run(tmp_path, record, stale, expected):
    import os
    import time

    (tmp_path / "tests").mkdir()
    test_file, dag_file = tmp_path / "tests" / "test_my_workshop_job.py", tmp_path / "my_workshop_job.py"
    test_file.write_text("def test_a(): pass\n")
    dag_file.write_text("# a DAG\n")
    if record is not None:
        (tmp_path / "tests" / checking.LAST_RUN).write_text(record)
    later = time.time() + (60 if stale else -60)
    os.utime(dag_file, (later, later))
    missing = workshop_dag._last_run(test_file, dag_file)
    assert (missing == []) if expected is None else (len(missing) == 1 and expected in missing[0]), missing


def test_07_8_the_learners_conftest_records_each_run(tmp_path):
    """The tests folder that begin() makes: pytest started from elsewhere records its outcomes there."""
    import subprocess
    import sys

    cfg = dataclasses.replace(labkit.load(), workspace_dir=tmp_path / "ws")
    path = checking.begin("tests/test_my_workshop_job.py", cfg)
    path.write_text("def test_good():\n    pass\n\n\ndef test_bad():\n    assert False\n")
    subprocess.run([sys.executable, "-m", "pytest", "-q", str(path)], cwd=tmp_path, capture_output=True, timeout=120)
    import json
    outcomes = json.loads((path.parent / checking.LAST_RUN).read_text())
    assert {k.split("::")[-1]: v for k, v in outcomes.items()} == {"test_good": "passed", "test_bad": "failed"}


TEST_SOLUTION_ASSERT = '    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]\n'
WRONG_TESTS = {
    # wrong shape: an integrity test only, no run of an interval (a task that fails when it runs passes it)
    "integrity_only": (lambda text: text[:text.index("def test_one_day_runs_through")], ["a_task_fails"]),
    # plausible, wrong: dag.test() is run but its state never asserted (dag.test does not raise when a task fails)
    "run_not_asserted": (lambda text: text.replace(TEST_SOLUTION_ASSERT, ""), ["a_task_fails"]),
    # a test that cannot fail at all
    "cannot_fail": (lambda text: text[:text.index("def test_the_dag_folder_imports")] + "def test_nothing():\n    assert True\n",
                    ["does_not_import", "a_task_fails"]),
}


@pytest.mark.services
def test_07_8_runs_the_learners_tests_on_broken_copies_of_their_dag(lab, tmp_path):
    """The solution's tests fail on both broken copies; tests that cannot catch a break are named (one pytest run)."""
    cfg, _ = lab
    scratch = dataclasses.replace(cfg, workspace_dir=tmp_path / "ws")
    for exercise_id in IN_FILE:
        if exercises.get(exercise_id).file == "my_workshop_job.py":
            checking.solve(exercise_id, scratch)
    dag_file = checking.learner_path(scratch, "my_workshop_job.py")
    # dag.test() in the learner's tests creates its run for the dag_id Airflow has serialized from a bundle: a
    # learner's file is in the workspace bundle; this test's lab gets the same file there (whatever ran before)
    shutil.copyfile(dag_file, cfg.workspace_dags_dir / "my_workshop_job.py")
    solution = checking.solve("07.8", scratch)
    assert TEST_SOLUTION_ASSERT in solution.read_text(), "the solution of 07.8 has changed; update this test"
    files = [solution]
    for name, (mutate, _) in WRONG_TESTS.items():
        path = tmp_path / name / solution.name
        path.parent.mkdir()
        path.write_text(mutate(solution.read_text()))
        files.append(path)
    results = workshop_dag.run_on_broken(cfg, files, dag_file)
    assert all(counts["failed"] for counts in results[0].values()), results[0]
    assert workshop_dag._catches(results[0]) == []
    for (name, (_, passes_on)), result in zip(WRONG_TESTS.items(), results[1:]):
        assert sorted(k for k, c in result.items() if not c["failed"]) == sorted(passes_on), (name, result)
        assert "a test that cannot fail proves nothing" in workshop_dag._catches(result)[0]


# -- the machinery, on a small exercise of its own -----------------------------------------------------------
SKELETON = '''\
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="tiny", schedule=None, tags=["test"]) as dag:
    start = EmptyOperator(task_id="start")
    # [TODO 99.1] add a task `end` after `start`
    pass
    # [END TODO 99.1]
'''
SOLUTION = '''\
end = EmptyOperator(task_id="end")
start >> end
'''


def _tiny_check(dag: dict, cfg) -> list[str]:
    end = dag["tasks"].get("end")
    if end is None:
        return ["there is no task `end`"]
    return [] if end["upstream"] == ["start"] else ["`end` must come after `start`"]


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    root = tmp_path / "project"
    (root / "notebooks" / checking.SKELETONS).mkdir(parents=True)
    (root / "notebooks" / checking.SOLUTIONS).mkdir()
    (root / "notebooks" / checking.SKELETONS / "tiny.py").write_text(SKELETON)
    (root / "notebooks" / checking.SOLUTIONS / "99_1.py").write_text(SOLUTION)
    (root / "dags" / "sql").mkdir(parents=True)
    cfg = dataclasses.replace(labkit.load(), root=root, workspace_dir=tmp_path / "workspace")
    monkeypatch.setitem(checking.REGISTRY, "99.1", checking.Exercise("99.1", "tiny.py", "tiny", "a task after start",
                                                                     _tiny_check))
    monkeypatch.delenv(checking.ENV, raising=False)
    return cfg


def test_check_says_what_is_missing_then_pass_after_solve(tiny):
    path = checking.begin("tiny.py", tiny)
    assert path.parent == tiny.workspace_dags_dir and (path.parent / "sql").is_symlink()
    result = checking.check("99.1", tiny)
    assert not result.passed and str(result) == "99.1 a task after start: not yet: there is no task `end`"
    checking.solve("99.1", tiny)
    assert checking.check("99.1", tiny).passed
    text = path.read_text()
    assert "        end = EmptyOperator" not in text and "    end = EmptyOperator" in text   # indented to its block
    assert text.startswith(SKELETON.split("# [TODO")[0])                                   # the rest is kept


def test_an_import_error_is_one_line_and_a_wrong_dag_id_is_named(tiny):
    path = checking.begin("tiny.py", tiny)
    path.write_text(SKELETON.replace("pass", "end = EmptyOperator(task_id=)"))
    result = checking.check("99.1", tiny)
    assert not result.passed and "tiny.py does not import" in str(result) and len(str(result).splitlines()) == 1
    path.write_text(SKELETON.replace('dag_id="tiny"', 'dag_id="other"'))
    assert "defines no DAG with dag_id 'tiny' (it defines: other)" in str(checking.check("99.1", tiny))


def test_begin_keeps_the_learners_file_and_solve_keeps_their_attempt(tiny, capsys):
    path = checking.begin("tiny.py", tiny)
    attempt = SKELETON.replace("    pass\n", "    end = EmptyOperator(task_id='my_end')\n")
    path.write_text(attempt)
    assert checking.begin("tiny.py", tiny).read_text() == attempt          # a second begin changes nothing
    checking.solve("99.1", tiny)
    kept = list((tiny.workspace_dir / workspace.TRASH).rglob("tiny.py"))
    assert [k.read_text() for k in kept] == [attempt], "the learner's attempt was not kept"
    assert "is kept in" in capsys.readouterr().out


def test_begin_moves_aside_a_file_not_made_from_its_skeleton_in_one_line(tiny, capsys):
    """Notebook 02's DAG has the name of 07's skeleton: 07's begin keeps it aside, says where, starts the skeleton."""
    path = tiny.workspace_dags_dir / "tiny.py"
    path.parent.mkdir(parents=True)
    primer = 'from airflow.sdk import DAG\n\nwith DAG(dag_id="tiny", schedule=None):\n    pass\n'
    path.write_text(primer)
    assert checking.begin("tiny.py", tiny).read_text() == SKELETON
    kept = list((tiny.workspace_dir / workspace.TRASH).rglob("tiny.py"))
    assert [k.read_text() for k in kept] == [primer]
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and str(kept[0]) in out[0]
    checking.begin("tiny.py", tiny)                      # made from the skeleton now: kept, nothing said
    assert capsys.readouterr().out == "" and len(list((tiny.workspace_dir / workspace.TRASH).rglob("tiny.py"))) == 1


def test_a_whole_file_solution_replaces_the_file_and_keeps_the_attempt(tiny, monkeypatch, capsys):
    monkeypatch.setitem(checking.REGISTRY, "99.1", dataclasses.replace(checking.REGISTRY["99.1"], solution="file"))
    (tiny.root / "notebooks" / checking.SOLUTIONS / "99_1.py").write_text(SKELETON.replace("    pass\n", textwrap.indent(SOLUTION, "    ")))
    path = checking.begin("tiny.py", tiny, blank=True)
    assert path.read_text() == "" and "is empty" in str(checking.check("99.1", tiny))
    path.write_text("# my attempt\n")
    checking.solve("99.1", tiny)
    assert checking.check("99.1", tiny).passed
    assert [k.read_text() for k in (tiny.workspace_dir / workspace.TRASH).rglob("tiny.py")] == ["# my attempt\n"]
    assert "is kept in" in capsys.readouterr().out


def test_with_solutions_on_check_applies_them_and_a_failing_solution_is_an_error(tiny, monkeypatch):
    monkeypatch.setenv(checking.ENV, "1")
    result = checking.check("99.1", tiny)
    assert result.passed and result.solved and "(solution applied, LAB_SOLUTIONS=1)" in str(result)
    (tiny.root / "notebooks" / checking.SOLUTIONS / "99_1.py").write_text("end = EmptyOperator(task_id='x')\n")
    with pytest.raises(LabError, match="does not pass its own check"):
        checking.check("99.1", tiny)


def test_a_file_without_its_markers_is_one_line_with_the_fix(tiny):
    path = checking.begin("tiny.py", tiny)
    path.write_text(SKELETON.replace("# [END TODO 99.1]", ""))
    with pytest.raises(LabError, match=r"no '# \[TODO 99.1\]' \.\.\. .*labkit workspace reset"):
        checking.solve("99.1", tiny)


def test_the_dagbag_process_is_reused_restarted_when_it_died_and_deaf_to_prints(tiny):
    path = checking.begin("tiny.py", tiny)
    path.write_text("print('a DAG file that prints')\n" + SKELETON)
    proc = parsing.start()
    assert not checking.check("99.1", tiny).passed and parsing.start() is proc    # one process for every check
    proc.kill()
    proc.wait()
    checking.solve("99.1", tiny)
    assert checking.check("99.1", tiny).passed and parsing.start() is not proc   # a new one after it died


@pytest.mark.parametrize("loop", ["while True:\n    pass\n",                       # the DagBag's timeout ends it
                                  "while True:\n    try:\n        time.sleep(60)\n    except BaseException:\n"
                                  "        pass\n"])                                 # it swallows that: the check's
def test_a_file_that_loops_at_import_is_one_line_naming_the_timeout(tiny, monkeypatch, loop):
    """`labkit check` on a learner file with an endless loop at its top: one line naming the timeout and the likely
    cause, within the import timeout plus a margin (it answered with a docs URL after the timeout, and blocked for
    300 s when the loop swallowed Airflow's timeout exception); the next check works again."""
    import time

    monkeypatch.setattr(parsing, "IMPORT_TIMEOUT", 3.0)
    parsing.stop()                                   # a helper with this timeout
    path = checking.begin("tiny.py", tiny)
    assert not checking.check("99.1", tiny).passed   # warm: Airflow imported, so what follows is the file's own time
    path.write_text("import time\n" + loop + SKELETON)
    started = time.monotonic()
    result = checking.check("99.1", tiny)
    took = time.monotonic() - started
    assert str(result) == ("99.1 a task after start: not yet: tiny.py: import timed out after 3 s: an endless loop or "
                           "a slow call at the top of the file? (Airflow's DAG processor stops it there too)")
    assert took < 2 * (parsing.IMPORT_TIMEOUT + parsing.MARGIN), took     # relative to the timeout it was given
    path.write_text(SKELETON)
    assert "there is no task `end`" in str(checking.check("99.1", tiny))


def test_unknown_exercise_is_one_line():
    with pytest.raises(LabError, match="no exercise '42.9': the exercises are"):
        exercises.get("42.9")


def test_workspace_reset_moves_the_files_aside(tiny):
    checking.begin("tiny.py", tiny)
    aside = workspace.reset(tiny)
    assert (aside / "tiny.py").exists() and workspace.learner_files(tiny) == []
    assert workspace.reset(tiny) is None


def test_check_all_answers_each_exercise_from_one_parse(tiny, monkeypatch):
    monkeypatch.setitem(checking.REGISTRY, "99.2", checking.Exercise("99.2", "tiny.py", "tiny", "tagged",
                                                                     lambda dag, cfg: [] if dag["tags"] else ["no tag"]))
    checking.begin("tiny.py", tiny)
    parses = []
    real = checking.parse
    monkeypatch.setattr(checking, "parse", lambda cfg, *paths: parses.append(paths) or real(cfg, *paths))
    results = checking.check_all("99.1", "99.2", cfg=tiny)
    assert len(parses) == 1 and [r.passed for r in results] == [False, True] and not results.passed
    assert str(results).splitlines() == ["99.1 a task after start: not yet: there is no task `end`", "99.2 tagged: pass"]
