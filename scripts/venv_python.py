"""Which Python `make setup` makes .venv from; prints its path, and on stderr one line saying which and why.

The venv's interpreter is the one it was made from. The lab, run by root, hands its servers and the tests' normal-user
JupyterLab to an unprivileged account (lab.toml's service_user), which cannot run an interpreter under a private home
(pyenv's /root/.pyenv, mode 700 above it). So the choice is the first of CANDIDATES that has the lock's minor version
(requirements.txt's header), can make a venv, and, when we are root, lives where every user can traverse and execute;
when none does, the first with the version, with a line saying what the lab's account will not be able to do.
`make setup PYTHON=...` gives the interpreter instead (--given): used as given, with the same line.

Run by any Python 3 (labkit is not importable before the venv exists); tests/test_venv_python.py tests it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ("python3.11", "python3", "/usr/bin/python3.11")
# What a candidate tells about itself: its version, the interpreter a venv made from it links to, and its stdlib.
PROBE = ("import json, sys, os, venv, ensurepip; print(json.dumps({'version': list(sys.version_info[:3]), "
         "'executable': getattr(sys, '_base_executable', sys.executable), 'stdlib': os.path.dirname(os.__file__)}))")


def lock_version(lock: Path = ROOT / "requirements.txt") -> tuple[int, int]:
    """The minor version the lock was resolved for, from its first line ("... (Python 3.11, Linux) ...")."""
    first = lock.read_text().splitlines()[0]
    found = re.search(r"Python (\d+)\.(\d+)", first)
    if not found:
        raise SystemExit(f"setup: {lock.name}'s first line names no Python version: {first!r}")
    return int(found.group(1)), int(found.group(2))


def private_part(path: str, need_read: bool = False) -> str | None:
    """The first part of `path` (its real path) that a user other than its owner and group cannot pass:
    a folder on the way without o+x, or the path itself without o+x (o+rx with need_read); None when all can."""
    real = Path(os.path.realpath(path))
    for part in [*reversed(real.parents), real]:
        mode = os.stat(part).st_mode
        want = stat.S_IXOTH | (stat.S_IROTH if need_read and part == real else 0)
        if mode & want != want:
            return f"{part} (mode {stat.S_IMODE(mode):o})"
    return None


def probe(command: str) -> dict | None:
    """What `command` (a name on PATH or a path) says about itself, or None when it is missing, fails or has no
    venv/ensurepip (Debian's python3.X-venv)."""
    path = shutil.which(command)
    if not path:
        return None
    try:
        done = subprocess.run([path, "-c", PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    facts = json.loads(done.stdout)
    facts["executable"] = os.path.realpath(facts["executable"])
    return facts


def blocked(facts: dict) -> str | None:
    """Why the lab's unprivileged account cannot run this interpreter (its file or its stdlib), or None."""
    return private_part(facts["executable"]) or private_part(facts["stdlib"], need_read=True)


def choose(candidates, need: tuple[int, int], as_root: bool, look=probe, given: str | None = None) -> tuple[str, str]:
    """(the interpreter to make the venv with, one line saying which and why)."""
    want = "%d.%d" % need
    if given:
        facts = look(given)
        if facts is None:
            raise SystemExit(f"setup: PYTHON={given} does not run, or cannot make a venv (no venv/ensurepip module)")
        why = f"PYTHON={given} given"
        if tuple(facts["version"][:2]) != need:
            why += f"; it is not the lock's Python {want}, pip may not install the lock"
        elif as_root and blocked(facts):
            why += f"; the lab's unprivileged account cannot run it ({blocked(facts)} is private)"
        return facts["executable"], f"setup: the venv's Python is {_named(facts)}: {why}"
    usable, passed, seen = [], [], set()
    for command in candidates:
        facts = look(command)
        if facts is None or tuple(facts["version"][:2]) != need or facts["executable"] in seen:
            continue
        seen.add(facts["executable"])
        if not as_root:
            return facts["executable"], (f"setup: the venv's Python is {_named(facts)}: {command}, the first Python {want} "
                                         "found (not root: the lab runs as you)")
        private = blocked(facts)
        if private is None:
            why = f"{command}, the first Python {want} that every user can run"
            if passed:
                why += " (passed over: " + "; ".join(passed) + ")"
            return facts["executable"], f"setup: the venv's Python is {_named(facts)}: {why}"
        passed.append(f"{command} is {_named(facts)}, under {private}")
        usable.append(facts)
    if not usable:
        raise SystemExit(f"setup: no Python {want} (the lock's version) that can make a venv among {', '.join(candidates)}"
                         f"; install one (Debian: apt-get install python{want} python{want}-venv) or give PYTHON=...")
    return usable[0]["executable"], (f"setup: the venv's Python is {_named(usable[0])}, though the lab's unprivileged "
                                     f"account cannot run it ({'; '.join(passed)}): the normal-user JupyterLab test "
                                     f"will not run; install a Python {want} outside private folders or give PYTHON=...")


def _named(facts: dict) -> str:
    return f"{facts['executable']} ({'.'.join(map(str, facts['version']))})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--given", help="the interpreter make was given (PYTHON=...): used as is")
    args = parser.parse_args(argv)
    path, why = choose(CANDIDATES, lock_version(), os.geteuid() == 0, given=args.given)
    print(why, file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
