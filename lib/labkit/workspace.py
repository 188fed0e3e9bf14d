"""The learner's workspace: their own DAG files and their saved notebooks, beside the project's and never mixed
with them.

`<workspace>/dags/` is Airflow's second DAG bundle (`workspace`), so a DAG a learner writes there is parsed,
listed and run by the lab's Airflow like the reference DAGs, which stay intact. Its `.airflowignore` (a link to
the project's `dags/.airflowignore`) keeps what editors write beside a DAG file out of Airflow: JupyterLab's
`.ipynb_checkpoints/<name>-checkpoint.py` is a second copy of the DAG, same dag_id, in a folder without `sql/`.

`<workspace>/.notebooks/` holds the learner's own copy of each series notebook they saved in JupyterLab
(`labkit jupyter` opens it in place of `notebooks/NN_*.ipynb` and saves there), so the tracked notebooks keep
no outputs. The folder is git-ignored; `labkit up` creates it. `labkit workspace reset` starts the DAG files
afresh, `--notebook NN|all` the saved notebooks (what they held is moved aside, not deleted).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from labkit.config import Config
from labkit.errors import LabError

BUNDLE = "workspace"                     # the DAG bundle's name, as the UI and the REST API show it
SHARED = ("sql", ".airflowignore")       # what a learner's DAG folder uses of dags/ as it is (linked)
TRASH = ".trash"
NOTEBOOKS = ".notebooks"                 # the learner's saved copies of the series' notebooks
ORIGINS = ".origins.json"                # per copy: the sha256 of the tracked notebook it was made from
CHECKPOINTS = ".ipynb_checkpoints"


def ensure(cfg: Config) -> Path:
    """The workspace's DAG folder, created if missing, with links to what the reference DAGs share."""
    folder = cfg.workspace_dags_dir
    folder.mkdir(parents=True, exist_ok=True)
    for name in SHARED:
        link = folder / name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(cfg.dags_dir / name, target_is_directory=(cfg.dags_dir / name).is_dir())
    return folder


def learner_files(cfg: Config) -> list[Path]:
    """The learner's DAG files (what a reset moves aside)."""
    folder = cfg.workspace_dags_dir
    return sorted(p for p in folder.glob("*.py")) if folder.is_dir() else []


def _aside(workspace_dir: Path) -> Path:
    aside = workspace_dir / TRASH / time.strftime("%Y%m%d-%H%M%S")
    aside.mkdir(parents=True, exist_ok=True)
    return aside


def keep_copy(cfg: Config, path: Path) -> Path:
    """Copy one learner file to `<workspace>/.trash/<time>/` (before labkit writes into it)."""
    aside = _aside(cfg.workspace_dir)
    shutil.copy2(path, aside / path.name)
    return aside / path.name


# -- the learner's notebooks ------------------------------------------------------------------------------------
def notebook_copies_dir(cfg: Config) -> Path:
    return cfg.workspace_dir / NOTEBOOKS


def notebook_copies(cfg: Config) -> list[Path]:
    """The learner's saved notebooks (copies of the series' and any they made), by name."""
    folder = notebook_copies_dir(cfg)
    return sorted(folder.glob("*.ipynb")) if folder.is_dir() else []


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _origins(copies_dir: Path) -> dict[str, str]:
    try:
        return json.loads((copies_dir / ORIGINS).read_text())
    except (OSError, ValueError):
        return {}


def start_copy(tracked: Path, copy: Path) -> None:
    """Make the learner's copy of a tracked notebook (its mtime too: JupyterLab sees the file it opened), and
    note which version of the tracked notebook it started from."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(tracked, copy)
    origins = _origins(copy.parent)
    origins[copy.name] = _sha256(tracked)
    (copy.parent / ORIGINS).write_text(json.dumps(origins, indent=1, sort_keys=True) + "\n")


def stale_copies(cfg: Config) -> list[Path]:
    """The learner's copies whose tracked notebook changed since the copy was made (a `git pull`)."""
    origins = _origins(notebook_copies_dir(cfg))
    stale = []
    for copy in notebook_copies(cfg):
        tracked = cfg.notebooks_dir / copy.name
        if copy.name in origins and tracked.is_file() and _sha256(tracked) != origins[copy.name]:
            stale.append(copy)
    return stale


def notebook_name(cfg: Config, which: str) -> str:
    """`07`, `07_workshop_dag` or `07_workshop_dag.ipynb` -> the notebook's file name (one line if none)."""
    names = sorted({p.name for p in cfg.notebooks_dir.glob("*.ipynb")} | {p.name for p in notebook_copies(cfg)})
    found = [n for n in names if n == which or n == f"{which}.ipynb" or (len(which) == 2 and n.startswith(f"{which}_"))]
    if len(found) != 1:
        raise LabError(f"no notebook {which!r}; say its two digits or its file name, one of: {', '.join(names)}")
    return found[0]


def set_aside_copies(workspace_dir: Path, copies: list[Path], aside: Path | None = None) -> Path:
    """Move notebook copies (and their checkpoints) to `<workspace>/.trash/<time>/notebooks/`."""
    aside = (aside or _aside(workspace_dir)) / "notebooks"
    aside.mkdir(parents=True, exist_ok=True)
    for copy in copies:
        shutil.move(str(copy), aside / copy.name)
        checkpoint = copy.parent / CHECKPOINTS / f"{copy.stem}-checkpoint{copy.suffix}"
        if checkpoint.is_file():                  # what JupyterLab would "revert" to: with the copy, not left behind
            shutil.move(str(checkpoint), aside / checkpoint.name)
        origins = _origins(copy.parent)
        if origins.pop(copy.name, None) is not None:
            (copy.parent / ORIGINS).write_text(json.dumps(origins, indent=1, sort_keys=True) + "\n")
    return aside.parent


def reset(cfg: Config, notebooks: list[str] | None = None) -> Path | None:
    """Move the learner's DAG files (and JupyterLab's checkpoints of them) to `<workspace>/.trash/<time>/` and
    leave an empty DAG folder; their saved notebooks stay (a stuck exercise must not cost them notebook 07's
    outputs). With `notebooks` (two digits, names, or `all`), only the learner's copies of those notebooks.

    Returns the folder they went to (None when there was nothing to move)."""
    if notebooks is not None:
        names = ({c.name for c in notebook_copies(cfg)} if "all" in notebooks
                 else {notebook_name(cfg, n) for n in notebooks})
        copies = [c for c in notebook_copies(cfg) if c.name in names]
        return set_aside_copies(cfg.workspace_dir, copies) if copies else None
    files = learner_files(cfg)
    if not files:
        ensure(cfg)
        return None
    aside = _aside(cfg.workspace_dir)
    for path in files:
        shutil.move(str(path), aside / path.name)
    if (cfg.workspace_dags_dir / CHECKPOINTS).is_dir():      # JupyterLab's of those files: "revert" would bring them back
        shutil.move(str(cfg.workspace_dags_dir / CHECKPOINTS), aside / CHECKPOINTS)
    ensure(cfg)
    return aside
