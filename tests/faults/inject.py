"""How faults are injected into a running lab: the one home shared by tests/faults/ and bench/faults.py.

Each injection does to a real server or file what happens to it in life: a server killed with its whole
process group (the OOM killer, a power cut: no clean-up runs, an UNLOGGED table is emptied on restart), an
Airflow component killed under its supervisor, a landing zone on a small file system that fills up, a
landed file cut short. `recover` is the documented recovery (`labkit up`).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import psutil

from labkit import procs, services
from labkit.workshop import dummy


def crash(cfg, name: str) -> int:
    """SIGKILL the whole process group of a lab server (postgres, mariadb, emr): nothing of it runs clean-up
    code. Returns the killed leader's pid; the pid file stays behind, as after a real crash."""
    service = services.get(cfg, name)
    pid = service.pid()
    if pid is None:
        raise RuntimeError(f"{name} is not running: nothing to crash")
    members = [pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))]
    procs.stop(pid, sig=signal.SIGKILL, timeout=10)
    # Gone from the process table too where we can wait for it: a zombie still answers kill(pid, 0), and
    # PostgreSQL takes the postmaster.pid of a zombie for a live server. Our own children we reap; another
    # parent's zombies (pid 1 reaps them) are waited for a while, then left.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = [p for p in members if not _gone(p)]
        if not left and procs.port_is_free(service.port):
            break
        time.sleep(0.1)
    procs.wait_for(lambda: procs.port_is_free(service.port), timeout=30, what=f"{name}'s port to close")
    return pid


def _gone(pid: int) -> bool:
    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid          # our child: reaped now
    except ChildProcessError:
        return False                                          # another parent's zombie: not yet


def title(proc: psutil.Process) -> str:
    """A process's command line, "" once it has ended: a child that exited and is not reaped yet (a zombie; the
    component an earlier fault killed, a worker whose task just ended) has none, and psutil raises for it."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def airflow_component(cfg, component: str) -> psutil.Process:
    """One of Airflow's components (`api-server`, `scheduler`, ...) under the lab's supervisor."""
    supervisor = psutil.Process(services.get(cfg, "airflow").pid())
    for child in supervisor.children():
        if component in title(child).replace("_", "-"):     # `airflow api_server -- host:...`
            return child
    raise RuntimeError(f"no Airflow {component} under the supervisor (pid {supervisor.pid})")


def kill_airflow_component(cfg, component: str) -> int:
    """`kill -9` of one Airflow component (what the OOM killer picks first: the biggest one)."""
    proc = airflow_component(cfg, component)
    proc.kill()
    psutil.wait_procs([proc], timeout=10)
    return proc.pid


def recover(cfg, *names: str) -> list[str]:
    """The recovery the notebooks teach after a crash: `labkit up` (what it said, line by line)."""
    said: list[str] = []
    rows = services.up(cfg, only=list(names) or None, report=said.append)
    unhealthy = [r.name for r in rows if not r.healthy]
    if unhealthy:
        raise RuntimeError(f"`labkit up` left {unhealthy} unhealthy: {said}")
    return said


@contextmanager
def patched(owner, name: str, replacement):
    """`owner.name = replacement` for the duration (how a fault is placed at one exact moment of real code)."""
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield original
    finally:
        setattr(owner, name, original)


def wait_for_statement(cfg, fragment: str, timeout: float = 60.0) -> int:
    """The pid of the PostgreSQL backend running a statement that contains `fragment` (once it runs)."""
    def running():
        frame = dummy.query(cfg, "select pid from pg_stat_activity where state = 'active' and query like %s "
                                 "and pid <> pg_backend_pid()", (f"%{fragment}%",))
        return int(frame.pid[0]) if len(frame) else None

    return procs.wait_for(running, timeout=timeout, what=f"a PostgreSQL session running {fragment!r}", interval=0.1)


# -- the disk -----------------------------------------------------------------------------------------------
class NoSmallDisk(Exception):
    """This machine cannot mount a small file system here (not root, or mounting is refused)."""


@contextmanager
def small_disk(path: Path, mib: float):
    """A tmpfs of `mib` MiB mounted at `path` (a landing zone that can fill up), unmounted afterwards.
    Needs root (mount). The size can be changed while mounted with `resize`."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(mib * 1024)}k,mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise NoSmallDisk(f"mount -t tmpfs refused: {done.stderr.strip() or done.returncode}")
    try:
        yield path
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            time.sleep(0.25)
        try:
            path.rmdir()
        except OSError:
            pass


def resize(path: Path, mib: float) -> None:
    """Give the small disk at `path` room (the learner's "free some space")."""
    subprocess.run(["mount", "-o", f"remount,size={int(mib * 1024)}k", str(path)], check=True,
                   capture_output=True)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


# -- files --------------------------------------------------------------------------------------------------
def truncate(path: Path, keep: float = 0.5) -> int:
    """Cut a file to `keep` of its size (a copy that stopped half-way); returns the bytes left."""
    size = int(path.stat().st_size * keep)
    os.truncate(path, size)
    return size
