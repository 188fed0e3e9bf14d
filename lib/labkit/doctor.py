"""Is this machine ready for the lab? Each problem is one line that says what is wrong and how to fix it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from labkit import procs
from labkit.config import MARIADB_JDBC_JAR, POSTGRES_JDBC_JAR, Config
from labkit.errors import LabError

JAVA_MIN = 17
DISK_MIN_GB = {"smoke": 2, "full": 12}
JDBC_JARS = {"PostgreSQL JDBC driver": (POSTGRES_JDBC_JAR, "libpostgresql-jdbc-java"),
             "MariaDB JDBC driver": (MARIADB_JDBC_JAR, "libmariadb-java")}


def java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_version() -> int | None:
    """The major version of the Java that Spark will use, or None when there is none."""
    java = java_binary()
    if java is None:
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major   # "1.8" means Java 8


def java_problem() -> str | None:
    found = java_version()
    if found is None:
        return (f"Java not found (Spark needs Java {JAVA_MIN}+): run `make setup` (apt package "
                "openjdk-17-jre-headless) or set JAVA_HOME to a JDK/JRE 17+")
    if found < JAVA_MIN:
        return (f"Java {found} is too old (Spark 4 needs Java {JAVA_MIN}+): install openjdk-17-jre-headless "
                "and point JAVA_HOME at it")
    return None


def require_java() -> None:
    problem = java_problem()
    if problem:
        raise LabError(problem)


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
    from labkit import services

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
    for what, (jar, package) in JDBC_JARS.items():
        if not Path(jar).exists():
            problems.append(f"{what} missing ({jar}): run `make setup` (apt package {package})")
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
