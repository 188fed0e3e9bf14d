"""One line of setup for a notebook: `cfg = notebook.start(LAB_PROFILE, LAB_SCALE, services=[...])`.

It applies the notebook's papermill parameters (`None` means: LAB_PROFILE / LAB_SCALE or lab.toml), puts this
environment's commands first on the PATH (so a cell runs `labkit`, `spark-submit` by name), brings up
the services the notebook needs (a running, healthy service is reused), lets tables show whole values, and
prints one header that every notebook shows the same way: profile, scale, state folder and, when Airflow is
up, where its UI is.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import threading
from collections.abc import Iterable

import pandas as pd

from labkit import config, connections, exercises, procs
from labkit import services as lab_services
from labkit.config import Config
from labkit.errors import LabError
from labkit.services.airflow import airflow_env


def start(profile: str | None = None, scale: str | None = None, *, services: Iterable[str] = (),
          solutions: bool | None = None, workshop: bool = False, airflow_cli: bool = False) -> Config:
    """Apply the parameters, start what is needed, print the header; returns the lab's settings.

    `solutions` (the LAB_SOLUTIONS parameter of a notebook with checked exercises): True applies each
    exercise's solution before its check (headless runs), False lets the learner write them; None keeps
    what the environment says (LAB_SOLUTIONS, unset: the learner writes them).
    `workshop=True`: a notebook of the workshop job (04-07), which stops here with one line on a profile where the
    job cannot run (`connections.workshop_refusal`), before it starts or spends anything.
    `airflow_cli=True`: the kernel gets the lab's Airflow environment (what `eval "$(labkit env)"` gives a
    terminal: AIRFLOW_HOME, AIRFLOW_CONFIG), so that a `!airflow ...` cell talks to the lab's Airflow.
    """
    needed = list(services)
    # The kernel's environment is the one channel to everything the notebook starts (the import CLI,
    # spark-submit, the services): papermill's parameters go there before anything reads them.
    if profile:
        os.environ["LAB_PROFILE"] = profile
    if scale:
        os.environ["LAB_SCALE"] = scale
    if solutions is not None:
        os.environ[exercises.ENV] = "1" if solutions else "0"
    os.environ["PATH"] = procs.venv_path(os.environ.get("PATH"))   # `labkit`, `spark-submit` of this environment
    cfg = config.load()
    if workshop and (refusal := connections.workshop_refusal(cfg)):
        raise LabError(refusal)
    pd.set_option("display.max_colwidth", None)   # tables show whole values (a URL, a reason), never "..."
    if needed:
        lab_services.up(cfg, only=needed, report=_report_changes)
    if airflow_cli or "airflow" in needed:
        # `!airflow ...` in a cell is then the lab's Airflow, as in a terminal after `eval "$(labkit env)"`
        for name in [k for k in os.environ if k.startswith("AIRFLOW__")]:   # the lab's airflow.cfg decides
            del os.environ[name]
        os.environ.update({**airflow_env(cfg), "NO_COLOR": "1"})       # plain text: a cell is no terminal
    print(header(cfg, airflow="airflow" in needed))
    return cfg


def airflow_cli(cfg: Config, command: str, timeout: float = 300) -> str:
    """Run one `airflow ...` command as a terminal after `eval "$(labkit env)"` would; print it at once, then
    what it prints, line by line as it comes (the CLI imports Airflow first: seconds without a line)."""
    print(f"$ {command}    # running: Airflow's CLI imports Airflow first, a few seconds", flush=True)
    env = {**airflow_env(cfg), "NO_COLOR": "1"}          # plain text: a cell is no terminal, and -o json parses
    out: list[str] = []
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(shlex.split(command), env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:
                line = _ANSI.sub("", line)
                out.append(line)
                print(line.rstrip("\n"), flush=True)
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            errors.seek(0)
            last = (_ANSI.sub("", errors.read()).strip().splitlines() or ["(nothing on stderr)"])[-1]
            raise LabError(f"`{command}` failed (exit {proc.returncode}): {last}")
    return "".join(out)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def header(cfg: Config, *, airflow: bool = False) -> str:
    lines = [f"profile={cfg.profile}  scale={cfg.scale}  state folder={cfg.state_dir}"]
    if airflow:
        lines.append(airflow_link(cfg))
    return "\n".join(lines)


def airflow_link(cfg: Config) -> str:
    """Where the Airflow UI is and how to log in (the password stays in its file)."""
    return f"Airflow UI: {lab_services.get(cfg, 'airflow').url}  (user admin, password in {cfg.secrets_dir / 'airflow_admin'})"


def link(cfg: Config, path) -> str:
    """A link a notebook's markdown can give to a file (JupyterLab opens it): the path relative to notebooks/."""
    return os.path.relpath(path, cfg.notebooks_dir)


def _report_changes(line: str) -> None:
    """Say what was started or restarted; a service that was simply reused needs no line."""
    if not line.endswith(", reused"):
        print(line + (" (until it answers: Airflow takes a minute or two)" if line.startswith("airflow: starting")
                      else ""), flush=True)
