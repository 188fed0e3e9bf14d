"""Runs Airflow's components as one process group: `python -m labkit.services.airflow_supervisor`.

What `airflow standalone` does, minus its log servers: those bind every interface (`[::]`, not
configurable in Airflow 3.3), and with the LocalExecutor on one machine the API server reads task logs
from the log folder directly. So: migrate the metadata database, then run the API server, scheduler,
DAG processor and triggerer (the latter two with `--skip-serve-logs`); stop them all on SIGTERM, and stop
them all if one dies, so a broken Airflow shows as "stopped", never as half-running.

The API server starts first, and the others only once it answers: it also serves the Execution API that every
task talks to. A scheduler started beside it (after a crash and `labkit up`) re-queues an interrupted task at
once; that task's supervisor then calls an API server that is not listening yet, gives up after its retries,
and the task's automatic retry fails with nothing in its log but "Pre Execute". Its Execution API is asked once
too before they start: it builds its routes on its first request, which held a fresh server for up to 71 s on a
busy 2-core machine (and the lab gives a task's Execution API calls 180 s: `[workers] execution_api_timeout`).

Nothing Airflow started outlives the supervisor's stop: it is a child subreaper (prctl), so processes
orphaned by a crashed component (the LocalExecutor's workers when the scheduler is killed, which ignore
SIGTERM) become its children instead of init's; after the components have had their grace period, every
descendant still alive gets SIGTERM, then SIGKILL, wherever its process group or session.
"""
from __future__ import annotations

import configparser
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
GRACE = 20.0            # seconds the components get to finish after SIGTERM
API_START_TIMEOUT = 180.0   # seconds the API server gets to answer before the others start (a busy 2-core machine)
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Orphaned descendants re-parent to this process (Linux >= 3.4), so it can find and reap them."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans(children: dict[str, subprocess.Popen]) -> None:
    """Collect exited orphans (they are our children now); the components' own exits stay with Popen."""
    ours = {child.pid for child in children.values()}
    for proc in psutil.Process().children():
        if proc.pid not in ours:
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(proc.pid, os.WNOHANG)
            except (psutil.Error, ChildProcessError):
                continue


def stop_descendants(grace: float = 5.0) -> list[int]:
    """SIGTERM every process still below this one (orphans included: we are their subreaper), SIGKILL to
    those alive after `grace` seconds; returns the pids that needed the SIGKILL."""
    found = psutil.Process().children(recursive=True)
    for proc in found:
        try:
            proc.terminate()
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(found, timeout=grace)   # also reaps those that are our children
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=5.0)
    return [proc.pid for proc in alive]


def api_health_url() -> str:
    """The API server's health URL, from the lab's airflow.cfg (`[api] base_url`)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(os.environ["AIRFLOW_CONFIG"])
    return parser.get("api", "base_url").rstrip("/") + "/api/v2/monitor/health"


def execution_health_url() -> str:
    """The Execution API's health URL (`[core] execution_api_server_url`), what every task talks to."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(os.environ["AIRFLOW_CONFIG"])
    return parser.get("core", "execution_api_server_url").rstrip("/") + "/health"


def wait_until_answering(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    """Whether `url` answered (any HTTP status) before `proc` exited or `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=max(2.0, deadline - time.monotonic())).close()
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.5)
    return False


def main() -> int:
    become_subreaper()
    print("supervisor: migrating the metadata database", flush=True)
    if subprocess.call([AIRFLOW, "db", "migrate"]) != 0:
        print("supervisor: `airflow db migrate` failed", flush=True)
        return 1
    first, *rest = COMPONENTS
    children = {first: subprocess.Popen([AIRFLOW, *COMPONENTS[first]])}
    url = api_health_url()
    if wait_until_answering(url, children[first], API_START_TIMEOUT):
        # The Execution API builds its versioned routes on its first request, holding the server for up to a minute
        # on a busy machine: asked now, before any task needs it (a task's start gave up on it after a crash).
        started = time.monotonic()
        wait_until_answering(execution_health_url(), children[first], API_START_TIMEOUT)
        print(f"supervisor: the {first} answers at {url} (its Execution API after "
              f"{time.monotonic() - started:.0f} s more); starting {', '.join(rest)}", flush=True)
        children.update({name: subprocess.Popen([AIRFLOW, *COMPONENTS[name]]) for name in rest})
    stopping = False

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exit_code = 0
    if len(children) == 1:
        print(f"supervisor: the {first} did not answer at {url} within {API_START_TIMEOUT:.0f} s; stopping Airflow",
              flush=True)
        stopping, exit_code = True, 1
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"supervisor: {name} exited with {child.returncode}; stopping Airflow", flush=True)
                stopping, exit_code = True, 1
                break
        reap_orphans(children)
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + GRACE
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    if (killed := stop_descendants()):
        print(f"supervisor: killed {len(killed)} process(es) that ignored SIGTERM: "
              f"{', '.join(map(str, killed))}", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
