"""Starting and stopping the lab's background processes: pid files, process groups, ports, memory."""
from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

from labkit.errors import LabError


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (we try to bind it ourselves, then let go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def who_listens(port: int) -> str:
    """A short description of the process listening on a TCP port, when the OS lets us see it."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({' '.join(proc.cmdline()[:3]) or proc.name()})"
    except (psutil.Error, OSError):
        pass
    return "another program"


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in pid_file if that process is still alive, else None (a stale file is removed)."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    if psutil.pid_exists(pid):
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return pid
        except psutil.Error:
            pass
    pid_file.unlink(missing_ok=True)
    return None


def run_as(user: str | None) -> dict:
    """Popen keyword arguments that drop to `user` (used only when we are root)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def start(argv: list[str], *, log_file: Path, pid_file: Path, env: dict | None = None,
          cwd: Path | None = None, user: str | None = None) -> int:
    """Start argv detached in its own process group, output appended to log_file; record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True, **run_as(user),
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def stop(pid: int, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Stop a process group started by `start`: `sig` to the whole group, then SIGKILL after `timeout`."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    members = _group_members(pgid) or [pid]
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in members):
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for p in members:
        _reap(p)


def _alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return False
        return True
    except psutil.NoSuchProcess:
        return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _group_members(pgid: int) -> list[int]:
    members = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return members


def group_memory(pid: int) -> int:
    """Memory (bytes) of a process and everything in its process group.

    Proportional set size where the OS shows it (forked workers share most pages, so adding up their
    resident sizes would count the same memory many times), resident size otherwise.
    """
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return 0
    total = 0
    for member in _group_members(pgid):
        try:
            proc = psutil.Process(member)
            try:
                total += proc.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def wait_for(check, *, timeout: float, what: str, log_file: Path | None = None, interval: float = 0.25):
    """Poll `check()` until it returns a truthy value; raise LabError naming `what` (and the log) on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - health checks fail in many ways while a server starts
            last_error = exc
        time.sleep(interval)
    hint = f"; see {log_file} (labkit logs)" if log_file else ""
    detail = f" (last error: {last_error})" if last_error else ""
    raise LabError(f"{what} did not become ready within {timeout:.0f} s{detail}{hint}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""
