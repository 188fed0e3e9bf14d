"""The Java that Spark uses: where it is, which version, and the one-line problem when it will not do."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from labkit.errors import LabError

JAVA_MIN = 17


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
