"""Test a learner's DAG in-process, as Airflow's `dag.test()` does: every task in one Python process, no scheduler.

`run(cfg, path, dag_id, logical_date)` starts `python -m labkit.exercises.dagtest` with the lab's Airflow settings
(its metadata database, connections and variables), which loads the file with a DagBag, pauses the DAG if
the scheduler knows it unpaused (it would run the test run's tasks as well), and calls

    dag.test(logical_date=...)

Airflow's own log of the test (a few hundred lines) goes to a file; the notebook gets one row per task. The
same test from a terminal is `airflow dags test <dag_id> <logical date>` (after `eval "$(labkit env)"`).

That process stays, warm, for the next test of the same lab from the same notebook (or test session): importing
Airflow and building dag.test()'s in-process Execution API cost 10-25 s of a core, paid once instead of once per
check. It waits for work on its stdin and exits when the notebook's kernel goes, or after IDLE_EXIT s without work.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from labkit.config import Config
from labkit.errors import LabError
from labkit.services.airflow import airflow_env


@dataclass(frozen=True)
class DagTest:
    dag_id: str
    state: str
    data_interval: tuple[str | None, str | None]
    tasks: list[dict]                  # task_id, state, seconds
    log: Path

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.tasks).set_index("task_id")

    def __repr__(self) -> str:
        start, end = self.data_interval
        return f"dag.test() of {self.dag_id}: {self.state}, data interval {start} .. {end} (Airflow's log: {self.log})"


def log_path(cfg: Config, dag_id: str) -> Path:
    return cfg.service_dir("airflow") / "dag_test" / f"{dag_id}.log"


def run(cfg: Config, path: Path, dag_id: str, logical_date: str, timeout: float = 900, env: dict | None = None,
        check: bool = True, echo: bool = True) -> DagTest:
    """`dag.test(logical_date=...)` of `dag_id` from the file `path`, in a process with the lab's Airflow settings.

    With `echo`, says at once what it waits for, then each task's state as it finishes. `env` adds to those
    settings; `check=False` returns a failed test instead of raising."""
    log = log_path(cfg, dag_id)
    say = (lambda line: print(line, flush=True)) if echo else (lambda line: None)
    result = _submit(cfg, {"kind": "main", "args": [str(path), dag_id, logical_date]}, log, timeout, say,
                     f"dag.test() of {dag_id}", env,
                     f"dag.test() of {dag_id}, logical date {logical_date}: {{airflow}}, then it runs each task in turn "
                     f"(Airflow's log: {log})")
    if "error" in result:
        raise LabError(f"dag.test() of {dag_id}: {result['error']}")
    test = DagTest(dag_id, result["state"], tuple(result["data_interval"]), result["tasks"], log)
    if check and test.state != "success":
        failed = [t["task_id"] for t in test.tasks if t["state"] != "success"]
        raise LabError(f"dag.test() of {dag_id} ended {test.state} ({', '.join(failed)} did not succeed): "
                       f"the task's error is in {log}")
    return test


def task_error(log: Path) -> str:
    """The failed task's own error line from a dag.test() log, as " (<line>)" ("" when the log has none): `labkit:
    error: ...`, an SQL error, a Python exception, a command bash did not find (with its usual cause)."""
    if not log.exists():
        return ""
    found = re.findall(r"(labkit: error: .*|psycopg2\.errors\.\w+: .*|JobError: .*|[A-Za-z.]*Error: .*"
                       r"|\S+: command not found)", log.read_text(errors="replace"))
    if not found:
        return ""
    line = found[-1].strip()[:200]
    if line.endswith("command not found"):      # a BashOperator's env without append_env=True: no PATH left
        line += ": a task's env replaces its whole environment (PATH too) unless append_env=True"
    return f" ({line})"


def _follow(proc: subprocess.Popen, done, progress: Path, timeout: float, say, what: str, log: Path) -> int | None:
    """Follow `proc` until `done()` or its exit, saying each line it adds to `progress` as it comes (with the seconds
    since the follow started); its exit code, or None if it is still running (done). Past `timeout` (or on an
    interrupt) it is killed, and the error names `what` and `log`."""
    t0, seen, finished = time.monotonic(), 0, False
    try:
        while True:
            finished = done() or proc.poll() is not None
            lines = progress.read_text().splitlines()
            for line in lines[seen:]:
                say(f"{time.monotonic() - t0:6.1f} s  {line}")
            seen = len(lines)
            if finished:
                return proc.poll()
            if time.monotonic() - t0 > timeout:
                raise LabError(f"{what} did not finish in {timeout:.0f} s: see {log}")
            time.sleep(0.5)
    finally:
        if not finished and proc.poll() is None:
            proc.kill()
            proc.wait()


# -- the warm process ---------------------------------------------------------------------------------------
IDLE_EXIT = 900.0           # s a warm process waits for its next test before it exits (it holds ~300 MB)
_workers: dict[str, subprocess.Popen] = {}
# Variables that say which moment the caller is at, not how Airflow is set up: not part of a warm process's key
# (pytest names the running test in PYTEST_CURRENT_TEST, and a process per test started Airflow again each time).
MOMENTARY = ("PYTEST_CURRENT_TEST",)


def _worker(cfg: Config, env: dict) -> tuple[subprocess.Popen, bool]:
    """This process's warm dag.test() process for these settings (a new one if none is alive); whether it is new.
    The lab's airflow.cfg is part of the key: a setting labkit rewrote reaches the next test."""
    config = Path(env.get("AIRFLOW_CONFIG", ""))
    env = {k: v for k, v in env.items() if k not in MOMENTARY}
    key = json.dumps([env, config.stat().st_mtime_ns if config.is_file() else None], sort_keys=True)
    proc = _workers.get(key)
    if proc is not None and proc.poll() is None:
        return proc, False
    out = log_path(cfg, "warm-process")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as log:         # what it says between tests (Airflow's import warnings)
        proc = subprocess.Popen([sys.executable, "-m", "labkit.exercises.dagtest", "--serve", str(IDLE_EXIT)],
                                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
    _workers[key] = proc
    return proc, True


def start(cfg: Config) -> None:
    """Start the lab's warm dag.test() process now (begin() does, so it warms up while the learner writes)."""
    _worker(cfg, airflow_env(cfg))


def _stop_workers() -> None:
    """At exit: end of stdin for each warm process (it exits after the test it runs), killed if it lingers."""
    for proc in _workers.values():
        with contextlib.suppress(OSError):
            proc.stdin.close()
    for proc in _workers.values():
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
    _workers.clear()


atexit.register(_stop_workers)


def _submit(cfg: Config, job: dict, log: Path, timeout: float, say, what: str, env: dict | None = None,
            heading: str = "") -> object:
    """Hand `job` to the warm process (started if needed), follow its progress, and return its answer. `heading`'s
    {airflow} says whether Airflow starts for it or is already imported."""
    env = {**airflow_env(cfg), **(env or {})}
    log.parent.mkdir(parents=True, exist_ok=True)
    answer, progress = log.with_suffix(".json"), log.with_suffix(".progress")
    answer.unlink(missing_ok=True)
    progress.write_text("")
    proc, new = _worker(cfg, env)
    if heading:
        say(heading.format(airflow="Airflow starts in a process of its own" if new
                           else "in the process where Airflow already runs (warm from the last test)"))
    line = json.dumps({**job, "log": str(log), "answer": str(answer), "progress": str(progress)}) + "\n"
    try:
        proc.stdin.write(line)
        proc.stdin.flush()
    except (BrokenPipeError, OSError):        # it exited between the check and the write (its idle time ran out)
        proc.wait()
        proc, _ = _worker(cfg, env)
        proc.stdin.write(line)
        proc.stdin.flush()
    code = _follow(proc, answer.exists, progress, timeout, say, what, log)
    if not answer.exists():
        raise LabError(f"{what} did not finish (exit {code}): see {log}")
    reply = json.loads(answer.read_text())
    if "failed" in reply:
        raise LabError(f"{what} did not finish ({reply['failed']}): see {log}")
    return reply["answer"]


@contextlib.contextmanager
def _output_to(path: str):
    """This process's stdout and stderr (Airflow's log, the tasks' subprocesses) into `path` while a test runs."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _warm() -> None:
    """Import what dag.test() needs and build its in-process Execution API before the first test asks."""
    import pendulum  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor, in_process_api_server

    api = in_process_api_server()
    api.app
    InProcessTestSupervisor._api_client().get("health")     # its versioned routes are built at the first request
    _install_hooks()


def _forget_modules_beside(paths: list[str]) -> None:
    """A learner's DAG may import a module of its own folder: the warm process imports it again, as the edited file."""
    folders = {str(Path(p).resolve().parent) for p in paths}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and str(Path(file).resolve().parent) in folders:
            del sys.modules[name]


def _serve(idle_exit: float) -> None:
    """The warm process: one test per line on stdin ({"kind": "main"|"only", ...}), its answer written to the
    file the line names; exits at the end of stdin (the kernel went) or after `idle_exit` s without a test."""
    _warm()
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], idle_exit)
        line = sys.stdin.readline() if ready else ""
        if not line:
            return
        job = json.loads(line)
        _forget_modules_beside([c["path"] for c in job["cases"]] if job["kind"] == "only" else job["args"][:1])
        with _output_to(job["log"]):
            try:
                if job["kind"] == "only":
                    reply = {"answer": _only(job["cases"], job["progress"])}
                else:
                    reply = {"answer": _main(*job["args"], job["progress"])}
            except Exception as exc:          # not the learner's error (that is an answer): the log has the trace
                import traceback

                traceback.print_exc()
                reply = {"failed": f"{type(exc).__name__}: {str(exc).strip()[:200]}"}
        partial = Path(job["answer"] + ".partial")
        partial.write_text(json.dumps(reply))
        partial.replace(job["answer"])


def _main(path: str, dag_id: str, logical_date: str, progress: str) -> dict:
    def note(line: str) -> None:        # one line for the notebook, which reads this file as it grows
        with open(progress, "a") as out:
            out.write(line + "\n")

    note(f"loading {Path(path).name} with a DagBag")
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=path, safe_mode=False)
    if dag_id not in bag.dags:
        errors = [str(e).strip().splitlines()[-1] for e in bag.import_errors.values()]
        return {"error": f"{Path(path).name} defines no DAG {dag_id!r}" + (f": {errors[0]}" if errors else "")}
    dag = bag.dags[dag_id]
    _pause(dag_id)            # an unpaused DAG's scheduler would take this test run's tasks too
    _announce_tasks(lambda task_id: note(f"{task_id} running"),
                    lambda task_id, state: note(f"{task_id} {state}"))
    note("dag.test() started: it records the DAG and creates the run, then runs the tasks")
    # [START dag_test]
    run = dag.test(logical_date=pendulum.parse(logical_date))
    # [END dag_test]
    interval = [str(run.data_interval_start) if run.data_interval_start else None,
                str(run.data_interval_end) if run.data_interval_end else None]
    tasks = [{"task_id": ti.task_id, "state": str(ti.state),
              "seconds": round(ti.duration, 1) if ti.duration is not None else None}
             for ti in sorted(run.get_task_instances(), key=lambda ti: (ti.start_date is None, ti.start_date))]
    note(f"dag.test() ended: {run.state}")
    return {"state": str(run.state), "data_interval": interval, "tasks": tasks}


_hooks: dict = {"started": None, "ended": None}
_deferred: list[str] = []               # the tasks whose trigger dag.test() ran in line, in order


def _announce_tasks(started, ended=None) -> None:
    """Have dag.test() call `started(task_id)` when a task starts and `ended(task_id, state)` when it ends (it runs
    them one by one with `_run_task`)."""
    _hooks.update(started=started, ended=ended)
    _install_hooks()


def _install_hooks() -> None:
    """Wrap dag.test()'s task runner (for _hooks) and its in-line trigger runner (for _deferred), once per process."""
    from airflow.sdk.definitions import dag as sdk_dag

    if getattr(sdk_dag._run_task, "labkit_hooked", False):
        return
    run_task, run_trigger = sdk_dag._run_task, sdk_dag._run_inline_trigger

    def announced(*, ti, task, **kwargs):
        if _hooks["started"]:
            _hooks["started"](ti.task_id)
        try:
            return run_task(ti=ti, task=task, **kwargs)
        finally:
            if _hooks["ended"]:
                _hooks["ended"](ti.task_id, getattr(ti.state, "value", ti.state))

    def recorded(trigger, task_sdk_ti):
        _deferred.append(task_sdk_ti.task_id)
        return run_trigger(trigger, task_sdk_ti)

    announced.labkit_hooked = True
    sdk_dag._run_task, sdk_dag._run_inline_trigger = announced, recorded


def _pause(dag_id: str) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        if model is not None and not model.is_paused:
            model.is_paused = True


RUN_STATE = "__run__"                    # run_only's key for the state of the whole run
DEFERRED = "__deferred__"                # ... and for the tasks that deferred (their trigger ran), in order


def run_only(cfg: Config, cases: list[dict], timeout: float = 600, echo: bool = True) -> list[dict]:
    """For each case {"path", "dag_id", "logical_date", "only": [task ids]}: `dag.test()` of that run with every
    task but `only` marked success instead of run (`mark_success_pattern`): what those tasks alone do to the
    lab's data, as a check needs it (a data-quality gate on rows the check wrote). One process for all the cases
    (Airflow imports once; the warm process); returns, per case, {task_id: state} of the `only` tasks, {RUN_STATE: the run's
    state} and {DEFERRED: the tasks that deferred}, or {"error": one line}. A case's "connections" ({conn_id:
    fields}) replace the lab's for its run (dag.test()'s conn_file_path): how a check makes a task fail as it
    would when its database is down. With `echo`, says at once what it runs, then one line per run as it ends (a
    check can take a minute)."""
    log = log_path(cfg, "run_only")
    say = (lambda line: print(line, flush=True)) if echo else (lambda line: None)
    runs = f"{len(cases)} run{'s' * (len(cases) > 1)}"
    return _submit(cfg, {"kind": "only", "cases": cases}, log, timeout, say, f"dag.test() of {runs}",
                   heading=f"dag.test() of your tasks, {runs}, {{airflow}} (Airflow's log: {log})")


def _only(cases: list[dict], progress: str | None = None) -> list[dict]:
    def note(line: str) -> None:        # one line for the notebook, which reads this file as it grows
        if progress:
            with open(progress, "a") as out:
                out.write(line + "\n")

    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    deferred = _record_deferrals()
    current: dict = {}

    def starting(task_id: str) -> None:     # a run of several tasks says when each starts (a step runs minutes)
        if len(current["only"]) > 1 and task_id in current["only"]:
            note(f"{current['day']}: {task_id} running")

    _announce_tasks(starting)
    out = []
    for case in cases:
        day = case["logical_date"][:10]
        current.update(day=day, only=case["only"])
        deferred.clear()
        bag = DagBag(dag_folder=case["path"], safe_mode=False)
        dag = bag.dags.get(case["dag_id"])
        if dag is None:
            out.append({"error": f"{Path(case['path']).name} defines no DAG {case['dag_id']!r}"})
            note(f"{day}: did not run ({out[-1]['error']})")
            continue
        _pause(case["dag_id"])
        for task_id in case["only"]:             # a failure here is the answer: no retry (and its delay)
            if task_id in dag.task_dict:
                dag.task_dict[task_id].retries = 0
        others = "(?!(?:" + "|".join(map(re.escape, case["only"])) + ")$).*"
        try:
            with tempfile.TemporaryDirectory() as tmp:
                conn_file = None
                if case.get("connections"):     # connections this run sees instead of the lab's (a fault)
                    conn_file = Path(tmp) / "connections.json"
                    conn_file.write_text(json.dumps(case["connections"]))
                run = dag.test(logical_date=pendulum.parse(case["logical_date"]), mark_success_pattern=others,
                               conn_file_path=str(conn_file) if conn_file else None)
        except Exception as exc:                 # the learner's DAG: its error is the answer, in one line
            out.append({"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"})
            note(f"{day}: did not run ({out[-1]['error'][:120]})")
            continue
        states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()
                  if ti.task_id in case["only"]}
        out.append({**states, RUN_STATE: str(getattr(run.state, "value", run.state)), DEFERRED: list(deferred)})
        note(f"{day}: " + ", ".join(f"{t} {states.get(t, 'not run')}" for t in case["only"])
             + (f" (with a broken {', '.join(case['connections'])})" if case.get("connections") else "")
             + (f"; deferred: {', '.join(deferred)}" if deferred else ""))
    return out


def _record_deferrals() -> list[str]:
    """The ids of the tasks whose trigger dag.test() runs (a task that deferred), as they defer: dag.test() runs
    a deferred task's trigger in line (`_run_inline_trigger`), then resumes the task."""
    _install_hooks()
    _deferred.clear()
    return _deferred


if __name__ == "__main__":
    _serve(float(sys.argv[2]))
