"""The lab as a whole: which services exist, and bringing them up, down and describing them.

`up` is idempotent (healthy services are reused, stale pid files are cleaned, a service that is running
but not answering is restarted), checks every port before it starts anything, and never leaves a
half-started lab behind. `down` stops every process group it started and keeps the data.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable

from labkit import procs
from labkit.config import Config
from labkit.errors import LabError
from labkit.java import java_problem
from labkit.services.airflow import Airflow
from labkit.services.base import Service, ServiceStatus
from labkit.services.emr import EMR
from labkit.services.mariadb import MariaDB
from labkit.services.postgres import Postgres
from labkit.state import MARKER, ensure_state_dir, is_state_dir

SERVICE_CLASSES: tuple[type[Service], ...] = (Postgres, MariaDB, EMR, Airflow)
LOCK = "labkit.lock"     # held by `up` and `down`, so two of them never start or stop the same server at once


def all_services(cfg: Config) -> list[Service]:
    return [cls(cfg) for cls in SERVICE_CLASSES]


def get(cfg: Config, name: str) -> Service:
    for service in all_services(cfg):
        if service.name == name:
            return service
    raise LabError(f"unknown service {name!r}: valid ones are {', '.join(s.name for s in all_services(cfg))}")


def _select(cfg: Config, only: list[str] | None) -> list[Service]:
    if not only:
        return all_services(cfg)
    wanted = {get(cfg, name).name for name in only}
    if "airflow" in wanted:
        wanted.add("postgres")   # Airflow's metadata database lives there
    return [s for s in all_services(cfg) if s.name in wanted]


def preflight(cfg: Config, services: list[Service]) -> None:
    """Everything that can be known before starting anything: Java, binaries, state folders, free ports."""
    problems = [p for s in services for p in s.missing_requirements()]
    if (java := java_problem()):
        problems.append(java)
    if problems:
        raise LabError("; ".join(problems))
    for service in services:
        service.check_state()
        if service.pid() is not None:
            continue
        for key in service.ports:
            port = cfg.ports[key]
            if not procs.port_is_free(port):
                env = f"LAB_PORT_{key.upper()}"
                raise LabError(f"port {port} for {service.name} is taken by {procs.who_listens(port)}; stop that "
                               f"program or choose another port with {env}=<port> (or ports.{key} in lab.toml)")


def up(cfg: Config, only: list[str] | None = None, report: Callable[[str], None] = print) -> list[ServiceStatus]:
    services = _select(cfg, only)
    ensure_state_dir(cfg)
    with procs.exclusive(cfg.state_dir / LOCK, "labkit up", report):
        return _up(cfg, services, report)


def _up(cfg: Config, services: list[Service], report: Callable[[str], None]) -> list[ServiceStatus]:
    for service in services:          # a crashed server's survivors would hold its port and data
        if service.stop_leftovers():
            report(f"{service.name}: stopped what was left of its crashed run")
    preflight(cfg, services)
    started: list[Service] = []
    try:
        for service in services:
            pid = service.pid()
            healthy = pid is not None and service.safe_healthy()
            changed = service.changed_launch_settings() if healthy else []
            if healthy and not changed:
                report(f"{service.name}: already running (pid {pid}), reused")
            else:
                if changed:
                    report(f"{service.name}: running with other settings ({', '.join(changed)} changed), restarting")
                    service.stop()
                elif pid is not None:
                    report(f"{service.name}: running but not answering, restarting")
                    service.stop()
                report(f"{service.name}: starting on {service.address} ...")
                service.start()
                started.append(service)
            service.after_start()
    except BaseException:
        for service in reversed(started):
            service.stop()
        raise
    return [s.status() for s in services]


def down(cfg: Config, purge: bool = False, report: Callable[[str], None] = print) -> None:
    if not is_state_dir(cfg.state_dir):            # not a lab's folder (or none yet): nothing to lock
        return _down(cfg, purge, report)
    with procs.exclusive(cfg.state_dir / LOCK, "labkit down", report):
        return _down(cfg, purge, report)


def _down(cfg: Config, purge: bool, report: Callable[[str], None]) -> None:
    for service in reversed(all_services(cfg)):
        if service.stop():
            report(f"{service.name}: stopped")
    if purge:
        if not cfg.state_dir.exists():
            return
        if not is_state_dir(cfg.state_dir):
            raise LabError(f"{cfg.state_dir} is not a labkit state folder (no {MARKER}); not deleting it")
        shutil.rmtree(cfg.state_dir)
        report(f"deleted {cfg.state_dir}")


def status(cfg: Config) -> list[ServiceStatus]:
    return [s.status() for s in all_services(cfg)]


def table(rows: list[ServiceStatus]):
    """The status rows as a pandas DataFrame (what notebook 01 shows)."""
    import pandas as pd

    columns = ["service", "health", "address", "pid", "memory MiB", "version"]
    return pd.DataFrame([{
        "service": r.name, "health": "healthy" if r.healthy else ("stopped" if r.pid is None else "UNHEALTHY"),
        "address": r.address, "pid": r.pid, "memory MiB": round(r.memory_bytes / 2**20), "version": r.version,
    } for r in rows], columns=columns).set_index("service")
