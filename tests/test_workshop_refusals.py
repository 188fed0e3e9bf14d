"""The workshop job (notebooks 03-06, airflow_workshop_job) runs on the `local` profile only: on `aws` its Airflow
node would be the learner's machine, outside the EMR cluster's VPC. Everything that would start it there stops
with one line before it starts a service or spends anything: the notebooks' setup line, `labkit prepare NN`, and
the DAG's tasks (tests/test_aws_rehearsal.py runs the DAG in an aws-profile Airflow)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from papermill.exceptions import PapermillExecutionError

import labkit
from labkit import connections, notebook, prepare, runner
from labkit.errors import LabError

ROOT = Path(__file__).resolve().parents[1]
LINE = r"^the workshop job \(notebooks 03-06, airflow_workshop_job\) does not run on the aws profile: .*LAB_PROFILE=local"
WORKSHOP = ("03", "04", "05", "06")


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
    assert failed.value.evalue.startswith("the workshop job (notebooks 03-06, airflow_workshop_job) does not run")
    assert not aws_profile.state_dir.exists()
