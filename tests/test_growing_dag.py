"""The checks that grow the learner's DAG one task per data notebook (labkit.exercises.growing_dag: 04.1, 05.1,
06.1). Each rejects a wrong shape from the parse alone, and a plausible file that does the wrong thing when its
tasks run (dag.test() against the session's lab), naming it in one line. That each solution passes its own check
is proven where it is used: nbval runs notebooks 04-06 with LAB_SOLUTIONS=1, where a solution that fails its
check is an error.
"""
from __future__ import annotations

import shutil

import pytest

import labkit
from helpers import solution, solution_variant
from labkit.exercises import checking, growing_dag

IDS = ("04.1", "05.1", "06.1", "06.2")


# (exercise, name): (text in the solution, its wrong replacement, what the check must say)
SHAPE = {
    ("04.1", "no_task"): ('task_id="generate_day_rows"', 'task_id="generate_rows"', "has no task `generate_day_rows`"),
    ("04.1", "workshop_table"): ("tbl_my_daily (line", "tbl_airflow_dummy_daily (line",
                                 "touches tbl_airflow_dummy_daily"),
    ("05.1", "not_after"): ("generate_day_rows >> import_day", "import_day", "does not run after `generate_day_rows`"),
    ("05.1", "password_on_the_command_line"): (
        ''' --password-file <(printf %s "$DB_PASSWORD")''', " --password {{ conn.postgres_default.password }}",
        "command line holds the password"),
    ("06.1", "bash_spark_submit"): ("aggregate_day = SparkSubmitOperator(",
                                    "aggregate_day = (lambda task_id, **_: BashOperator(task_id=task_id, "
                                    "bash_command='spark-submit aggregate_dummy.py'))(",
                                    "`aggregate_day` is a BashOperator: use SparkSubmitOperator"),
    ("06.2", "default_rule"): ('@task(trigger_rule="one_failed")', "@task", "default trigger rule (all_success)"),
}
# Plausible files whose tasks run green but write the wrong thing.
BEHAVIOUR = {
    ("04.1", "no_delete"): ("            delete from tbl_my_daily where created >= '{{ ds }}' and created < "
                            "'{{ macros.ds_add(ds, 1) }}';\n", "", "the rerun added them again"),
    ("04.1", "twelve_hour_clock"): ("'YYYY-MM-DD HH24:MI'", "'YYYY-MM-DD hh:MI'", "24-hour clock"),
    ("04.1", "replaces_every_day"): ("delete from tbl_my_daily where created >= '{{ ds }}' and created < "
                                     "'{{ macros.ds_add(ds, 1) }}';", "delete from tbl_my_daily;",
                                     "removed the rows of 2021-01-03"),
    ("05.1", "lower_bound_only"): (" and created < '{{ macros.ds_add(ds, 1) }}'\\\"\"", "\\\"\"",
                                   "landed rows of 2021-01-02, 2021-01-03"),
    ("06.1", "whole_table"): ('"--input", "{{ var.value.LANDING_ZONE }}/my_workshop_job/tbl_my_daily/ds={{ ds }}"',
                              '"--input", "{{ var.value.LANDING_ZONE }}/my_workshop_job/tbl_my_daily"',
                              "not the whole table"),
    # runs after every run, not only after a failure
    ("06.2", "all_done"): ('@task(trigger_rule="one_failed")', '@task(trigger_rule="all_done")',
                           "must run only when a task failed"),
    # reports, then succeeds: the run of the failed day ends green
    ("06.2", "reports_but_succeeds"): ("        raise AirflowFailException(message)\n", "", "makes the run look green"),
}


def variant(cfg, tmp_path, exercise_id: str, name: str, right: str, wrong: str):
    return solution_variant(cfg, tmp_path, exercise_id, name, right, wrong, growing_dag.FILE)


def test_each_growth_exercise_is_a_whole_file_growing_the_one_before():
    cfg = labkit.load()
    texts = [solution(cfg, i) for i in ("02.2", *IDS)]
    for exercise_id in IDS:
        assert checking.get(exercise_id).solution == "file" and checking.get(exercise_id).file == growing_dag.FILE
    for task in (growing_dag.GENERATE, growing_dag.IMPORT, growing_dag.AGGREGATE):
        grown = [f'task_id="{task}"' in t for t in texts]
        assert grown == sorted(grown), (task, grown)      # once a notebook adds a task, every later answer keeps it


def test_shape_mistakes_are_named_from_the_parse_alone(tmp_path):
    cfg = labkit.load()
    paths = {key: variant(cfg, tmp_path, *key, right, wrong) for key, (right, wrong, _) in SHAPE.items()}
    reports = checking.parse(cfg, *paths.values())
    for key, path in paths.items():
        result = checking.verdict(checking.get(key[0]), reports[str(path)], path, cfg)
        assert not result.passed and SHAPE[key][2] in str(result), (key, str(result))
        assert len(str(result).splitlines()) == 1


@pytest.mark.services
@pytest.mark.parametrize("key", BEHAVIOUR, ids=["-".join(k) for k in BEHAVIOUR])
def test_plausible_tasks_that_write_the_wrong_thing_are_named(lab, tmp_path, key):
    cfg, _ = lab
    exercise_id = key[0]
    # dag.test() syncs the DAG from the workspace bundle, where the learner's file is: the solution goes there
    learner = checking.learner_path(cfg, growing_dag.FILE)
    learner.parent.mkdir(parents=True, exist_ok=True)
    learner.write_text(solution(cfg, exercise_id))
    path = variant(cfg, tmp_path, *key, *BEHAVIOUR[key][:2])
    result = checking.verdict(checking.get(exercise_id), checking.parse(cfg, path)[str(path)], path, cfg)
    assert not result.passed and BEHAVIOUR[key][2] in str(result), str(result)
    assert len(str(result).splitlines()) == 1


