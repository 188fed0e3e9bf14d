"""The AWS CLI the Spark jobs call on an EMR node (`aws secretsmanager get-secret-value`), for this machine's tests.

EMR puts an AWS CLI on every node; the jobs' Secrets Manager login is read through it (spark_jobs/import_interval.py,
retail_quantity.py), and tests run that real CLI against the moto server. Where the machine has no `aws` on PATH,
`make setup` installs AWS CLI v1 (PIN, from PyPI, with its own botocore) into `.venv-awscli` beside `.venv`, and
procs.venv_path puts its bin folder on the lab's PATH: the tests never skip for a missing CLI.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PIN = "awscli==1.46.3"
VENV = Path(__file__).resolve().parents[2] / ".venv-awscli"
BIN = VENV / "bin"


def main() -> int:
    """`make setup`: nothing when an `aws` is on PATH (or already installed here), else install PIN into VENV."""
    found = shutil.which("aws") or (str(BIN / "aws") if (BIN / "aws").exists() else None)
    if found:
        return 0
    print(f"setup: no AWS CLI on PATH: installing {PIN} into {VENV} (the Spark jobs' tests run it, as on an EMR node)")
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(BIN / "pip"), "install", "--quiet", PIN], check=True)
    return 0
