"""The workshop job's notebooks (04-07) run its import and Spark steps by hand on this machine, so they run on the
`local` profile only: on `aws` this machine is outside the EMR cluster's VPC. Everything that would start them there
stops with one line before it starts a service or spends anything: the notebooks' setup line and `labkit prepare
NN`. On aws the lab's Airflow parses dags/aws/, whose workshop DAG runs its steps on EMR (tests/test_workshop_emr_engine.py
and tests/test_aws_rehearsal.py); the local file is not parsed there."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from papermill.exceptions import PapermillExecutionError

import labkit
from labkit import connections, notebook, prepare, runner
from labkit.errors import LabError

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


def test_each_profiles_airflow_parses_its_own_folder_of_reference_dags(aws_profile, monkeypatch):
    """The workshop job's graph is chosen by the folder the lab's Airflow parses, never by a setting read when the
    file is parsed: dags/aws/ on aws (steps on EMR), dags/ on local (whose .airflowignore skips aws/)."""
    from labkit.services.airflow import Airflow

    def bundle_path(cfg):
        [bundle] = [b for b in json.loads(Airflow(cfg).settings()["dag_processor"]["dag_bundle_config_list"])
                    if b["name"] == "dags-folder"]
        return Path(bundle["kwargs"]["path"])

    assert bundle_path(aws_profile) == ROOT / "dags" / "aws"
    monkeypatch.setenv("LAB_PROFILE", "local")
    assert bundle_path(labkit.load()) == ROOT / "dags"
    assert "/aws/" in (ROOT / "dags" / ".airflowignore").read_text().splitlines()
