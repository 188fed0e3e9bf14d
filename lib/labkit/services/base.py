"""What every lab service has in common: a folder, a pid file, a log, a port, a health check."""
from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

from labkit import procs
from labkit.config import LOOPBACK, Config
from labkit.errors import LabError


@dataclass
class ServiceStatus:
    name: str
    healthy: bool
    address: str
    pid: int | None
    memory_bytes: int
    version: str
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class Service:
    """One server process group started and stopped by labkit."""

    name: str = ""
    ports: tuple[str, ...] = ()          # keys of Config.ports this service listens on; the first is its address
    stop_signal: int = signal.SIGTERM
    start_timeout: float = 60.0
    runs_as_service_user = False         # True for servers that refuse to run as root (PostgreSQL, MariaDB)
    http = False                         # True for services spoken to over HTTP (their address is a URL)

    def __init__(self, cfg: Config):
        self.cfg = cfg

    # -- where things are -------------------------------------------------------------------------------
    @property
    def dir(self) -> Path:
        return self.cfg.service_dir(self.name)

    @property
    def pid_file(self) -> Path:
        return self.dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.cfg.logs_dir / f"{self.name}.log"

    @property
    def port(self) -> int:
        return self.cfg.ports[self.ports[0]]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def address(self) -> str:
        """What `status` shows: a URL for HTTP services, host:port for the databases."""
        return self.url if self.http else f"{LOOPBACK}:{self.port}"

    @property
    def user(self) -> str | None:
        """The account the server runs as: ourselves, or the service user when we are root."""
        if not self.runs_as_service_user or os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(self.cfg.service_user)
        except KeyError:
            raise LabError(
                f"{self.name} refuses to run as root and the unprivileged account {self.cfg.service_user!r} "
                f"(setting lab.service_user / LAB_SERVICE_USER) does not exist; run `make setup` "
                f"or `useradd --system --no-create-home {self.cfg.service_user}`"
            ) from None
        return self.cfg.service_user

    def own_dir(self, path: Path) -> None:
        """Make `path` (and its parents up to the service folder) a 0700 folder of the server's account."""
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
        if self.user:
            for p in [path, *path.parents]:
                shutil.chown(p, self.user, self.user)
                if p == self.dir:
                    break

    # -- what each service defines ----------------------------------------------------------------------
    def check_state(self) -> None:
        """Raise LabError if this service's folder holds something we did not make (never delete it)."""

    def prepare(self) -> None:
        """First-time initialisation of the data folder (idempotent)."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    def healthy(self) -> bool:
        raise NotImplementedError

    def launch_settings(self) -> dict:
        """What a running server keeps from its start (its command line, here) and `up` must not silently
        reuse once it changed: another scale, new flags after an update. Extended where the environment counts."""
        return {"command": self.command()}

    def after_start(self) -> None:
        """Bring users, databases, connections up to date (runs on every `up`, so it must be idempotent)."""

    def version(self) -> str:
        return ""

    def missing_requirements(self) -> list[str]:
        """Problems that stop this service from starting, each with its fix."""
        return []

    # -- the lifecycle ----------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The server's pid, if the process its pid file names is the one labkit started (not a reused pid)."""
        return procs.read_pid(self.pid_file, expected_argv=self._argv_of_bare_pid_file)

    def _argv_of_bare_pid_file(self) -> list[str]:
        """A pid file written before labkit recorded start times is trusted only if the command line matches."""
        try:
            return self.command()
        except LabError:
            return []

    @property
    def launch_file(self) -> Path:
        return self.dir / f"{self.name}.launch.json"

    def changed_launch_settings(self) -> list[str]:
        """The settings the running server was started with that differ from now ([] when unknown)."""
        try:
            started = json.loads(self.launch_file.read_text())
        except (OSError, ValueError):
            return []                        # started before labkit recorded settings: nothing to compare
        now = json.loads(json.dumps(self.launch_settings()))
        return sorted(k for k in started.keys() | now.keys() if started.get(k) != now.get(k))

    def safe_healthy(self) -> bool:
        try:
            return bool(self.healthy())
        except Exception:  # noqa: BLE001 - a health check that raises means "not healthy"
            return False

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        self.launch_file.unlink(missing_ok=True)
        self.stop_leftovers()
        procs.start(self.command(), log_file=self.log_file, pid_file=self.pid_file, env=self.env(),
                    cwd=self.dir, user=self.user)
        self.launch_file.write_text(json.dumps(self.launch_settings(), indent=1, sort_keys=True))
        try:
            procs.wait_for(self._up_and_healthy, timeout=self.start_timeout, what=self.name, log_file=self.log_file)
        except LabError as exc:
            tail = procs.tail(self.log_file, 8)
            self.stop()
            raise LabError(f"{exc}\n--- last lines of {self.log_file} ---\n{tail}") from None

    def _up_and_healthy(self) -> bool:
        if self.pid() is None:
            raise LabError(f"{self.name} exited during start-up")
        return self.healthy()

    def stop(self) -> bool:
        """Stop the server's process group; True if anything of it was running (its leftovers count too)."""
        pid = self.pid()
        if pid is None:
            return self.stop_leftovers()
        record = procs.read_record(self.pid_file)
        procs.stop(pid, sig=self.stop_signal)
        if record:
            procs.stop_leftovers(record)     # its session's processes outside its group (Airflow's tasks)
        self.pid_file.unlink(missing_ok=True)
        self.launch_file.unlink(missing_ok=True)
        return True

    def stop_leftovers(self) -> bool:
        """Kill what survived a crashed server's leader in its session (e.g. orphaned workers and their tasks)."""
        record = procs.read_record(self.pid_file)
        if record is None or procs.is_recorded_process(record, self._argv_of_bare_pid_file):
            return False
        stopped = procs.stop_leftovers(record)
        if stopped:
            self.pid_file.unlink(missing_ok=True)
        return bool(stopped)

    def status(self) -> ServiceStatus:
        pid = self.pid()
        healthy = pid is not None and self.safe_healthy()
        return ServiceStatus(
            name=self.name,
            healthy=healthy,
            address=self.address,
            pid=pid,
            memory_bytes=procs.group_memory(pid) if pid else 0,
            version=self.version(),
            detail="" if healthy else ("not running" if pid is None else "running but not answering"),
        )
