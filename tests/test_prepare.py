"""`labkit prepare NN` (instructor mode): a fresh lab brought to the state a notebook starts from, then only that
notebook runs green."""
import subprocess
import sys
from pathlib import Path

import pytest

import labkit
from labkit import prepare, runner, services
from labkit.workshop import dummy
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


@pytest.mark.parametrize("number", ["06", "07", "08"])
def test_prepare_then_only_that_notebook(monkeypatch, tmp_path, number):
    with isolated_lab(monkeypatch, f"prepare{number}") as cfg:
        said = prepare.prepare(cfg, number, report=lambda _: None)
        assert said[-1].startswith(f"{number}_") and "can start now" in said[-1]
        if number == "06":
            assert dummy.table_is_complete(cfg)
        results = runner.run_series(cfg, only=[number], output=tmp_path, report=lambda _: None)
        assert [(r.notebook[:2], r.status) for r in results] == [(number, "ok")], results[0].error
        assert all(s.pid() is not None for s in services.all_services(cfg) if s.name in prepare.services_of(
            runner.series(cfg, only=[number])[0]))
