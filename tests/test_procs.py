"""Pid files and process groups (no lab needed): a pid file is trusted only for the process it recorded."""
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

import labkit
from labkit import procs, services
from labkit.services.base import Service


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    return labkit.load()


@pytest.fixture
def bystander():
    """An unrelated live program leading its own process group (what a reused pid may name)."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _alive(proc: subprocess.Popen) -> bool:
    return proc.poll() is None


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pid: int) -> None:
    procs.wait_for(lambda: _gone(pid), timeout=10, what=f"pid {pid} to end")


def _recorded_then_gone(tmp_path) -> dict:
    """A genuine pid file record of a process that has since exited (as after a crash)."""
    pid_file = tmp_path / "gone.pid"
    _wait_gone(procs.start(["true"], log_file=tmp_path / "gone.log", pid_file=pid_file))
    return procs.read_record(pid_file)


@pytest.mark.parametrize("form", ["bare pid (older labkit)", "record of another process"])
def test_stale_pid_file_naming_an_unrelated_process_is_not_trusted(cfg, bystander, tmp_path, form):
    """pid reuse: the file names a live program labkit never started; status says "not running" and stop
    signals neither it nor its group."""
    pg = services.get(cfg, "postgres")
    pg.dir.mkdir(parents=True)
    if form.startswith("bare"):
        content = f"{bystander.pid}\n"
    else:
        time.sleep(0.05)                               # start times count in 10 ms ticks
        record = _recorded_then_gone(tmp_path)
        record.pop("pid")
        content = f"{bystander.pid}\n" + json.dumps(record) + "\n"
    pg.pid_file.write_text(content)
    status = pg.status()
    assert (status.pid, status.healthy, status.detail) == (None, False, "not running")
    assert not pg.pid_file.exists()                    # stale: removed
    pg.pid_file.write_text(content)
    assert pg.stop() is False
    pg.pid_file.write_text(content)
    services.down(cfg, report=lambda _: None)
    time.sleep(0.3)
    assert _alive(bystander)


class Sleeper(Service):
    name = "sleeper"

    def command(self) -> list[str]:
        return ["sleep", "300"]

    def healthy(self) -> bool:
        return True


def test_a_bare_pid_file_of_an_older_labkit_is_trusted_when_the_command_line_matches(cfg):
    """A server started before pid files recorded start times: still found, kept, and stopped by `down`."""
    sleeper = Sleeper(cfg)
    sleeper.dir.mkdir(parents=True)
    pid = procs.start(sleeper.command(), log_file=sleeper.log_file, pid_file=sleeper.pid_file)
    try:
        sleeper.pid_file.write_text(f"{pid}\n")
        assert sleeper.pid() == pid
        assert sleeper.stop_leftovers() is False and sleeper.pid_file.exists()
        assert sleeper.stop() is True
        _wait_gone(pid)
    finally:
        procs.stop(pid, timeout=1)


def test_pid_file_of_the_started_process_is_trusted_and_stops_its_group(tmp_path):
    pid_file = tmp_path / "s.pid"
    pid = procs.start(["sh", "-c", "sleep 300 & wait"], log_file=tmp_path / "s.log", pid_file=pid_file)
    record = procs.read_record(pid_file)
    assert record["start_ticks"] == procs.start_ticks(pid) and record["argv"] == ["sh", "-c", "sleep 300 & wait"]
    assert procs.read_pid(pid_file) == pid
    child = procs.wait_for(lambda: psutil.Process(pid).children(), timeout=5, what="the child")[0].pid
    procs.stop(pid, timeout=5)
    _wait_gone(child)
    assert procs.read_pid(pid_file) is None and not pid_file.exists()


def test_stop_signals_only_the_pid_when_it_does_not_lead_a_group(tmp_path):
    """procs.stop on a pid that is not a group leader never signals the group it sits in."""
    leader = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300 & wait"], start_new_session=True)
    try:
        kids = procs.wait_for(lambda: [c.pid for c in psutil.Process(leader.pid).children()][1:] and
                              [c.pid for c in psutil.Process(leader.pid).children()], timeout=5, what="the children")
        procs.stop(kids[0], timeout=5)
        _wait_gone(kids[0])
        assert psutil.Process(kids[1]).is_running() and _alive(leader)
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()


def test_survivors_of_a_dead_leader_are_stopped_even_if_they_ignore_sigterm(cfg):
    """A crashed server's workers (leader gone, SIGTERM ignored; one in the leader's group, one moved to a
    group of its own as Airflow's task processes are) are found and killed by `stop`."""
    svc = services.get(cfg, "emr")
    svc.dir.mkdir(parents=True)
    ignore = "import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    workers = [[sys.executable, "-c", ignore + "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(300)", "w1"],
               [sys.executable, "-c", ignore + "os.setpgid(0, 0); open(sys.argv[1], 'w').write(str(os.getpid())); "
                                               "time.sleep(300)", "w2"]]
    script = " & ".join(shlex.join(argv) for argv in workers) + " & exit 0"
    pid = procs.start(["sh", "-c", script], log_file=svc.log_file, pid_file=svc.pid_file, cwd=svc.dir)
    _wait_gone(pid)                                     # the leader is gone, the "workers" live on
    found = [int(procs.wait_for(lambda: (svc.dir / name).exists() and (svc.dir / name).read_text(), timeout=10,
                                what=name)) for name in ("w1", "w2")]
    assert [os.getpgid(w) == pid for w in found] == [True, False]
    assert svc.pid() is None and svc.pid_file.exists()  # kept: its session still has members
    assert svc.stop() is True
    assert all(_gone(w) for w in found) and not svc.pid_file.exists()


