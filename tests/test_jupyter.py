"""`make lab`'s JupyterLab (`labkit jupyter`): it answers on 127.0.0.1 as root and as a normal user; it opens at the
project's root with notebooks/ and workspace/ side by side; what a learner saves of a notebook never changes the
tracked file; a DAG saved from it (checkpoint and all) runs green in the lab's Airflow."""
import copy
import dataclasses
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

import labkit
from labkit import jupyter, services, workspace
from labkit.procs import free_port

ROOT = Path(__file__).resolve().parents[1]
LABKIT = str(Path(sys.executable).parent / "labkit")


def _serve(argv: list[str], port: int, env: dict, user: str | None = None) -> dict:
    """Start `labkit jupyter`, wait until its /api answers, stop it; returns the answer and who listens."""
    with _server(argv, port, env, user) as proc:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=10) as resp:
            return {"api": json.load(resp), "listening": _listeners(proc.pid)}


@contextmanager
def _server(argv: list[str], port: int, env: dict, user: str | None = None):
    """`labkit jupyter` running (its /api answers) for the block, stopped after it."""
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"JupyterLab exited {proc.returncode}: {proc.stderr.read()[-1500:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("JupyterLab did not answer within 120 s") from None
                time.sleep(0.5)
        yield proc
    finally:
        for sig, wait in ((15, 30), (9, 10)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def _listeners(pid: int) -> set[str]:
    import psutil

    found = set()
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            found |= {c.laddr.ip for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
        except psutil.NoSuchProcess:        # a short-lived helper process of Jupyter's
            continue
    return found


def test_the_command_line():
    cfg = labkit.load()
    as_root = jupyter.command(cfg, 9999, is_root=True, display=False)
    assert "--allow-root" in as_root and "--ip=127.0.0.1" in as_root and "--no-browser" in as_root
    assert f"--ServerApp.root_dir={cfg.root}" in as_root         # notebooks/ and workspace/ side by side
    assert "--ServerApp.contents_manager_class=labkit.jupyter.contents.LabContentsManager" in as_root
    as_user = jupyter.command(cfg, 9999, is_root=False, display=True)
    assert "--allow-root" not in as_user and "--no-browser" not in as_user and "--port=9999" in as_user


@pytest.mark.skipif(os.geteuid() != 0, reason="this machine's tests do not run as root")
def test_jupyterlab_answers_as_root(tmp_path):
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    answer = _serve([LABKIT, "jupyter", "--port", str(port)], port, env)
    assert "version" in answer["api"]
    assert answer["listening"] == {"127.0.0.1"}


def _normal_user() -> str | None:
    """The lab's unprivileged account, when we are root and it can run this venv's Python (a venv under a
    private home, such as /root/.pyenv's, cannot be run by anyone else)."""
    if os.geteuid() != 0 or not shutil.which("runuser"):
        return None
    try:
        user = pwd.getpwnam(labkit.load().service_user).pw_name
    except KeyError:
        return None
    # This venv's python as it is (its real path is the base interpreter, which has no jupyterlab).
    ok = subprocess.run(["runuser", "-u", user, "--", sys.executable, "-c", "import jupyterlab"], capture_output=True)
    return user if ok.returncode == 0 else None


@pytest.mark.skipif(_normal_user() is None,
                    reason="needs root and a venv the lab's unprivileged account can run (this one lives in a private home)")
def test_jupyterlab_answers_as_a_normal_user():
    user = _normal_user()
    # A home the user can reach (pytest's tmp_path lies under a private /tmp/pytest-of-root), with the learner's
    # workspace in it: the user cannot write in root's checkout.
    top = Path(tempfile.mkdtemp(prefix="labkit-normal-user-"))
    top.chmod(0o755)
    home = top / "home"
    home.mkdir()
    shutil.chown(home, user, user)
    port = free_port()
    env = {**os.environ, "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTER_CONFIG_DIR": str(home / "cfg"), "JUPYTER_DATA_DIR": str(home / "data"),
           "IPYTHONDIR": str(home / "ipython"), "LAB_WORKSPACE_DIR": str(home / "workspace")}
    try:
        answer = _serve([LABKIT, "jupyter", "--port", str(port)], port, env, user=user)
    finally:
        shutil.rmtree(top)
    assert "version" in answer["api"]
    assert answer["listening"] == {"127.0.0.1"}


# -- the learner's path: the file browser, saving a notebook, saving a DAG -------------------------------------
class Contents:
    """The Jupyter server's contents API, as JupyterLab calls it."""

    def __init__(self, port: int, token: str):
        self.base = f"http://127.0.0.1:{port}/api/contents"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def call(self, method: str, path: str, expect: int | tuple = 200, **kwargs):
        resp = self.session.request(method, f"{self.base}/{path}", timeout=60, **kwargs)
        assert resp.status_code in (expect if isinstance(expect, tuple) else (expect,)), f"{method} {path}: {resp.status_code} {resp.text[:500]}"
        return resp.json() if resp.content else None

    def names(self, folder: str) -> list[str]:
        return [m["name"] for m in self.call("GET", folder)["content"]]

    def save(self, path: str, model: dict) -> dict:
        """What Ctrl+S does: save, then make the checkpoint (File > Revert goes back to it)."""
        saved = self.call("PUT", path, expect=(200, 201), json=model)      # 201: a new file
        self.call("POST", f"{path}/checkpoints", expect=201)
        return saved


@pytest.fixture(scope="module")
def contents(tmp_path_factory):
    """`labkit jupyter` with a token of the test's, on the tests' workspace (LAB_WORKSPACE_DIR, a hidden folder)."""
    home = tmp_path_factory.mktemp("jupyter")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTER_CONFIG_DIR": str(home / "cfg"), "JUPYTER_DATA_DIR": str(home / "data")}
    with _server([LABKIT, "jupyter", "--port", str(port)], port, env) as proc:
        yield Contents(port, token)
        proc.terminate()
        stderr = proc.communicate(timeout=30)[1]
    assert "your notebooks are saved in" in stderr, stderr[-1500:]


def test_the_file_browser_shows_the_notebooks_and_the_learners_dag_folder(contents):
    cfg = labkit.load()
    assert cfg.workspace_dir.name.startswith(".")      # the tests' workspace: hidden, yet shown as workspace/
    mine = workspace.ensure(cfg) / "seen_in_jupyterlab.py"
    mine.write_text("x = 1\n")                        # no DAG: Airflow's safe mode skips it
    try:
        root = contents.names("")
        assert {"notebooks", "workspace"} <= set(root) and not [n for n in root if n.startswith(".")], root
        assert "07_workshop_dag.ipynb" in contents.names("notebooks")
        assert "seen_in_jupyterlab.py" in contents.names("workspace/dags")
        assert contents.call("GET", "workspace/dags/seen_in_jupyterlab.py")["content"] == "x = 1\n"
    finally:
        mine.unlink()


def _git_status(folder: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", str(folder)], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def test_a_learners_outputs_go_to_their_copy_never_to_the_tracked_notebook(contents):
    cfg = labkit.load()
    name = "07_workshop_dag.ipynb"
    tracked = cfg.notebooks_dir / name
    before, status = tracked.read_bytes(), _git_status(cfg.notebooks_dir)
    checkpoint_beside = cfg.notebooks_dir / ".ipynb_checkpoints" / "07_workshop_dag-checkpoint.ipynb"
    beside_before = checkpoint_beside.stat().st_mtime_ns if checkpoint_beside.exists() else None
    try:
        model = contents.call("GET", f"notebooks/{name}")
        nb = copy.deepcopy(model["content"])
        for n, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
            cell["execution_count"] = n + 1                    # as a run leaves them
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": f"a learner's output {n}\n"}]
        contents.save(f"notebooks/{name}", {"type": "notebook", "format": "json", "content": nb})
        again = contents.call("GET", f"notebooks/{name}")
        code = [c for c in again["content"]["cells"] if c["cell_type"] == "code"]
        assert code[0]["outputs"][0]["text"] == "a learner's output 0\n" and code[-1]["execution_count"] == len(code)
        assert [c["id"] for c in contents.call("GET", f"notebooks/{name}/checkpoints")] == ["checkpoint"]
        # the tracked file is as committed; the learner's copy and its checkpoint are in the workspace
        assert tracked.read_bytes() == before
        assert _git_status(cfg.notebooks_dir) == status
        copies = workspace.notebook_copies_dir(cfg)
        assert "a learner's output 0" in (copies / name).read_text()
        assert "a learner's output 0" in (copies / ".ipynb_checkpoints" / "07_workshop_dag-checkpoint.ipynb").read_text()
        assert (checkpoint_beside.stat().st_mtime_ns if checkpoint_beside.exists() else None) == beside_before
        assert contents.names("notebooks").count(name) == 1
        download = contents.session.get(contents.base.replace("/api/contents", f"/files/notebooks/{name}"), timeout=60)
        assert download.status_code == 200 and "a learner's output 0" in download.text     # File > Download: theirs
        # a notebook the learner makes in notebooks/ is theirs too
        new = contents.call("POST", "notebooks", expect=201, json={"type": "notebook"})
        assert new["path"].startswith("notebooks/") and (copies / new["name"]).is_file()
        assert new["name"] in contents.names("notebooks") and not (cfg.notebooks_dir / new["name"]).exists()
        # "Revert to checkpoint" restores the copy; deleting the copy brings the tutorial's notebook back
        contents.call("POST", f"notebooks/{name}/checkpoints/checkpoint", expect=204)
        assert tracked.read_bytes() == before
        contents.call("DELETE", f"notebooks/{name}", expect=204)
        cells = contents.call("GET", f"notebooks/{name}")["content"]["cells"]
        assert [c["outputs"] for c in cells if c["cell_type"] == "code"][0] == []
        contents.call("DELETE", f"notebooks/{name}", expect=403)       # the tutorial's own stays
        assert tracked.read_bytes() == before and _git_status(cfg.notebooks_dir) == status
    finally:
        if tracked.read_bytes() != before:
            tracked.write_bytes(before)


def _project(tmp_path: Path) -> "labkit.Config":
    """A Config on a small project of its own: two tracked notebooks, dags/, a workspace."""
    cfg = labkit.load()
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    (root / "dags" / "sql").mkdir(parents=True)
    shutil.copy(cfg.dags_dir / ".airflowignore", root / "dags")
    for name in ("07_workshop_dag.ipynb", "08_emr_job.ipynb"):
        (root / "notebooks" / name).write_text(json.dumps({"cells": [], "name": name}))
    return dataclasses.replace(cfg, root=root, workspace_dir=root / "workspace")


def test_a_reset_moves_the_learners_notebooks_aside_and_a_changed_notebook_is_named(tmp_path, capsys):
    cfg = _project(tmp_path)
    copies = workspace.notebook_copies_dir(cfg)
    for name in ("07_workshop_dag.ipynb", "08_emr_job.ipynb"):
        workspace.start_copy(cfg.notebooks_dir / name, copies / name)
    assert workspace.stale_copies(cfg) == []
    (cfg.notebooks_dir / "07_workshop_dag.ipynb").write_text("{}")       # a `git pull` brings a new 07
    assert workspace.stale_copies(cfg) == [copies / "07_workshop_dag.ipynb"]
    lines = jupyter.where_notebooks_go(cfg)
    assert lines[0].endswith("your notebooks are saved in workspace/.notebooks/ (notebooks/ keeps the tutorial's as "
                             "they are)")
    assert len(lines) == 2 and "notebooks/07_workshop_dag.ipynb has changed" in lines[1]
    assert "`labkit workspace reset --notebook 07`" in lines[1]
    # only 07's copy, then the DAG files (the saved notebooks stay), then every notebook
    aside = workspace.reset(cfg, notebooks=["07"])
    assert (aside / "notebooks" / "07_workshop_dag.ipynb").is_file()
    assert [p.name for p in workspace.notebook_copies(cfg)] == ["08_emr_job.ipynb"] and not workspace.stale_copies(cfg)
    (workspace.ensure(cfg) / "my_workshop_job.py").write_text("# mine\n")
    (cfg.workspace_dags_dir / ".ipynb_checkpoints").mkdir()
    (cfg.workspace_dags_dir / ".ipynb_checkpoints" / "my_workshop_job-checkpoint.py").write_text("# mine\n")
    aside = workspace.reset(cfg)
    assert (aside / "my_workshop_job.py").is_file() and not (aside / "notebooks" / "08_emr_job.ipynb").exists()
    assert (aside / ".ipynb_checkpoints" / "my_workshop_job-checkpoint.py").is_file()
    assert not (cfg.workspace_dags_dir / ".ipynb_checkpoints").exists()
    assert [p.name for p in workspace.notebook_copies(cfg)] == ["08_emr_job.ipynb"] and workspace.learner_files(cfg) == []
    assert workspace.reset(cfg) is None
    aside = workspace.reset(cfg, notebooks=["all"])
    assert (aside / "notebooks" / "08_emr_job.ipynb").is_file() and workspace.notebook_copies(cfg) == []
    with pytest.raises(labkit.LabError, match="no notebook '09'; say its two digits or its file name"):
        workspace.reset(cfg, notebooks=["09"])


def test_the_learners_dag_folder_ignores_what_editors_write(tmp_path):
    from airflow._shared.module_loading.file_discovery import find_path_from_directory

    cfg = _project(tmp_path)
    folder = workspace.ensure(cfg)
    assert (folder / ".airflowignore").resolve() == (cfg.dags_dir / ".airflowignore").resolve()
    written = ["my_dag.py", ".ipynb_checkpoints/my_dag-checkpoint.py", ".~my_dag.py", ".#my_dag.py", "._my_dag.py",
               ".my_dag.py.swp", "my_dag.py~", "backup/my_dag-checkpoint.py"]
    for name in written:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("from airflow.sdk import dag\n")
    found = sorted(str(Path(p).relative_to(folder)) for p in find_path_from_directory(folder, ".airflowignore", "glob"))
    assert [p for p in found if p.endswith(".py")] == ["my_dag.py"], found


# A DAG of the learner's kind, saved from JupyterLab: its task renders a template file of the shared sql/ folder
# (what failed from a checkpoint's folder: TemplateNotFound).
SAVED_DAG = "lab_saved_in_jupyterlab"
SAVED_SOURCE = f'''"""Saved from JupyterLab by tests/test_jupyter.py: renders sql/generate_interval_rows.sql."""
import types

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def rendered(templates_dict):
    assert "insert into tbl_airflow_dummy_daily" in templates_dict["query"], templates_dict["query"][:300]


with DAG("{SAVED_DAG}", schedule=None, start_date=pendulum.datetime(2021, 1, 1, tz="UTC"), catchup=False,
         user_defined_macros={{"interval": lambda start, end: types.SimpleNamespace(start=start, end=end)}}):
    PythonOperator(task_id="render", python_callable=rendered, templates_exts=[".sql"],
                   templates_dict={{"query": "sql/generate_interval_rows.sql"}})
'''


def _one_dag(api, dag_id: str) -> tuple[str, int, list[str]]:
    """The DAG's file, how many versions of it Airflow has (a file flipping between two makes more), the files of
    its import errors."""
    versions = api.get(f"dags/{dag_id}/dagVersions")["dag_versions"]
    errors = [e["filename"] for e in api.get("importErrors")["import_errors"] if dag_id in e["filename"]]
    return api.get(f"dags/{dag_id}/details")["fileloc"], len(versions), errors


@pytest.mark.services
def test_a_dag_saved_in_jupyterlab_runs_green_despite_its_checkpoint(lab, contents):
    cfg, _ = lab
    api = services.get(cfg, "airflow").api()
    folder = workspace.ensure(cfg)
    path = folder / f"{SAVED_DAG}.py"
    checkpoint = folder / ".ipynb_checkpoints" / f"{SAVED_DAG}-checkpoint.py"
    sentinel = folder / f"{SAVED_DAG}_after.py"
    try:
        contents.save(f"workspace/dags/{path.name}", {"type": "file", "format": "text", "content": SAVED_SOURCE})
        assert checkpoint.read_text() == SAVED_SOURCE        # what JupyterLab leaves beside the file
        # a second DAG file, written after the checkpoint: once Airflow has parsed it, it has seen the checkpoint
        contents.save(f"workspace/dags/{sentinel.name}", {"type": "file", "format": "text", "content":
                      SAVED_SOURCE.replace(f'"{SAVED_DAG}"', f'"{SAVED_DAG}_after"')})
        api.wait_for_dag(SAVED_DAG, file=path)
        api.wait_for_dag(f"{SAVED_DAG}_after", file=sentinel)
        assert _one_dag(api, SAVED_DAG) == (str(path), 1, []), \
            "Airflow parsed JupyterLab's checkpoint as a second copy of the DAG"
        api.unpause(SAVED_DAG)
        run = api.follow(SAVED_DAG, api.trigger(SAVED_DAG, "2021-01-02T00:00:00Z"), timeout=300, progress=False,
                         interval=3)
        log = "" if run["state"] == "success" else \
            api.task_log(SAVED_DAG, run["dag_run_id"], "render")[-1500:]
        assert run["state"] == "success", log
        # The learner saves again (a version with a run gets a new version when the DAG's file changes, so a
        # checkpoint parsed now would show as a second version). Watch both files being parsed again.
        contents.save(f"workspace/dags/{path.name}", {"type": "file", "format": "text", "content": SAVED_SOURCE})
        api.wait_for_dag(SAVED_DAG, file=path)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert _one_dag(api, SAVED_DAG) == (str(path), 1, []), \
                "Airflow parsed JupyterLab's checkpoint as a second copy of the DAG"
            time.sleep(2)
    finally:
        shutil.rmtree(folder / ".ipynb_checkpoints", ignore_errors=True)
        for leftover in (path, sentinel):
            leftover.unlink(missing_ok=True)
        for dag_id in (SAVED_DAG, f"{SAVED_DAG}_after"):
            api.request("DELETE", f"dags/{dag_id}", allow=(404, 409))


def test_labkit_workspace_reset_of_one_notebook(tmp_path, monkeypatch, capsys):
    from labkit import cli

    monkeypatch.setenv("LAB_WORKSPACE_DIR", str(tmp_path / "ws"))
    cfg = labkit.load()
    workspace.start_copy(cfg.notebooks_dir / "08_emr_job.ipynb", workspace.notebook_copies_dir(cfg) / "08_emr_job.ipynb")
    assert cli.main(["workspace"]) == 0 and "08_emr_job.ipynb" in capsys.readouterr().out
    assert cli.main(["workspace", "reset", "--notebook", "08"]) == 0
    assert "your copy is in" in capsys.readouterr().out and workspace.notebook_copies(cfg) == []
    assert cli.main(["workspace", "reset", "--notebook", "9"]) == 2
    assert capsys.readouterr().err.startswith("labkit: error: no notebook '9'; say its two digits or its file name")
