"""dag.test()'s warm process (labkit.exercises.dagtest): Airflow is imported once per lab and notebook, and every
check after the first runs in it. What a learner must never notice: the file they saved (and a module of theirs
beside it) is the one tested, and a process that hung or went away is replaced."""
import pytest

from labkit.errors import LabError
from labkit.exercises import dagtest
from labkit.services.airflow import airflow_env

pytestmark = pytest.mark.services

DAG = '''
import os, sys
import pendulum
from airflow.sdk import DAG, task
sys.path.insert(0, os.path.dirname(__file__))
import warm_probe_helper

with DAG("warm_probe", schedule=None, start_date=pendulum.datetime(2021, 1, 1, tz="UTC")):
    @task
    def answer():
        {body}
    answer()
'''


def probe(cfg, capsys, timeout=600):
    case = {"path": str(cfg.workspace_dags_dir / "warm_probe.py"), "dag_id": "warm_probe",
            "logical_date": "2021-01-02T00:00:00Z", "only": ["answer"]}
    state = dagtest.run_only(cfg, [case], timeout=timeout)[0]
    return state, capsys.readouterr().out


def test_a_check_after_the_first_runs_in_the_warm_process_on_the_file_as_saved(lab, capsys):
    cfg, _ = lab
    dag, helper = cfg.workspace_dags_dir / "warm_probe.py", cfg.workspace_dags_dir / "warm_probe_helper.py"
    dagtest._stop_workers()
    try:
        helper.write_text("ANSWER = 42\n")
        dag.write_text(DAG.format(body="assert warm_probe_helper.ANSWER == 42"))
        state, said = probe(cfg, capsys)
        assert state["answer"] == "success" and "Airflow starts in a process of its own" in said, (state, said)
        [first] = [p for p in dagtest._workers.values() if p.poll() is None]

        helper.write_text("ANSWER = 41\n")          # the learner edits the module their DAG imports: a failed task
        state, said = probe(cfg, capsys)
        assert state["answer"] == "failed" and "already runs" in said, (state, said)
        assert [p.pid for p in dagtest._workers.values() if p.poll() is None] == [first.pid]

        dag.write_text(DAG.format(body="assert warm_probe_helper.ANSWER == 41"))     # ... and the DAG file
        assert probe(cfg, capsys)[0]["answer"] == "success"

        dag.write_text(DAG.format(body="import time; time.sleep(120)"))
        with pytest.raises(LabError, match=r"did not finish in 3 s: see .*run_only\.log"):
            probe(cfg, capsys, timeout=3)       # a task that hangs: the process is killed ...
        assert first.poll() is not None
        dag.write_text(DAG.format(body="assert warm_probe_helper.ANSWER == 41"))
        state, said = probe(cfg, capsys)        # ... and the next check starts another
        assert state["answer"] == "success" and "Airflow starts in a process of its own" in said, (state, said)
    finally:
        dag.unlink(missing_ok=True)
        helper.unlink(missing_ok=True)
        dagtest._stop_workers()


def test_the_next_test_of_a_session_finds_the_same_warm_process(lab):
    """pytest names the running test in the environment (PYTEST_CURRENT_TEST): it is not a setting, and each test
    of a session started Airflow in a process of its own until the warm process's key left it out."""
    cfg, _ = lab
    env = airflow_env(cfg)
    dagtest._stop_workers()
    try:
        first, new = dagtest._worker(cfg, {**env, "PYTEST_CURRENT_TEST": "tests/test_a.py::test_one (call)"})
        again, new_again = dagtest._worker(cfg, {**env, "PYTEST_CURRENT_TEST": "tests/test_b.py::test_two (call)"})
        assert (new, new_again, again.pid) == (True, False, first.pid)
    finally:
        dagtest._stop_workers()
