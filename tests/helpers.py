"""Shared by the tests: an isolated lab (own state folder, own ports) for tests that break things."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import labkit
from labkit.procs import free_port

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def isolated_lab(monkeypatch, name: str):
    """A Config for a throwaway lab under the project (the database account must be able to reach it)."""
    state = ROOT / f".lab-test-{name}"
    shutil.rmtree(state, ignore_errors=True)
    monkeypatch.setenv("LAB_STATE_DIR", str(state))
    for key in ("POSTGRES", "MARIADB", "AIRFLOW", "EMR"):
        monkeypatch.setenv(f"LAB_PORT_{key}", str(free_port()))
    cfg = labkit.load()
    try:
        yield cfg
    finally:
        from labkit import services

        services.down(cfg, report=lambda _: None)
        shutil.rmtree(state, ignore_errors=True)


def processes_with(fragment: str) -> list:
    """Live (not zombie) processes whose command line contains `fragment`."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if fragment in " ".join(proc.info["cmdline"] or []) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found
