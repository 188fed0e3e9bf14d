"""Airflow's DagBag in a helper process of its own, started once and reused by every check.

Importing Airflow and the providers takes seconds; parsing a learner's file then takes a fraction of one. So
the first `begin()` or check starts `python -m labkit.exercises.dagbag --serve` (a throwaway AIRFLOW_HOME,
never the lab's: parsing needs no lab and never touches its metadata database), and each check sends it the
paths to parse, one JSON line, and reads one JSON line back. The process ends with the kernel (its stdin
closes); a process that died is started again by the next check.
"""
from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from labkit.airflow_api import DAGBAG_IMPORT_TIMEOUT
from labkit.errors import LabError

# The checks render some template fields (dagbag.RENDERED) for one sample run, to compare with what they must be:
# a manual run with a logical date, whose data interval is the day before it (UTC), each Airflow Variable
# standing for its name, as "<NAME>". A template that takes the day from the logical date ({{ ds }}) shows.
SAMPLE_INTERVAL = ("2021-01-02T00:00:00+00:00", "2021-01-03T00:00:00+00:00")
SAMPLE_LOGICAL_DATE = SAMPLE_INTERVAL[1]


def sample_variable(name: str) -> str:
    return f"<{name}>"


def sample_connection(conn_id: str, field: str) -> str:
    """`{{ conn.<conn_id>.<field> }}` in a sample run: "<conn_id.field>" (no connection is read)."""
    return f"<{conn_id}.{field}>"


# The checks call a TaskFlow function (its python_callable) once per case, each XComArg it takes replaced by the
# value its source task returns in that case (by task id): what the function returns or raises is the answer.
SAMPLE_COUNT = 144_000
SAMPLE_CALLS = {
    "equal": {"generate_interval_rows": [[SAMPLE_COUNT]],
              "sqoop_import_interval": f"Retrieved {SAMPLE_COUNT:,} records (source: {SAMPLE_COUNT:,} rows, "
                                       "validated by count(*)) into <LANDING_ZONE>/my_workshop_job/"
                                       "tbl_airflow_dummy_daily/ds=2021-01-02"},
    "unequal": {"generate_interval_rows": [[SAMPLE_COUNT]],
                "sqoop_import_interval": f"Retrieved {SAMPLE_COUNT - 1:,} records (source: {SAMPLE_COUNT - 1:,} rows, "
                                         "validated by count(*)) into <LANDING_ZONE>/my_workshop_job/"
                                         "tbl_airflow_dummy_daily/ds=2021-01-02"},
}


IMPORT_TIMEOUT = float(DAGBAG_IMPORT_TIMEOUT)   # seconds the DagBag gives one file's import (as the lab's Airflow)
MARGIN = 5.0                             # ... and the check a file whose code swallows that timeout (then it stops it)
START_TIMEOUT = 180.0                    # seconds the helper may take to import Airflow (a busy 2-core machine)
READY = "ready"                          # the helper's first line, once Airflow is imported
_process: dict[str, object] = {}         # "proc", "home", "stderr", "ready": the running helper, if any


class ParseTimeout(LabError):
    """A file whose import did not end within IMPORT_TIMEOUT seconds (the check's one line)."""


def timed_out(names: list[str], seconds: float) -> str:
    """The one line for an import that timed out, whichever side noticed it (the DagBag, or this module)."""
    return (f"{', '.join(names)}: import timed out after {seconds:.0f} s: an endless loop or a slow call at the top "
            "of the file? (Airflow's DAG processor stops it there too)")


def start() -> subprocess.Popen:
    """The running DagBag process (started now if there is none): begin() calls it, so it warms up meanwhile."""
    proc = _process.get("proc")
    if proc is not None and proc.poll() is None:
        return proc
    stop()
    home = tempfile.mkdtemp(prefix="labkit-dagbag-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT=str(IMPORT_TIMEOUT))
    stderr = open(Path(home) / "stderr.log", "w+")      # a file, not a pipe: a chatty import never blocks it
    proc = subprocess.Popen([sys.executable, "-m", "labkit.exercises.dagbag", "--serve"], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
    _process.update(proc=proc, home=home, stderr=stderr)
    return proc


def stop() -> None:
    _process.pop("ready", None)
    proc = _process.pop("proc", None)
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    stderr = _process.pop("stderr", None)
    if stderr is not None:
        stderr.close()
    home = _process.pop("home", None)
    if home:
        shutil.rmtree(home, ignore_errors=True)


atexit.register(stop)


def _answer(proc: subprocess.Popen, timeout: float) -> tuple[str, bool]:
    """The helper's next line ("" when it died or said nothing for `timeout` s), and whether it timed out."""
    try:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        return (proc.stdout.readline() if ready else ""), not ready
    except (BrokenPipeError, OSError, ValueError):
        return "", False


def parse(*paths: Path) -> dict[str, dict]:
    """What Airflow's DagBag makes of each file, by path (see dagbag.report). A file whose import goes on past
    IMPORT_TIMEOUT (Airflow's own timeout swallowed by a loop) is ParseTimeout after IMPORT_TIMEOUT + MARGIN
    seconds, and its helper is stopped (the next check starts another)."""
    proc = start()
    line, silent = "", False
    if not _process.get("ready"):
        line, silent = _answer(proc, START_TIMEOUT)
        _process["ready"] = line.strip() == READY
    if _process["ready"]:
        try:
            proc.stdin.write(json.dumps([str(p) for p in paths]) + "\n")
            proc.stdin.flush()
            line, silent = _answer(proc, IMPORT_TIMEOUT * len(paths) + MARGIN)
        except (BrokenPipeError, OSError):
            line, silent = "", False
        if silent and proc.poll() is None:
            stop()
            raise ParseTimeout(timed_out([Path(p).name for p in paths], IMPORT_TIMEOUT))
    if not line or line.strip() == READY:
        tail = _stderr_tail() if not silent else f"Airflow did not import within {START_TIMEOUT:.0f} s"
        stop()
        raise LabError(f"could not parse {', '.join(map(str, paths))} with Airflow's DagBag: {tail}")
    return json.loads(line)


def _stderr_tail() -> str:
    stderr = _process.get("stderr")
    if stderr is None:
        return "(no output)"
    stderr.flush()
    stderr.seek(0)
    lines = [line for line in stderr.read().strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
