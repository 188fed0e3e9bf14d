"""`labkit prepare NN`: bring a lab to the state notebook NN starts from, so it can be opened live on its own.

What a notebook needs running is written once, in its setup cell (`notebook.start(..., services=[...])`);
this reads it from there. What it needs *made* beforehand is below: the notebooks make it themselves when
it is missing, but at full scale that is minutes of a class, so an instructor prepares it ahead.
"""
from __future__ import annotations

import ast
import time
from collections.abc import Callable
from pathlib import Path

import nbformat

from labkit import connections, runner, services
from labkit.config import Config
from labkit.errors import LabError
from labkit.workshop import dummy, landing

# Notebook number -> what it reads that an earlier notebook made.
DATA: dict[str, Callable[[Config], str]] = {
    "05": lambda cfg: dummy.ensure_table(cfg, progress=False),                 # 04's table
    "06": lambda cfg: landing.ensure_landed(cfg, progress=False),              # 04's table, 05's import
}


def start_arguments(path: Path) -> dict:
    """The literal keywords of a notebook's `notebook.start(...)` setup line ({} when it passes none); a keyword
    that passes a parameter (`solutions=LAB_SOLUTIONS`) is the notebook's own business and left out."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or "notebook.start(" not in cell.source:
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "start":
                return {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords
                        if not isinstance(kw.value, ast.Name)}
    raise LabError(f"{path.name} has no `notebook.start(...)` setup cell; prepare cannot tell what it needs")


def services_of(path: Path) -> list[str]:
    """The services a notebook's setup cell asks `notebook.start` for ([] when it starts none)."""
    return list(start_arguments(path).get("services", []))


def prepare(cfg: Config, number: str, report: Callable[[str], None] = print) -> list[str]:
    """Start what notebook `number` needs and make what it reads; returns what was done, one line each."""
    matches = runner.series(cfg, only=[number])
    if len(matches) != 1 or not matches[0].name.startswith(f"{number}_"):
        raise LabError(f"'{number}' names no single notebook: use its two digits, e.g. labkit prepare 07")
    path = matches[0]
    started = time.monotonic()
    done = []
    if start_arguments(path).get("workshop") and (refusal := connections.workshop_refusal(cfg)):
        raise LabError(refusal)          # as the notebook itself would, before anything is started
    needed = services_of(path)
    if needed:
        rows = services.up(cfg, only=needed, report=lambda _: None)
        done.append("running: " + ", ".join(r.name for r in rows))
    if number in DATA:
        done.append(DATA[number](cfg))
    done.append(f"{path.name} can start now (prepared in {time.monotonic() - started:.0f} s)")
    for line in done:
        report(line)
    return done
