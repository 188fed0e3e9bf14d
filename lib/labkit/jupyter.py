"""`labkit jupyter` (what `make lab` runs): JupyterLab on the series' notebooks, on 127.0.0.1 only, as any user.

JupyterLab refuses to start as root unless told `--allow-root`. Cloud VMs, containers and this kind of
machine often run everything as root, so as root it is told, and says so in one line; everything else stays
as careful as for a normal user: it listens on 127.0.0.1 only, asks for its token, and opens no browser
where there is no display. The lab's commands (`labkit`, `airflow`, `spark-submit`) are on the PATH of its
terminals.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from labkit import procs
from labkit.config import LOOPBACK, Config

DEFAULT_PORT = 8888


def command(cfg: Config, port: int = DEFAULT_PORT, *, is_root: bool | None = None,
            display: bool | None = None) -> list[str]:
    """The `jupyter lab` command line for this lab."""
    is_root = os.geteuid() == 0 if is_root is None else is_root
    display = bool(os.environ.get("DISPLAY") or sys.platform == "darwin") if display is None else display
    argv = [str(Path(sys.executable).parent / "jupyter"), "lab", f"--ip={LOOPBACK}", f"--port={port}",
            "--ServerApp.port_retries=0", f"--notebook-dir={cfg.notebooks_dir}"]
    if is_root:
        argv.append("--allow-root")
    if not display:
        argv.append("--no-browser")
    return argv


def environment() -> dict[str, str]:
    """This venv's commands first on the PATH, so that JupyterLab's terminals find labkit, airflow, spark-submit."""
    return {**os.environ, "PATH": procs.venv_path(os.environ.get("PATH"))}


def run(cfg: Config, port: int = DEFAULT_PORT) -> None:
    """Replace this process with JupyterLab."""
    argv = command(cfg, port)
    if "--allow-root" in argv:
        print(f"labkit: running JupyterLab as root (--allow-root); it listens on {LOOPBACK}:{port} only and asks "
              "for its token", file=sys.stderr, flush=True)
    os.execve(argv[0], argv, environment())