def test_rows_behaviour_reads_each_way_a_day_goes_wrong():
    day = {"rows": growing_dag.DAY_ROWS, "lines": 100, "minutes": 1440, "pm": True, "line_names": growing_dag.LINES}
    whole = {growing_dag.DAY: day, growing_dag.OTHER_DAY: day}
    assert growing_dag.rows_behaviour({}, whole) == []
    assert "no rows of 2021-01-02" in growing_dag.rows_behaviour({}, {growing_dag.OTHER_DAY: day})[0]
    assert "line 100" not in growing_dag.rows_behaviour({}, whole)
    quirk = {**day, "line_names": (growing_dag.LINES - {"dummy100"}) | {"dummy00"}}
    assert "third quirk" in growing_dag.rows_behaviour({}, {**whole, growing_dag.DAY: quirk})[0]
    extra = {**whole, "2021-01-04": day}
    assert "changed the rows of 2021-01-04" in growing_dag.rows_behaviour({}, extra)[0]
    assert growing_dag.rows_behaviour({"2021-01-04": day}, extra) == []      # there before: not the runs' doing


def test_failure_behaviour_reads_the_two_runs():
    run = growing_dag.dagtest.RUN_STATE
    bad = {growing_dag.GENERATE: "failed", growing_dag.FAILURE: "failed", run: "failed"}
    good = {growing_dag.FAILURE: "skipped", run: "success"}
    assert growing_dag.failure_behaviour(bad, good) == []
    assert "trigger rule" in growing_dag.failure_behaviour({**bad, growing_dag.FAILURE: "upstream_failed"}, good)[0]
    assert "only when a task failed" in growing_dag.failure_behaviour(bad, {**good, growing_dag.FAILURE: "success"})[0]
    assert "look green" in growing_dag.failure_behaviour({**bad, growing_dag.FAILURE: "success", run: "success"}, good)[0]
    assert "must use postgres_default" in growing_dag.failure_behaviour({**bad, growing_dag.GENERATE: "success"}, good)[0]


def test_begin_grows_the_learners_file_or_starts_from_the_earlier_answer(tmp_path, capsys):
    import dataclasses

    cfg = dataclasses.replace(labkit.load(), workspace_dir=tmp_path / "ws")
    path = checking.begin(growing_dag.FILE, cfg, grows_from="04.1")
    assert path.read_text() == solution(cfg, "04.1")
    assert "starts as exercise 04.1's answer (solutions/04_1.py)" in capsys.readouterr().out
    path.write_text("# mine\n" + path.read_text())
    assert checking.begin(growing_dag.FILE, cfg, grows_from="05.1").read_text().startswith("# mine")
    shutil.rmtree(tmp_path / "ws")


def test_a_failed_tasks_own_error_is_quoted_with_the_likely_fix(tmp_path):
    """What a learner's failed task left in dag.test()'s log becomes the check's reason: the last error line, and
    for a command bash did not find, the usual cause (a BashOperator's env without append_env=True)."""
    from labkit.exercises import dagtest

    log = tmp_path / "run_only.log"
    assert dagtest.task_error(log) == ""
    log.write_text("[info] /usr/bin/bash: line 1: labkit: command not found [airflow.task.hooks...SubprocessHook]\n"
                   "airflow.sdk.exceptions.AirflowException: Bash command failed. The command returned a non-zero "
                   "exit code 127.\n")
    assert dagtest.task_error(log) == (" (labkit: command not found: a task's env replaces its whole environment "
                                       "(PATH too) unless append_env=True)")
    log.write_text('psycopg2.errors.UndefinedColumn: column "day" does not exist\n')
    assert dagtest.task_error(log) == ' (psycopg2.errors.UndefinedColumn: column "day" does not exist)'


def test_a_dag_test_process_is_followed_line_by_line_and_killed_past_its_timeout(tmp_path):
    """dagtest's follower: what the process adds to its progress file is said as it comes, with its seconds; it
    returns once the answer is there (the warm process goes on) or the process exited (its code); one that runs
    past the timeout is killed and named with its log."""
    import subprocess
    import sys

    from labkit.errors import LabError
    from labkit.exercises import dagtest

    log, progress, answer = tmp_path / "run.log", tmp_path / "run.progress", tmp_path / "run.json"
    progress.write_text("")
    said: list[str] = []
    script = (f"import time; open({str(progress)!r}, 'a').write('a running\\n'); time.sleep(0.7); "
              f"open({str(answer)!r}, 'w').write('{{}}'); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", script])
    assert dagtest._follow(proc, answer.exists, progress, 30, said.append, "x", log) is None   # answered, alive
    assert [line.split(" s  ")[1] for line in said] == ["a running"] and proc.poll() is None
    proc.kill()
    proc.wait()
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    assert dagtest._follow(proc, lambda: False, progress, 30, said.append, "x", log) == 3
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    with pytest.raises(LabError, match=r"^slow did not finish in 1 s: see .*run\.log$"):
        dagtest._follow(proc, lambda: False, progress, 1, said.append, "slow", log)
    assert proc.poll() is not None                  # killed
