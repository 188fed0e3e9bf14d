"""Run a job from spark_jobs/ with `spark-submit`, the lab's way: the same command the DAG's BashOperator runs.

    from labkit import spark_submit
    run = spark_submit.submit(cfg, "aggregate_dummy", ["--input", ..., "--output", ..., "--run-date", "2021-07-01"])
    run.seconds, run.result          # wall time of the whole spark-submit; the job's RESULT {json} line

`command()` builds the argv (shown in notebooks and DAG docs); `submit()` runs it, streams or captures the
output, and raises LabError with the job's own one-line error when it exits non-zero.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labkit import hadoop_client
from labkit.config import Config
from labkit.errors import LabError

RESULT_PREFIX = "RESULT "


@dataclass
class SubmitRun:
    job: str
    argv: list[str]
    returncode: int
    output: str                      # stdout and stderr, interleaved as printed
    seconds: float                   # wall time of the whole spark-submit (JVM, Python, session, job)
    result: dict | None = field(default=None)   # the job's last `RESULT {json}` line, if it printed one

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def job_lines(self) -> list[str]:
        """The job's own lines (`<name>: ...`), without Spark's log lines."""
        return [line for line in self.output.splitlines() if line.startswith(f"{self.job}: ")]


def pretty(argv: list[str]) -> str:
    """The command as a person would type it: one option per line, the job file on a line of its own."""
    lines, current = [], [shlex.quote(argv[0])]
    for word in argv[1:]:
        if word.startswith("--") or word.endswith(".py"):
            lines.append(" ".join(current))
            current = []
        current.append(shlex.quote(word))
    return " \\\n    ".join(lines + [" ".join(current)])


def spark_submit_bin() -> str:
    """The spark-submit of this venv's pyspark (else the one on PATH)."""
    beside = Path(sys.executable).with_name("spark-submit")
    if beside.exists():
        return str(beside)
    found = shutil.which("spark-submit")
    if not found:
        raise LabError("spark-submit not found: install the pinned pyspark into .venv (make setup)")
    return found


def job_path(cfg: Config, job: str | Path) -> Path:
    path = Path(job)
    if path.suffix != ".py":
        path = cfg.spark_jobs_dir / f"{job}.py"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in cfg.spark_jobs_dir.glob("*.py"))) or "none"
        raise LabError(f"Spark job {job!r} not found ({path}); jobs in {cfg.spark_jobs_dir}: {known}")
    return path


def command(cfg: Config, job: str | Path, args: list[str], *, conf: dict[str, str] | None = None) -> list[str]:
    """The spark-submit argv, as the DAG's task types it: the job's name, any extra --conf, the job file and its
    own arguments. Everything else (master, driver memory and JVM flags, shuffle partitions, loopback
    addresses, the JDBC jars) comes from the client config's spark-defaults.conf (notebook 03)."""
    argv = [spark_submit_bin(), "--name", Path(job).stem]
    for key, value in (conf or {}).items():
        argv += ["--conf", f"{key}={value}"]
    return argv + [str(job_path(cfg, job)), *map(str, args)]


def environment(cfg: Config, extra: dict[str, str] | None = None) -> dict[str, str]:
    """spark-submit's environment: this process's plus the client config (HADOOP_CONF_DIR, SPARK_CONF_DIR with
    spark-defaults.conf and a quiet log4j2.properties, this venv's Python), the same the DAG's tasks get."""
    return {**hadoop_client.env(cfg), **(extra or {})}


def submit(cfg: Config, job: str | Path, args: list[str], *, conf: dict[str, str] | None = None,
           env: dict[str, str] | None = None, echo: Callable[[str], None] | None = None,
           check: bool = True, timeout: float = 1800) -> SubmitRun:
    """Run the job to completion. `echo` receives each output line as it comes (e.g. `print`)."""
    argv = command(cfg, job, args, conf=conf)
    lines: list[str] = []
    start = time.perf_counter()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          text=True, env=environment(cfg, env), cwd=cfg.root, start_new_session=True) as proc:
        timer = threading.Timer(timeout, _stop, (proc,))
        timer.start()
        try:
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if echo:
                    echo(line.rstrip("\n"))
            returncode = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        finally:
            timer.cancel()
    if returncode < 0 and time.perf_counter() - start >= timeout:
        raise LabError(f"spark-submit {Path(job).stem} ran longer than {timeout:.0f} s and was stopped "
                       "(pass a larger timeout, or try LAB_SCALE=smoke)")
    seconds = time.perf_counter() - start
    result = None
    for line in reversed(lines):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
            break
    run = SubmitRun(Path(job).stem, argv, returncode, "\n".join(lines), seconds, result)
    if check and returncode != 0:
        raise LabError(f"spark-submit {Path(job).stem} failed (exit {returncode}): {error_line(lines)}")
    return run


def _stop(proc: subprocess.Popen) -> None:
    """Stop spark-submit and everything it started (its JVM and Python workers share its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def error_line(lines: list[str]) -> str:
    """The most telling line of a failed run: the job's own `error:` line, else the last exception line."""
    for line in reversed(lines):
        if ": error: " in line:
            return line.split(": error: ", 1)[1]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line.strip()
    return lines[-1].strip() if lines else "no output"
