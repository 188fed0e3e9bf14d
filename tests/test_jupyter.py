"""`make lab`'s JupyterLab (`labkit jupyter`): it answers on 127.0.0.1 as root and as a normal user."""
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import labkit
from labkit import jupyter
from labkit.procs import free_port

ROOT = Path(__file__).resolve().parents[1]
LABKIT = str(Path(sys.executable).parent / "labkit")


def _serve(argv: list[str], port: int, env: dict, user: str | None = None) -> dict:
    """Start `labkit jupyter`, wait until its /api answers, stop it; returns the answer and the first stderr line."""
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"JupyterLab exited {proc.returncode}: {proc.stderr.read()[-1500:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as resp:
                    return {"api": json.load(resp), "listening": _listeners(proc.pid)}
            except OSError:
                time.sleep(0.5)
        raise AssertionError("JupyterLab did not answer within 120 s")
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
    assert f"--notebook-dir={cfg.notebooks_dir}" in as_root
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
    python = os.path.realpath(sys.executable)
    ok = subprocess.run(["runuser", "-u", user, "--", python, "-c", "import jupyterlab"], capture_output=True)
    return user if ok.returncode == 0 else None


@pytest.mark.skipif(_normal_user() is None,
                    reason="needs root and a venv the lab's unprivileged account can run (this one lives in a private home)")
def test_jupyterlab_answers_as_a_normal_user(tmp_path):
    user = _normal_user()
    home = tmp_path / "home"
    home.mkdir()
    shutil.chown(home, user, user)
    tmp_path.chmod(0o755)
    port = free_port()
    env = {**os.environ, "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTER_CONFIG_DIR": str(home / "cfg"), "JUPYTER_DATA_DIR": str(home / "data"),
           "IPYTHONDIR": str(home / "ipython")}
    answer = _serve([LABKIT, "jupyter", "--port", str(port)], port, env, user=user)
    assert "version" in answer["api"]
    assert answer["listening"] == {"127.0.0.1"}
