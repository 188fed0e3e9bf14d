"""Runs Airflow's components as one process group: `python -m labkit.services.airflow_supervisor`.

What `airflow standalone` does, minus its log servers: those bind every interface (`[::]`, not
configurable in Airflow 3.3), and with the LocalExecutor on one machine the API server reads task logs
from the log folder directly. So: migrate the metadata database, then run the API server, scheduler,
DAG processor and triggerer (the latter two with `--skip-serve-logs`); stop them all on SIGTERM, and stop
them all if one dies, so a broken Airflow shows as "stopped", never as half-running.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}


def main() -> int:
    print("supervisor: migrating the metadata database", flush=True)
    if subprocess.call([AIRFLOW, "db", "migrate"]) != 0:
        print("supervisor: `airflow db migrate` failed", flush=True)
        return 1
    children = {name: subprocess.Popen([AIRFLOW, *argv]) for name, argv in COMPONENTS.items()}
    stopping = False

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"supervisor: {name} exited with {child.returncode}; stopping Airflow", flush=True)
                stopping, exit_code = True, 1
                break
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 20
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
