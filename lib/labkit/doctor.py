"""Is this machine ready for the lab? Each problem is one line that says what is wrong and how to fix it."""
from __future__ import annotations

import shutil
from importlib.metadata import PackageNotFoundError, version

from labkit import jdbc, procs, services
from labkit.config import Config
from labkit.errors import LabError
from labkit.java import java_problem, java_version  # noqa: F401  (doctor.java_version: notebook 00)

DISK_MIN_GB = {"smoke": 2, "full": 12}


def _pinned_versions(cfg: Config) -> dict[str, str]:
    pins = {}
    lock = cfg.root / "requirements.txt"
    if lock.exists():
        for line in lock.read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, _, ver = line.partition("==")
                pins[name.strip().lower()] = ver.strip()
    return pins


def check(cfg: Config) -> list[str]:
    """Every problem found, one actionable line each (an empty list means ready)."""
    problems = []
    if (p := java_problem()):
        problems.append(p)
    for service in services.all_services(cfg):
        problems += service.missing_requirements()
        try:
            service.user  # noqa: B018 - raises when the service account is missing
        except LabError as exc:
            problems.append(str(exc))
        if service.pid() is None:
            for key in service.ports:
                port = cfg.ports[key]
                if not procs.port_is_free(port):
                    problems.append(f"port {port} ({service.name}) is taken by {procs.who_listens(port)}: stop it "
                                    f"or set LAB_PORT_{key.upper()}=<free port>")
    problems += [line for jar in jdbc.JARS.values() if (line := jdbc.problem(jar))]
    pins = _pinned_versions(cfg)
    for dist in ("apache-airflow", "pyspark", "pandas", "papermill", "boto3"):
        try:
            have = version(dist)
        except PackageNotFoundError:
            problems.append(f"Python package {dist} is not installed: run `make setup`")
            continue
        if dist in pins and pins[dist] != have:
            problems.append(f"{dist} {have} is installed but requirements.txt pins {pins[dist]}: run `make setup`")
    where = cfg.state_dir if cfg.state_dir.exists() else cfg.root
    free_gb = shutil.disk_usage(where).free / 2**30
    need = DISK_MIN_GB[cfg.scale]
    if free_gb < need:
        problems.append(f"only {free_gb:.1f} GB free at {where}; LAB_SCALE={cfg.scale} needs about {need} GB "
                        "(free some space, use LAB_SCALE=smoke, or move LAB_STATE_DIR)")
    return problems
