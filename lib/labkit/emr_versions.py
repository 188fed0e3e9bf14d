"""The Python and Spark of the pinned EMR release, for testing the Spark jobs under them (tests/test_emr_versions.py).

EMR 7 (spec.EMR_RELEASE_LABEL) runs Spark 3.5 (EMR's own build, 3.5.x-amzn) and its nodes' Python 3.9; the lab runs
Spark 4 on Python 3.11. `make setup` builds `.venv-emr` beside `.venv`: Python 3.9 (a `python3.9` on PATH, or
pyenv's) with pyspark PYSPARK (the newest 3.5 release PyPI serves; EMR's patch level is its own). Where no Python 3.9
is found, setup says so in one line and the test is skipped with that reason: nothing is faked.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from labkit.errors import LabError

PYTHON_VERSION = (3, 9)
SPARK_MINOR = "3.5"
PYSPARK = "3.5.9"
VENV = Path(os.environ.get("LAB_EMR_VENV") or Path(__file__).resolve().parents[2] / ".venv-emr")
PYTHON = VENV / "bin" / "python"
SPARK_SUBMIT = VENV / "bin" / "spark-submit"


def find_python() -> str | None:
    """A Python 3.9 interpreter: python3.9 on PATH (that runs), else one of pyenv's versions."""
    name = "python%d.%d" % PYTHON_VERSION
    candidates = [shutil.which(name)]
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(glob.glob(f"{root}/versions/{PYTHON_VERSION[0]}.{PYTHON_VERSION[1]}.*/bin/{name}"))
    for path in filter(None, candidates):
        ok = subprocess.run([path, "-c", "import sys, venv; print(sys.version_info[:2])"], capture_output=True,
                            text=True)
        if ok.returncode == 0 and ok.stdout.strip() == str(PYTHON_VERSION):
            return path
    return None


def installed() -> str | None:
    """The pyspark version in VENV (None when there is none)."""
    if not PYTHON.exists():
        return None
    out = subprocess.run([str(PYTHON), "-c", "import pyspark; print(pyspark.__version__)"], capture_output=True,
                         text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def problem() -> str | None:
    """Why the jobs cannot be tested under EMR's versions here (None when they can)."""
    have = installed()
    if have == PYSPARK:
        return None
    if have:
        return f"{VENV} has pyspark {have}, not {PYSPARK}: run `make setup`"
    return f"{VENV} (Python 3.9 + pyspark {PYSPARK}) is missing: run `make setup` (it needs a Python 3.9)"


def build(report=print) -> bool:
    """Create VENV with pyspark PYSPARK (a no-op when it is there). False, with one line, without a Python 3.9."""
    if installed() == PYSPARK:
        return True
    python = find_python()
    if not python:
        report(f"setup: no Python {PYTHON_VERSION[0]}.{PYTHON_VERSION[1]} found (python3.9 on PATH or pyenv's): the "
               "Spark jobs are not tested under EMR 7's Python and Spark here (tests/test_emr_versions.py is skipped); "
               "install one (e.g. pyenv install 3.9) and run make setup again to test them")
        return False
    report(f"setup: {VENV}: Python {PYTHON_VERSION[0]}.{PYTHON_VERSION[1]} ({python}) with pyspark {PYSPARK}, EMR 7's "
           "versions for the Spark jobs' test (about 320 MB, once)")
    subprocess.run([python, "-m", "venv", "--clear", str(VENV)], check=True)
    done = subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           f"pyspark=={PYSPARK}"], capture_output=True, text=True)
    if done.returncode or installed() != PYSPARK:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise LabError(f"setup: pip install pyspark=={PYSPARK} into {VENV} failed ({last}); run make setup again")
    return True


def main() -> int:
    try:
        build()
    except (LabError, subprocess.CalledProcessError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0
