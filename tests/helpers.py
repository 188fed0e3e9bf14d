"""Shared by the tests: an isolated lab (own state folder, own ports) for tests that break things."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import labkit
from labkit.procs import free_port

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def isolated_lab(monkeypatch, name: str):
    """A Config for a throwaway lab under the project (the database account must be able to reach it)."""
    # per test slot (conftest.py): two runs in different slots never delete each other's folders
    slot = int(os.environ.get("LAB_TEST_SLOT", "0"))
    state = ROOT / (f".lab-test-{name}" if slot == 0 else f".lab-test{slot}-{name}")
    workspace = state.with_name(state.name + "-workspace")     # its own: a notebook it runs edits the DAG files
    for folder in (state, workspace):
        shutil.rmtree(folder, ignore_errors=True)
    monkeypatch.setenv("LAB_STATE_DIR", str(state))
    monkeypatch.setenv("LAB_WORKSPACE_DIR", str(workspace))
    for key in ("POSTGRES", "MARIADB", "AIRFLOW", "EMR"):
        monkeypatch.setenv(f"LAB_PORT_{key}", str(free_port()))
    cfg = labkit.load()
    try:
        yield cfg
    finally:
        from labkit import services

        services.down(cfg, report=lambda _: None)
        for folder in (state, workspace):
            shutil.rmtree(folder, ignore_errors=True)


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


# -- "no password anywhere": where a secret could leak, as text ----------------------------------------------
def leaks(passwords: dict[str, str], places: dict[str, bytes]) -> list[str]:
    """'<password> in <place>' for each password found in a place (an empty list: nothing leaked)."""
    assert passwords and all(len(p) >= 8 for p in passwords.values()), "no real passwords to look for"
    return [f"{name} in {where}" for where, data in places.items() for name, password in passwords.items()
            if password.encode() in data]


def files_under(folder) -> dict[str, bytes]:
    """Every file under `folder`, its bytes (a .gz file decompressed: EMR step logs are gzipped)."""
    import gzip

    out = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            out[str(path)] = gzip.decompress(data) if path.suffix == ".gz" else data
    return out


def xcoms(api, dag_id: str, run_id: str) -> dict[str, bytes]:
    """Every XCom of a DAG run, as Airflow's REST API returns it."""
    import json

    out = {}
    for ti in api.task_instances(dag_id, run_id):
        base = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/xcomEntries"
        for entry in api.get(base)["xcom_entries"]:
            out[f"xcom {run_id} {ti['task_id']}/{entry['key']}"] = json.dumps(api.get(f"{base}/{entry['key']}")).encode()
    return out


def solution(cfg, exercise_id: str) -> str:
    """The text of an exercise's solution file (the whole file, for the exercises that grow one)."""
    from labkit.exercises import checking

    return checking.solution_path(cfg, checking.get(exercise_id)).read_text()


def solution_variant(cfg, tmp_path: Path, exercise_id: str, name: str, right: str, wrong: str, file: str) -> Path:
    """A learner's file `file` in its own folder: the exercise's solution with `right` replaced by `wrong` (a
    plausible mistake a check must name)."""
    text = solution(cfg, exercise_id)
    assert right in text, f"the solution of {exercise_id} has changed; update this test ({right!r})"
    path = tmp_path / f"{exercise_id}-{name}" / file
    path.parent.mkdir(parents=True)
    path.write_text(text.replace(right, wrong))
    return path
