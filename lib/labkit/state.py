"""The lab's state folder (one folder; deleting it resets the lab) and the private files written into it."""
from __future__ import annotations

import os
from pathlib import Path

from labkit.config import Config
from labkit.errors import LabError

MARKER = "LABKIT_STATE"


def ensure_state_dir(cfg: Config) -> None:
    """Create the state folder, or check that an existing one is ours (a foreign folder is never touched)."""
    state = cfg.state_dir
    marker = state / MARKER
    if state.exists() and not marker.exists() and any(state.iterdir()):
        raise LabError(f"{state} exists but is not a labkit state folder (no {MARKER} file); point LAB_STATE_DIR "
                       "(or lab.state_dir in lab.toml) at an empty or new folder; labkit deletes nothing it did not make")
    state.mkdir(parents=True, exist_ok=True)
    # 0700 keeps it private; when we are root, the database servers run as an unprivileged account and
    # must be able to pass through (0711: no listing), while secrets/ stays 0700.
    os.chmod(state, 0o711 if os.geteuid() == 0 else 0o700)
    if not marker.exists():
        marker.write_text(f"labkit state folder for {cfg.root}\nDelete it (labkit down --purge --yes) to reset the lab.\n")
    for sub in (cfg.logs_dir, cfg.landing_dir, cfg.s3_dir / cfg.bucket if cfg.bucket else cfg.s3_dir):
        sub.mkdir(parents=True, exist_ok=True)


def is_state_dir(path: Path) -> bool:
    return (path / MARKER).exists()


def private_dir(path: Path) -> Path:
    """A folder only this user can enter (0700), made if missing."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> Path:
    """Replace `path` with `text`, readable by this user only (0600 from the first byte, swapped in whole)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def create_private(path: Path, text: str) -> Path:
    """Create `path` (0600) with `text`; FileExistsError when it is already there (a secret is never overwritten)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path
