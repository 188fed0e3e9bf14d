"""Faults in the lab's process handling, injected against the real servers: two `labkit up` at once, and
Airflow's supervisor killed during a task."""
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # tests/helpers.py
from helpers import isolated_lab  # noqa: E402

import scenarios  # noqa: E402

from labkit import services  # noqa: E402

pytestmark = pytest.mark.services
LABKIT = str(Path(sys.executable).with_name("labkit"))


def test_two_ups_at_once_start_each_server_once(monkeypatch):
    """The second `up` waits for the first (saying so), then reuses what it started: no server is started
    twice, none is taken for "running but not answering" and restarted."""
    with isolated_lab(monkeypatch, "two-ups") as cfg:
        argv = [LABKIT, "up", "postgres", "mariadb"]
        runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
                for _ in range(2)]
        outputs = [run.communicate(timeout=300) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        said = "".join(out for out, _ in outputs)
        for name in ("postgres", "mariadb"):
            assert said.count(f"{name}: starting on") == 1, said
            assert said.count(f"{name}: already running") == 1, said
        assert "restarting" not in said
        assert said.count("waiting for `labkit up` (pid ") == 1, said
        assert all(s.status().healthy for s in services.all_services(cfg) if s.name in ("postgres", "mariadb"))


# -- Airflow's supervisor killed during a task ----------------------------------------------------------------
# (The scheduler killed during a task, and its supervisor taking every process with it: test_pipeline_faults.py.)
CRASH_DAG = "emr_ephemeral_job"            # schedule=None: only the run this test triggers
CRASH_DATE = "2024-02-29T00:00:00Z"        # after the DAG's start_date; a date no other test uses


def lab_processes(cfg) -> dict[int, str]:
    """Every process of this lab (its servers, Airflow's components and workers, their tasks): they carry
    the lab's state folder in their environment or on their command line. Not this test or its parents."""
    skip = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    state, found = str(cfg.state_dir), {}
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.pid in skip or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if state in cmdline or proc.environ().get("LAB_STATE_DIR") == state:
                found[proc.pid] = cmdline[:120]
        except psutil.Error:
            continue
    return found


def test_the_supervisor_killed_during_a_task_leaves_no_process_behind(lab):
    """`kill -9` of Airflow's supervisor while a LocalExecutor worker runs a task: its orphans (components,
    workers, the task) live on, and `up` stops them before it starts Airflow again; `labkit down` then leaves
    no process of the lab, and `labkit up` a healthy lab."""
    cfg, _ = lab
    airflow = services.get(cfg, "airflow")
    api = airflow.api()
    api.wait_for_dag(CRASH_DAG, timeout=180)
    api.unpause(CRASH_DAG)
    run_id = api.trigger(CRASH_DAG, logical_date=CRASH_DATE)
    try:
        tree, _ = scenarios.airflow_tree_running_a_task(cfg)    # two workers or more, one running the task
        supervisor = tree[0]
        supervisor.kill()                                       # kill -9
        psutil.wait_procs([supervisor], timeout=10)
        assert scenarios.still_alive(p.pid for p in tree[1:])  # its orphans: components, workers, the task
        said = []
        assert all(r.healthy for r in services.up(cfg, only=["airflow"], report=said.append))
        assert said[:2] == ["airflow: stopped what was left of its crashed run", "postgres: already running "
                            f"(pid {services.get(cfg, 'postgres').pid()}), reused"], said
        assert scenarios.still_alive(p.pid for p in tree) == {}
        services.down(cfg, report=lambda _: None)
        assert lab_processes(cfg) == {}
    finally:
        rows = services.up(cfg, report=lambda _: None)          # the documented recovery
        api = airflow.api()
        api.pause(CRASH_DAG)
        api.request("PATCH", f"dags/{CRASH_DAG}/dagRuns/{run_id}", json={"state": "failed"}, allow=(404, 409))
    assert all(r.healthy for r in rows), rows


def test_a_child_that_ended_unreaped_has_an_empty_title():
    """The scenarios look for Airflow's components and workers by command line, among children that may have just
    ended (the component an earlier fault killed, a worker whose task finished): psutil raises for a zombie's
    command line, which failed bench/faults.py's scheduler fault right after its api-server fault."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        # Popen returns once the child called exec, which can be before the kernel has set its new command line
        # (a live process then reads as ""; CI met it): its first line says the interpreter is running
        assert child.stdout.readline() == "up\n"
        proc = psutil.Process(child.pid)
        assert scenarios.inject.title(proc).startswith(sys.executable)
        child.stdin.close()                               # it ends; not reaped yet: we have not waited for it
        deadline = time.monotonic() + 30
        while proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(psutil.ZombieProcess):
            proc.cmdline()
        assert scenarios.inject.title(proc) == ""
    finally:
        child.kill()                                      # a failed assertion above must not leave it reading stdin
        child.wait(timeout=10)
