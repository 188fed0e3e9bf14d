"""Notebook 08's checks on a learner's likely wrong turns: each answer names the fix in one line."""
from __future__ import annotations

import dataclasses

import pytest

import labkit
from labkit import exercises
from labkit.exercises import checking

# (what the learner wrote instead of a block's solution, the exercise it fails, what its answer says)
WRONG = {
    "index": ("08.1", "step_id = first_step(add_step.output)", "step_id = add_step.output[0]",
              "does not import: ValueError: XComArg only supports str lookup"),   # Airflow's own line
    "other_key": ("08.1", "step_id = first_step(add_step.output)", "step_id = add_step.output['return']",
                  "monitor_step.step_id reads add_step:return, not the step ids add_step returned"),
    "all_done": ("08.2", "monitor_step >> terminate_cluster.as_teardown(setups=create_cluster)",
                 "terminate_cluster.trigger_rule = 'all_done'\nmonitor_step >> terminate_cluster",
                 "is not a teardown: use .as_teardown(setups=create_cluster) (all_done alone would mark"),
    "no_setup": ("08.2", "monitor_step >> terminate_cluster.as_teardown(setups=create_cluster)",
                 "monitor_step >> terminate_cluster.as_teardown()", "a teardown without its setup"),
    "before": ("08.2", "monitor_step >> terminate_cluster.as_teardown(setups=create_cluster)",
               "create_cluster >> terminate_cluster.as_teardown(setups=create_cluster)", "does not come after monitor_step"),
    "reschedule": ("08.3", "deferrable=True,", 'mode="reschedule",',
                   "has mode='reschedule': it frees its worker slot between pokes, but each poke starts the task again"),
    "poke": ("08.3", "deferrable=True,", 'mode="poke",', "waits in a worker slot for the step's whole run (mode='poke')"),
}


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    cfg = labkit.load()
    tmp = tmp_path_factory.mktemp("emr-wrong")
    paths = {}
    for name, (exercise_id, right, wrong, _) in WRONG.items():
        scratch = dataclasses.replace(cfg, workspace_dir=tmp / name)
        path = checking.begin("my_emr_job.py", scratch)
        for done in ("08.1", "08.2", "08.3"):
            checking.solve(done, scratch)
        text = path.read_text()
        indent = "    "
        assert indent + right.splitlines()[0] in text, f"{name}: the solution has changed; update this test"
        path.write_text(text.replace(indent + right, "\n".join(indent + line for line in wrong.splitlines())))
        paths[name] = path
    reports = checking.parse(cfg, *paths.values())
    return {name: checking.verdict(exercises.get(WRONG[name][0]), reports[str(p)], p, cfg) for name, p in paths.items()}


@pytest.mark.parametrize("name", WRONG)
def test_a_wrong_turn_fails_its_check_with_the_fix(answers, name):
    result = answers[name]
    assert not result.passed and WRONG[name][3] in str(result), str(result)
    assert len(str(result).splitlines()) == 1


def test_the_clusters_exercise_answer_is_a_file_that_compiles():
    """08's last exercise has no check: its answer is loaded on request (`%load solutions/08_clusters.py`)."""
    path = labkit.load().notebooks_dir / checking.SOLUTIONS / "08_clusters.py"
    compile(path.read_text(), str(path), "exec")
    assert "%load solutions/08_clusters.py" in (labkit.load().notebooks_dir / "08_emr_job.ipynb").read_text()