def test_stop_also_ends_what_left_the_group_of_a_live_server(cfg):
    """A running server whose child moved to a group of its own and ignores SIGTERM: the group signal misses
    it, `stop` still ends it once the leader is gone."""
    svc = services.get(cfg, "emr")
    svc.dir.mkdir(parents=True)
    child = [sys.executable, "-c", "import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
             "os.setpgid(0, 0); open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(300)", "child"]
    pid = procs.start(["sh", "-c", shlex.join(child) + " & wait"], log_file=svc.log_file, pid_file=svc.pid_file,
                      cwd=svc.dir)
    moved = int(procs.wait_for(lambda: (svc.dir / "child").exists() and (svc.dir / "child").read_text(),
                               timeout=10, what="child"))
    assert os.getpgid(moved) != pid and svc.pid() == pid
    assert svc.stop() is True
    assert _gone(pid) and _gone(moved)


def test_a_held_lock_is_waited_for_then_refused_in_one_line(tmp_path):
    lock = tmp_path / "labkit.lock"
    said = []
    with procs.exclusive(lock, "labkit up", said.append):
        assert lock.read_text() == f"`labkit up` (pid {os.getpid()})\n"
        with pytest.raises(procs.LabError) as err:
            with procs.exclusive(lock, "labkit down", said.append, timeout=1):
                pytest.fail("the lock was taken twice")
    assert said == [f"waiting for `labkit up` (pid {os.getpid()}) to finish (lock {lock}) ..."]
    assert str(err.value) == (f"`labkit up` (pid {os.getpid()}) still holds {lock} after 1 s; wait for it to "
                              "finish or stop it, then run `labkit down` again")
    with procs.exclusive(lock, "labkit down", said.append, timeout=0.5):   # released with its holder
        assert len(said) == 1


def test_who_listens_names_the_process_holding_a_port():
    """What the one-line "port N for <service> is taken by ..." error shows (tests/test_bad_input.py)."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        assert not procs.port_is_free(port)
        assert procs.who_listens(port).startswith(f"pid {os.getpid()} (")
    assert procs.port_is_free(port)


def test_venv_path_puts_this_environment_first_once():
    import os
    import sys

    from labkit.procs import venv_path

    from pathlib import Path

    venv_bin = os.path.dirname(sys.executable)
    aws_cli = Path(venv_bin).parents[1] / ".venv-awscli" / "bin"          # make setup's, where the machine had none
    first = f"{venv_bin}:{aws_cli}" if aws_cli.is_dir() else venv_bin
    assert venv_path("/usr/bin:/bin") == f"{first}:/usr/bin:/bin"
    assert venv_path(f"/home/me/.pyenv/shims:{venv_bin}:/usr/bin") == f"{first}:/home/me/.pyenv/shims:/usr/bin"
    assert venv_path(venv_path("/usr/bin")) == f"{first}:/usr/bin"         # once, however often it is applied
    assert venv_path(None) == first
