"""Generated credentials, kept in `<state>/secrets/` (folder 0700, files 0600); never typed, never committed."""
from __future__ import annotations

import secrets as _random
from pathlib import Path

from labkit.config import Config
from labkit.errors import LabError
from labkit.state import create_private, ensure_state_dir, private_dir


def _file(cfg: Config, name: str) -> Path:
    return cfg.secrets_dir / name


def ensure_dir(cfg: Config) -> Path:
    """The secrets folder. A state folder made for it is marked as the lab's (so a later `up` or purge knows it);
    one that exists already is whoever made it's business (`services.up` checks it)."""
    if not cfg.state_dir.exists():
        ensure_state_dir(cfg)
    return private_dir(cfg.secrets_dir)


def get(cfg: Config, name: str, *, create: bool = True, factory=None) -> str:
    """The secret `name`, generated on first use (by `factory()`, else 24 random URL-safe bytes)."""
    path = _file(cfg, name)
    if path.exists():
        value = path.read_text().strip()
        if not value:
            raise LabError(f"secret file {path} is empty; delete it and run `labkit down --purge` to start the lab afresh")
        return value
    if not create:
        raise LabError(f"secret {name} not found in {cfg.secrets_dir}; start the lab first (labkit up)")
    ensure_dir(cfg)
    value = factory() if factory else _random.token_urlsafe(24)
    create_private(path, value + "\n")
    return value


def path(cfg: Config, name: str) -> Path:
    """Where secret `name` lives (e.g. for a `--password-file` argument); it is created if missing."""
    get(cfg, name)
    return _file(cfg, name)
