"""`labkit prepare NN` (instructor mode): a fresh lab brought to the state a notebook starts from (the services of
its setup cell, the data it reads from earlier notebooks). The notebooks themselves run once, under nbval."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import labkit
from labkit import notebook, prepare, runner, services
from labkit.workshop import dummy, landing
from helpers import isolated_lab

ROOT = Path(__file__).resolve().parents[1]
LABKIT = str(Path(sys.executable).with_name("labkit"))


def test_services_come_from_the_setup_cell():
    cfg = labkit.load()
    [nb05] = runner.series(cfg, only=["06"])
    [nb07] = runner.series(cfg, only=["08"])
    [nb02] = runner.series(cfg, only=["03"])
    assert prepare.services_of(nb05) == ["postgres"]
    assert prepare.services_of(nb07) == ["mariadb", "emr", "airflow"]
    assert prepare.services_of(nb02) == []


def test_an_unknown_notebook_is_one_line():
    out = subprocess.run([LABKIT, "prepare", "6"], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "labkit: error: no notebook" in out.stderr


# Notebooks 07 and 08 ran twice per `make test` here (a fresh lab each, 357 s + 130 s), beside nbval's run of
# the series. Each notebook now runs once (nbval); this proves what is prepare's own: on ONE fresh lab, each
# notebook's setup cell, run as the notebook writes it, finds everything it asks for already running (it starts
# nothing), and the data a notebook reads from an earlier one is there in the form its own reuse check accepts.
@pytest.mark.services
def test_prepare_brings_a_fresh_lab_to_where_each_notebook_starts(monkeypatch, capsys):
    with isolated_lab(monkeypatch, "prepare") as cfg:
        monkeypatch.setenv("PATH", os.environ["PATH"])       # notebook.start puts the venv first; restored after
        for number in ("08", "07", "06"):          # 08 first: the most services, started from nothing
            said = prepare.prepare(cfg, number, report=lambda _: None)
            assert said[-1].startswith(f"{number}_") and "can start now" in said[-1], said
            [path] = runner.series(cfg, only=[number])
            needed = prepare.services_of(path)
            assert all(s.pid() is not None for s in services.all_services(cfg) if s.name in needed), number
            capsys.readouterr()
            notebook.start(**prepare.start_arguments(path))     # the notebook's setup cell, as it is written
            printed = capsys.readouterr().out
            # it prints only its header: a service it had to start would say "<name>: starting ..." first
            assert printed.startswith("profile=local  scale=smoke"), f"{number}: the setup cell started something\n{printed}"
        # 06 reads 04's table and 05's import: its first cell (`landing.ensure_landed`) reuses both, builds nothing
        assert landing.ensure_landed(cfg, progress=False).startswith("reused: "), "prepare 06 left data 06 rebuilds"
        assert dummy.table_is_complete(cfg)
