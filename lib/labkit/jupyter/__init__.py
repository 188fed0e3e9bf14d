"""`labkit jupyter` (what `make lab` runs): JupyterLab on the project, on 127.0.0.1 only, as any user.

It opens at the project's root, where `notebooks/` and `workspace/` (the learner's DAG folder, wherever
LAB_WORKSPACE_DIR puts it) are one click away, with a contents manager of ours (`labkit.jupyter.contents`):
what a learner saves of a series notebook goes to their own copy in the workspace, so the tracked notebooks
never get outputs, and `make test` still passes after a learner's session.

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

from labkit import procs, workspace
from labkit.config import LOOPBACK, Config

DEFAULT_PORT = 8888


def command(cfg: Config, port: int = DEFAULT_PORT, *, is_root: bool | None = None,
            display: bool | None = None) -> list[str]:
    """The `jupyter lab` command line for this lab."""
    is_root = os.geteuid() == 0 if is_root is None else is_root
    display = bool(os.environ.get("DISPLAY") or sys.platform == "darwin") if display is None else display
    argv = [str(Path(sys.executable).parent / "jupyter"), "lab", f"--ip={LOOPBACK}", f"--port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={cfg.root}",
            "--ServerApp.contents_manager_class=labkit.jupyter.contents.LabContentsManager",
            f"--LabContentsManager.workspace_dir={cfg.workspace_dir}",
            f"--LabContentsManager.copies_dir={workspace.notebook_copies_dir(cfg)}"]
    if is_root:
        argv.append("--allow-root")
    if not display:
        argv.append("--no-browser")
    return argv


def environment() -> dict[str, str]:
    """This venv's commands first on the PATH, so that JupyterLab's terminals find labkit, airflow, spark-submit."""
    return {**os.environ, "PATH": procs.venv_path(os.environ.get("PATH"))}


def where_notebooks_go(cfg: Config) -> list[str]:
    """What `labkit jupyter` says first: where the learner's notebooks are saved, and which of their copies
    started from an older version of a notebook (and how to start that one afresh)."""
    home = workspace.notebook_copies_dir(cfg)
    lines = [f"labkit: your notebooks are saved in {_short(cfg, home)}/ (notebooks/ keeps the tutorial's as they are)"]
    for copy in workspace.stale_copies(cfg):
        lines.append(f"labkit: notebooks/{copy.name} has changed since your copy of it was made; "
                     f"`labkit workspace reset --notebook {copy.name[:2]}` starts it afresh (yours goes to "
                     f"{_short(cfg, cfg.workspace_dir / workspace.TRASH)}/)")
    return lines


def _short(cfg: Config, path: Path) -> str:
    return str(path.relative_to(cfg.root)) if path.is_relative_to(cfg.root) else str(path)


def run(cfg: Config, port: int = DEFAULT_PORT) -> None:
    """Replace this process with JupyterLab."""
    workspace.ensure(cfg)
    argv = command(cfg, port)
    for line in where_notebooks_go(cfg):
        print(line, file=sys.stderr, flush=True)
    if "--allow-root" in argv:
        print(f"labkit: running JupyterLab as root (--allow-root); it listens on {LOOPBACK}:{port} only and asks "
              "for its token", file=sys.stderr, flush=True)
    os.execve(argv[0], argv, environment())
