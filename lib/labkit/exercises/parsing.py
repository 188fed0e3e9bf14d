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


TIMEOUT = 300.0                          # seconds one parse may take (a file that sleeps at import, a lost lock)
_process: dict[str, object] = {}         # "proc", "home", "stderr": the running helper, if any


def start() -> subprocess.Popen:
    """The running DagBag process (started now if there is none): begin() calls it, so it warms up meanwhile."""
    proc = _process.get("proc")
    if proc is not None and proc.poll() is None:
        return proc
    stop()
    home = tempfile.mkdtemp(prefix="labkit-dagbag-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False")
    stderr = open(Path(home) / "stderr.log", "w+")      # a file, not a pipe: a chatty import never blocks it
    proc = subprocess.Popen([sys.executable, "-m", "labkit.exercises.dagbag", "--serve"], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
    _process.update(proc=proc, home=home, stderr=stderr)
    return proc


def stop() -> None:
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


def parse(*paths: Path) -> dict[str, dict]:
    """What Airflow's DagBag makes of each file, by path (see dagbag.report)."""
    proc, ready = start(), []
    try:
        proc.stdin.write(json.dumps([str(p) for p in paths]) + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        line = proc.stdout.readline() if ready else ""
    except (BrokenPipeError, OSError):
        line = ""
    if not line:
        tail = _stderr_tail() if proc.poll() is not None or ready else f"no answer after {TIMEOUT:.0f} s"
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
