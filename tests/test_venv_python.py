"""scripts/venv_python.py, the choice of the Python `make setup` makes .venv from: the lock's minor version, and, as
root, one the lab's unprivileged account can run (not pyenv's under a private /root); PYTHON=... used as given."""
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import labkit

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "venv_python.py"
_spec = importlib.util.spec_from_file_location("venv_python", SCRIPT)
vp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vp)


def _python(tmp_path: Path, where: str, home_mode: int) -> dict:
    """A fake interpreter installed under tmp_path/where, whose top folder has home_mode; what probe() would say."""
    top = tmp_path / where
    exe = top / "bin" / "python3.11"
    stdlib = top / "lib" / "python3.11"
    stdlib.mkdir(parents=True)
    exe.parent.mkdir()
    exe.write_text("")
    exe.chmod(0o755)
    top.chmod(home_mode)
    return {"version": [3, 11, 7], "executable": str(exe), "stdlib": str(stdlib)}


@pytest.fixture
def tree():
    """A folder every user can reach (pytest's own tmp_path lies under a private /tmp/pytest-of-root)."""
    top = Path(tempfile.mkdtemp(prefix="venv-python-"))
    top.chmod(0o755)
    yield top
    for p in top.iterdir():
        p.chmod(0o755)
    shutil.rmtree(top)


def test_the_lock_names_its_minor_version(tmp_path):
    assert vp.lock_version() == (3, 11)         # requirements.txt's first line
    lock = tmp_path / "requirements.txt"
    lock.write_text("# The lock (Python 3.12, Linux).\nx==1\n")
    assert vp.lock_version(lock) == (3, 12)
    lock.write_text("# no version here\n")
    with pytest.raises(SystemExit, match="names no Python version"):
        vp.lock_version(lock)


def test_a_private_folder_on_the_way_is_named(tree):
    private = _python(tree, "root", 0o700)
    public = _python(tree, "usr", 0o755)
    assert vp.private_part(private["executable"]) == f"{tree / 'root'} (mode 700)"
    assert vp.private_part(public["executable"]) is None
    assert vp.blocked(private) is not None and vp.blocked(public) is None
    Path(public["executable"]).chmod(0o700)             # the file itself not executable by others
    assert vp.private_part(public["executable"]) == f"{public['executable']} (mode 700)"
    Path(public["stdlib"]).chmod(0o711)                 # a stdlib others can pass but not list
    assert vp.private_part(public["stdlib"], need_read=True) == f"{public['stdlib']} (mode 711)"
    assert vp.private_part(public["stdlib"]) is None


def test_a_symlink_is_judged_by_where_it_leads(tree):
    private = _python(tree, "root", 0o700)
    (tree / "bin").mkdir()
    link = tree / "bin" / "python3"
    link.symlink_to(private["executable"])
    assert vp.private_part(str(link)) == f"{tree / 'root'} (mode 700)"


def test_root_passes_over_a_python_in_a_private_home(tree):
    pyenv = _python(tree, "root", 0o700)
    system = {**_python(tree, "usr", 0o755), "version": [3, 11, 2]}
    other = {**_python(tree, "opt", 0o755), "version": [3, 12, 1]}
    found = {"python3.11": pyenv, "python3": other, "/usr/bin/python3.11": system}
    path, why = vp.choose(vp.CANDIDATES, (3, 11), as_root=True, look=found.get)
    assert path == system["executable"]
    assert "every user can run" in why and "passed over: python3.11" in why and f"{tree / 'root'} (mode 700)" in why
    assert why.count("\n") == 0
    # The first one that every user can run wins; one of another minor version never does.
    found["python3.11"] = {**pyenv, "executable": system["executable"], "stdlib": system["stdlib"]}
    assert vp.choose(vp.CANDIDATES, (3, 11), as_root=True, look=found.get)[0] == system["executable"]
    assert vp.choose(vp.CANDIDATES, (3, 12), as_root=True, look=found.get)[0] == other["executable"]


def test_without_a_runnable_one_the_line_says_what_will_not_run(tree):
    pyenv = _python(tree, "root", 0o700)
    path, why = vp.choose(vp.CANDIDATES, (3, 11), as_root=True, look={"python3": pyenv}.get)
    assert path == pyenv["executable"]
    assert "cannot run it" in why and "normal-user JupyterLab test" in why and "PYTHON=" in why


def test_not_root_takes_the_first_of_the_version(tree):
    pyenv = _python(tree, "root", 0o700)
    system = _python(tree, "usr", 0o755)
    path, why = vp.choose(vp.CANDIDATES, (3, 11), as_root=False, look={"python3": pyenv, "/usr/bin/python3.11": system}.get)
    assert path == pyenv["executable"] and "not root" in why


def test_no_python_of_the_version_stops_setup_saying_what_to_install(tree):
    other = {**_python(tree, "usr", 0o755), "version": [3, 12, 1]}
    with pytest.raises(SystemExit, match=r"no Python 3\.11 .*apt-get install python3\.11 python3\.11-venv"):
        vp.choose(vp.CANDIDATES, (3, 11), as_root=True, look={"python3": other}.get)


def test_a_given_python_is_used_as_given_with_a_warning(tree):
    pyenv = _python(tree, "root", 0o700)
    path, why = vp.choose(vp.CANDIDATES, (3, 11), as_root=True, look={"mine": pyenv}.get, given="mine")
    assert path == pyenv["executable"] and "PYTHON=mine given" in why and "cannot run it" in why
    path, why = vp.choose(vp.CANDIDATES, (3, 11), as_root=True, look={"mine": {**pyenv, "version": [3, 12, 0]}}.get,
                          given="mine")
    assert "not the lock's Python 3.11" in why
    with pytest.raises(SystemExit, match="PYTHON=nothing does not run"):
        vp.choose(vp.CANDIDATES, (3, 11), as_root=True, look={}.get, given="nothing")


def test_probe_asks_the_interpreter_itself(tmp_path):
    facts = vp.probe(sys.executable)
    assert tuple(facts["version"]) == tuple(sys.version_info[:3])
    assert facts["executable"] == os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    assert Path(facts["stdlib"], "os.py").is_file()
    assert vp.probe(str(tmp_path / "no-such-python")) is None
    fails = tmp_path / "python3"
    fails.write_text("#!/bin/sh\nexit 1\n")
    fails.chmod(0o755)
    assert vp.probe(str(fails)) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="the lab hands work to its unprivileged account only when run by root")
def test_on_this_machine_the_lab_account_can_run_the_choice():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, check=True)
    chosen = done.stdout.strip()
    assert done.stderr.startswith("setup: ") and done.stderr.count("\n") == 1, done.stderr
    user = labkit.load().service_user
    try:
        pwd.getpwnam(user)
    except KeyError:
        pytest.fail(f"no account {user}: make setup's system step creates it")
    assert shutil.which("runuser"), "runuser (util-linux) is missing"
    ran = subprocess.run(["runuser", "-u", user, "--", chosen, "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True)
    assert ran.returncode == 0, f"{user} cannot run {chosen}: {ran.stderr[-500:]}\n{done.stderr}"
    assert ran.stdout.strip() == str(vp.lock_version())
