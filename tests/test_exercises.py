"""The checked exercises (labkit.exercises): every check fails on the skeleton and passes on its solution, and
the machinery keeps a learner's own work (a solution is written into its TODO block only, the rest is kept,
and a learner's attempt is copied aside first).

Each exercise is checked on two files that differ only in its own block: the skeleton with the solutions of
the exercises before it applied (what a learner has when they reach it), and the same with its own solution.
"""
from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

import labkit
from labkit import exercises, workspace
from labkit.errors import LabError
from labkit.exercises import checking, parsing

# The exercises filled in a skeleton's TODO block (02's, a whole file and Airflow's interfaces: tests/test_primer.py).
EXERCISES = sorted((i for i, ex in exercises.REGISTRY.items() if ex.solution == "block"),
                   key=lambda i: tuple(int(n) for n in i.split(".")))


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
    for exercise_id in EXERCISES:
        ex = exercises.get(exercise_id)
        before = [e for e in EXERCISES if exercises.get(e).file == ex.file and EXERCISES.index(e) < EXERCISES.index(exercise_id)]
        files[exercise_id] = (solved_through(cfg, ex, before, tmp, f"{exercise_id}-skeleton"),
                              solved_through(cfg, ex, before + [exercise_id], tmp, f"{exercise_id}-solution"))
    reports = checking.parse(cfg, *[p for pair in files.values() for p in pair])
    return cfg, {i: tuple((p, reports[str(p)]) for p in pair) for i, pair in files.items()}


def test_there_are_exercises_for_both_dags():
    files = {exercises.get(i).file for i in EXERCISES}
    assert len(EXERCISES) >= 2 and files, EXERCISES


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_each_check_fails_on_the_skeleton_and_passes_on_its_solution(states, exercise_id):
    cfg, by_id = states
    ex = exercises.get(exercise_id)
    (skeleton, before), (solved, after) = by_id[exercise_id]
    failing = checking.verdict(ex, before, skeleton, cfg)
    assert not failing.passed, f"{exercise_id}'s check passes on the skeleton: {failing}"
    assert failing.missing and all(m.strip() for m in failing.missing)
    assert len(str(failing).splitlines()) <= 2, f"the answer is one or two lines: {failing}"
    passing = checking.verdict(ex, after, solved, cfg)
    assert passing.passed, f"{exercise_id}'s solution fails its own check: {passing}"


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_each_solution_file_is_loadable_and_each_block_is_in_its_skeleton(exercise_id):
    cfg = labkit.load()
    ex = exercises.get(exercise_id)
    solution = checking.solution_path(cfg, ex)
    assert solution.exists(), f"no solution file {solution}"
    compile(textwrap.dedent(solution.read_text()), str(solution), "exec")    # `%load` shows valid Python
    checking.block(checking.skeleton_path(cfg, ex.file).read_text(), exercise_id)


# -- 07.4 on plausible wrong answers: its arguments are rendered for a sample run and compared with the truth ------
SPARK_ARGS = 'application_args=["--input", RUN + LANDED, "--output", OUT + "/aggregates", "--run-date", RUN + "{{ run.ds }}"],'
WRONG_06_4 = {
    # no RUN prefix: `run` is undefined when the template renders (the check used to pass it: the flags were there)
    "no_run_prefix": ('application_args=["--input", LANDED, "--output", OUT + "/aggregates", "--run-date", "{{ run.ds }}"],',
                      "its application_args do not render for the run of 2021-01-02 (UndefinedError: 'run' is undefined)"),
    # the logical date's day: a manual run's logical date is the day after its interval
    "logical_date": (SPARK_ARGS.replace('RUN + "{{ run.ds }}"', '"{{ ds }}"'),
                     "its --run-date is '2021-01-03' for the run of the day 2021-01-02 (logical date 2021-01-03), "
                     "not '2021-01-02'"),
    "one_folder_up": (SPARK_ARGS.replace('"--output", OUT + "/aggregates"', '"--output", OUT'),
                      "its --output is '<LANDING_ZONE>/my_workshop_job' for the run of the day 2021-01-02"),
}


@pytest.fixture(scope="module")
def wrong_06_4(tmp_path_factory):
    cfg = labkit.load()
    tmp = tmp_path_factory.mktemp("07.4-wrong")
    paths = {}
    for name, (wrong, _) in WRONG_06_4.items():
        path = solved_through(cfg, exercises.get("07.4"), ["07.1", "07.2", "07.3", "07.4"], tmp, name)
        text = path.read_text()
        assert SPARK_ARGS in text, "the solution of 07.4 has changed; update this test"
        path.write_text(text.replace(SPARK_ARGS, wrong))
        paths[name] = path
    reports = checking.parse(cfg, *paths.values())
    return {name: checking.verdict(exercises.get("07.4"), reports[str(p)], p, cfg) for name, p in paths.items()}


@pytest.mark.parametrize("name", WRONG_06_4)
def test_06_4_renders_the_arguments_for_a_run_and_names_what_is_wrong(wrong_06_4, name):
    result = wrong_06_4[name]
    assert not result.passed and WRONG_06_4[name][1] in str(result), str(result)
    assert len(str(result).splitlines()) == 1


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
