"""The learner's workspace: their own DAG files, beside the project's `dags/` and never mixed with them.

`<workspace>/dags/` is Airflow's second DAG bundle (`workspace`), so a DAG a learner writes there is parsed,
listed and run by the lab's Airflow like the reference DAGs, which stay intact. The folder is git-ignored;
`labkit up` creates it, and `labkit workspace reset` starts it afresh (the files it held are moved aside, not
deleted).
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from labkit.config import Config

BUNDLE = "workspace"                     # the DAG bundle's name, as the UI and the REST API show it
SHARED = ("sql",)                        # folders of dags/ that a learner's DAG uses as they are (linked)
TRASH = ".trash"


def ensure(cfg: Config) -> Path:
    """The workspace's DAG folder, created if missing, with links to what the reference DAGs share."""
    folder = cfg.workspace_dags_dir
    folder.mkdir(parents=True, exist_ok=True)
    for name in SHARED:
        link = folder / name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(cfg.dags_dir / name, target_is_directory=True)
    return folder


def learner_files(cfg: Config) -> list[Path]:
    """The learner's DAG files (what a reset moves aside)."""
    folder = cfg.workspace_dags_dir
    return sorted(p for p in folder.glob("*.py")) if folder.is_dir() else []


def keep_copy(cfg: Config, path: Path) -> Path:
    """Copy one learner file to `<workspace>/.trash/<time>/` (before labkit writes into it)."""
    aside = cfg.workspace_dir / TRASH / time.strftime("%Y%m%d-%H%M%S")
    aside.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, aside / path.name)
    return aside / path.name


def reset(cfg: Config) -> Path | None:
    """Move the learner's DAG files to `<workspace>/.trash/<time>/` and leave an empty workspace.

    Returns the folder they went to (None when there was nothing to move)."""
    files = learner_files(cfg)
    if not files:
        ensure(cfg)
        return None
    aside = cfg.workspace_dir / TRASH / time.strftime("%Y%m%d-%H%M%S")
    aside.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.move(str(path), aside / path.name)
    ensure(cfg)
    return aside
