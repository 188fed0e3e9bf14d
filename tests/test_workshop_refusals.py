"""The workshop job's notebooks (04-07) run its import and Spark steps by hand on this machine, so they run on the
`local` profile only: on `aws` this machine is outside the EMR cluster's VPC. Everything that would start them there
stops with one line before it starts a service or spends anything: the notebooks' setup line and `labkit prepare
NN`. On aws the DAG itself runs its steps on EMR (LAB_WORKSHOP_ENGINE=emr, tests/test_workshop_emr_engine.py and
tests/test_aws_rehearsal.py); its client engine would refuse there, and labkit does not start it so."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from papermill.exceptions import PapermillExecutionError

import labkit
from labkit import connections, notebook, prepare, runner
from labkit.errors import LabError
from labkit.services.airflow import airflow_env

ROOT = Path(__file__).resolve().parents[1]
LINE = r"^the workshop job's notebooks \(04-07\) do not run on the aws profile: .*EMR steps instead.*LAB_PROFILE=local"
WORKSHOP = ("04", "05", "06", "07")


@pytest.fixture
def aws_profile(monkeypatch, tmp_path):
    for var in ("LAB_PROFILE", "LAB_SCALE", "PATH"):       # notebook.start sets them: put them back afterwards
        monkeypatch.setenv(var, os.environ.get(var, ""))
    monkeypatch.setenv("LAB_PROFILE", "aws")
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    return labkit.load()


def test_the_refusal_is_one_line_on_aws_and_nothing_on_local(aws_profile, monkeypatch):
    refusal = connections.workshop_refusal(aws_profile)
    assert "\n" not in refusal and refusal.endswith("nothing was started or spent")
    monkeypatch.setenv("LAB_PROFILE", "local")
    assert connections.workshop_refusal(labkit.load()) == ""


def test_a_workshop_notebooks_setup_refuses_on_aws_before_starting_anything(aws_profile):
    with pytest.raises(LabError, match=LINE):
        notebook.start("aws", "smoke", services=["postgres"], workshop=True)
    assert not aws_profile.state_dir.exists()                        # no service, no state folder


@pytest.mark.parametrize("number", WORKSHOP)
def test_prepare_refuses_a_workshop_notebook_on_aws(aws_profile, number):
    assert prepare.start_arguments(next(ROOT.glob(f"notebooks/{number}_*.ipynb")))["workshop"] is True
    with pytest.raises(LabError, match=LINE):
        prepare.prepare(aws_profile, number, report=lambda _: None)
    assert not aws_profile.state_dir.exists()


@pytest.mark.parametrize("number", WORKSHOP)
def test_a_workshop_notebook_run_on_aws_stops_at_its_setup_cell(aws_profile, tmp_path, number):
    path = next(ROOT.glob(f"notebooks/{number}_*.ipynb"))
    with pytest.raises(PapermillExecutionError) as failed:
        runner.execute(path, tmp_path / path.name, {"LAB_PROFILE": "aws", "LAB_SCALE": "smoke"})
    assert failed.value.ename == "LabError"
    assert failed.value.evalue.startswith("the workshop job's notebooks (04-07) do not run on the aws profile")
    assert not aws_profile.state_dir.exists()


def test_the_workshop_engine_is_the_profiles_unless_set(aws_profile, monkeypatch):
    monkeypatch.delenv(connections.WORKSHOP_ENGINE_ENV, raising=False)
    assert connections.workshop_engine(aws_profile) == "emr"
    monkeypatch.setenv("LAB_PROFILE", "local")
    local = labkit.load()
    assert connections.workshop_engine(local) == "client"
    monkeypatch.setenv(connections.WORKSHOP_ENGINE_ENV, "emr")               # the EMR variant on the lab's endpoint
    assert connections.workshop_engine(local) == "emr"
    assert airflow_env(local)[connections.WORKSHOP_ENGINE_ENV] == "emr"     # what the Airflow processes parse with


@pytest.mark.parametrize("value, line", [
    ("spark", r"^LAB_WORKSHOP_ENGINE='spark' is not one of client, emr: unset it to get the aws profile's \(emr\)$"),
    ("client", r"^LAB_WORKSHOP_ENGINE=client does not run on the aws profile .*: unset it, so that airflow_workshop_job "
               r"runs its steps on EMR$"),
])
def test_a_workshop_engine_that_cannot_run_is_one_line_before_airflow_starts(aws_profile, monkeypatch, value, line):
    monkeypatch.setenv(connections.WORKSHOP_ENGINE_ENV, value)
    with pytest.raises(LabError, match=line):
        airflow_env(aws_profile)
    assert not aws_profile.state_dir.exists()
