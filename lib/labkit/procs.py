"""Starting and stopping the lab's background processes: pid files, process groups, ports, memory."""
from __future__ import annotations

import fcntl
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from labkit.config import LOOPBACK
from labkit.errors import LabError


def venv_path(path: str | None) -> str:
    """`path` (a PATH value) with this environment's bin folder first: its `labkit`, `airflow`, `spark-submit`
    win over a learner's other installs (a pyenv shim, a system Spark)."""
    venv_bin = os.path.dirname(sys.executable)
    # the AWS CLI `make setup` installs where the machine has none (labkit.aws_cli), after this environment's bin
    extra = [str(aws_cli)] if (aws_cli := Path(venv_bin).parents[1] / ".venv-awscli" / "bin").is_dir() else []
    rest = [p for p in (path or "").split(os.pathsep) if p and p not in (venv_bin, *extra)]
    return os.pathsep.join([venv_bin, *extra, *rest])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on host:port (we try to bind it ourselves, then let go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK) -> int:
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


def start_ticks(pid: int) -> int | None:
    """When a process started, in clock ticks since boot (/proc/<pid>/stat, field 22); None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])    # fields 3.. follow the command name in parentheses


def boot_id() -> str:
    """This boot of the machine (start ticks count from boot, so they compare only within one boot)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _cmdline(pid: int) -> list[str] | None:
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return None


def read_record(pid_file: Path) -> dict | None:
    """What `start` wrote: {"pid", "start_ticks", "boot_id", "argv"} (a bare pid from older labkits: pid only)."""
    try:
        first, _, rest = pid_file.read_text().partition("\n")
        record = {"pid": int(first.split()[0])}
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        record.update(json.loads(rest) if rest.strip() else {})
    except ValueError:
        pass
    return record


def is_recorded_process(record: dict, expected_argv: Callable[[], list[str]] | None = None) -> bool:
    """True when the live process with the recorded pid is the one that was started: same boot and start
    time, or (if no start time was recorded) the same command line as recorded, or for a bare pid file
    as `expected_argv()`. A reused pid names another program: False."""
    pid = record["pid"]
    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.Error:
        return False
    if record.get("start_ticks") is not None:
        return record.get("boot_id") == boot_id() and record["start_ticks"] == start_ticks(pid)
    argv = record.get("argv") or (expected_argv() if expected_argv else None)
    return bool(argv) and _cmdline(pid) == list(argv)


def read_pid(pid_file: Path, expected_argv: Callable[[], list[str]] | None = None) -> int | None:
    """The pid recorded in pid_file if that very process is still alive, else None.

    A stale file (its process gone, or its pid reused by an unrelated program) is removed, unless processes
    of the group it started are still alive (`leftovers`): then it stays, so `stop` can find them.
    """
    record = read_record(pid_file)
    if record is None:
        return None
    if is_recorded_process(record, expected_argv):
        return record["pid"]
    if not leftovers(record):
        pid_file.unlink(missing_ok=True)
    return None


def leftovers(record: dict) -> list[int]:
    """Survivors of a recorded process's session whose leader is gone (e.g. workers orphaned by a crash,
    and the task processes they had moved into process groups of their own).

    The leader was started in its own session, so its pid is the session's id. Linux does not hand out a
    pid while a session (or group) of that id still exists, so while it lives the number cannot name
    anything else; the start-time check keeps out sessions made later under a reused number.
    """
    pid, ticks = record["pid"], record.get("start_ticks")
    if ticks is None or record.get("boot_id") != boot_id() or psutil.pid_exists(pid) and _alive(pid):
        return []
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getsid(proc.pid) == pid and (start_ticks(proc.pid) or -1) >= ticks and _alive(proc.pid):
                found.append(proc.pid)
        except OSError:
            continue
    return found


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
    record = {"start_ticks": start_ticks(proc.pid), "boot_id": boot_id(), "argv": [str(a) for a in argv]}
    pid_file.write_text(f"{proc.pid}\n{json.dumps(record)}\n")
    return proc.pid


def stop(pid: int, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Stop a process group started by `start`: `sig` to the whole group, then SIGKILL after `timeout`.

    Only a group's leader (a process started in its own session) has its group signalled; any other pid is
    signalled alone, so a pid that is not ours never takes its neighbours down with it.
    """
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    if pgid != pid:
        _signal_all([pid], sig, timeout)
        return
    members = _group_members(pgid) or [pid]
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return
    if _wait_gone(members, timeout):
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _wait_gone(members, 5.0)


def stop_leftovers(record: dict, timeout: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL after `timeout`, to the `leftovers` of a recorded group; returns their pids."""
    found = leftovers(record)
    _signal_all(found, signal.SIGTERM, timeout)
    return found


def _signal_all(pids: list[int], sig: int, timeout: float) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    if _wait_gone(pids, timeout):
        return
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _wait_gone(pids, 5.0)


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


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


@contextmanager
def exclusive(lock_file: Path, what: str, report: Callable[[str], None], timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive flock on lock_file while `what` runs; wait (saying who holds it) for another holder.

    The lock dies with its holder (a killed `labkit up` never leaves it taken). If the file is deleted while
    we wait (`labkit down --purge` removed the folder it is in), stop with one line instead of going on alone.
    """
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline, said = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = Path(lock_file).read_text().strip() if Path(lock_file).exists() else "another labkit"
                if time.monotonic() >= deadline:
                    raise LabError(f"{holder} still holds {lock_file} after {timeout:.0f} s; wait for it to finish "
                                   f"or stop it, then run `{what}` again") from None
                if not said:
                    report(f"waiting for {holder} to finish (lock {lock_file}) ...")
                    said = True
                time.sleep(0.2)
        try:
            same_file = os.fstat(fd).st_ino == os.stat(lock_file).st_ino
        except FileNotFoundError:
            same_file = False
        if not same_file:
            raise LabError(f"{lock_file.parent} was deleted while `{what}` waited for it; run `{what}` again")
        os.ftruncate(fd, 0)
        os.write(fd, f"`{what}` (pid {os.getpid()})\n".encode())
        yield
    finally:
        os.close(fd)


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
