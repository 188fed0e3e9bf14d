"""The `labkit` commands as the README types them, each run once as a subprocess on the session lab: its exit code
and what a learner reads first. One test (one lab, the commands in a row): seconds, not minutes."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

LABKIT = str(Path(sys.executable).with_name("labkit"))
VENV_BIN = str(Path(sys.executable).parent)


def labkit(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([LABKIT, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})


@pytest.mark.services
def test_the_readme_labkit_commands_answer_on_a_running_lab(lab, tmp_path):
    cfg, _ = lab
    # `labkit status`: one line per service, every one healthy, exit 0
    status = labkit("status")
    assert status.returncode == 0, status.stdout + status.stderr
    rows = status.stdout.splitlines()
    assert rows[0].split()[:2] == ["service", "health"]
    assert {line.split()[0]: line.split()[1] for line in rows[1:-1]} == {
        name: "healthy" for name in ("postgres", "mariadb", "airflow", "emr")}, status.stdout

    # `labkit doctor`: ready, in one line (the lab's own listeners are not a problem)
    doctor = labkit("doctor")
    assert doctor.returncode == 0 and doctor.stdout.startswith("ready: Java "), doctor.stdout + doctor.stderr

    # `labkit logs airflow`: the end of its log, at most -n lines
    logs = labkit("logs", "airflow", "-n", "5")
    assert logs.returncode == 0 and 0 < len(logs.stdout.strip().splitlines()) <= 5, logs.stdout + logs.stderr

    # eval "$(labkit env)", then `airflow dags list` talks to this lab: it lists the project's DAGs
    listed = subprocess.run(["bash", "-c", f'eval "$("{LABKIT}" env)" && airflow dags list -o plain'],
                            capture_output=True, text=True, timeout=300,
                            env={**{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
                                 "PATH": VENV_BIN + os.pathsep + os.environ["PATH"]})
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert {"airflow_workshop_job", "emr_ephemeral_job"} <= {line.split()[0] for line in listed.stdout.splitlines()
                                                             if line.strip()}, listed.stdout

    # `labkit check 07.1` in a workspace of its own (the lab's is the notebooks'), then `labkit workspace reset`
    own = {"LAB_WORKSPACE_DIR": str(tmp_path / "workspace"), "LAB_SOLUTIONS": "1"}
    check = labkit("check", "07.1", **own)
    assert check.returncode == 0 and check.stdout.startswith("07.1 ") and check.stdout.rstrip().endswith(" pass"), \
        check.stdout + check.stderr
    reset = labkit("workspace", "reset", **own)
    assert reset.returncode == 0 and "is empty again; your files are in " in reset.stdout, reset.stdout + reset.stderr
    assert not list((tmp_path / "workspace" / "dags").glob("*.py"))

    # `labkit run NN` (README: `labkit run 04 05`): only those notebooks, and summary.csv beside the copies
    run = labkit("run", "00", "--output", str(tmp_path / "output"), timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    with open(tmp_path / "output" / "summary.csv") as fh:
        summary = list(csv.DictReader(fh))
    assert [(r["notebook"][:3], r["status"]) for r in summary] == [("00_", "ok")]
    assert (tmp_path / "output" / summary[0]["notebook"]).exists()
