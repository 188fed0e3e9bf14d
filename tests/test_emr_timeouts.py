"""How long the EMR DAG's runs are waited for, and how long a hung step may bill: sized from the cost spec's EMR
timings (labkit.aws.spec), one figure each, used by the cost estimate, notebook 08 and the clusters alike."""
import inspect
import json
import re
from pathlib import Path

import labkit
from labkit import emr_client
from labkit.aws import cost, growth, spec

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "08_emr_job.ipynb"


def test_notebook_07_follows_a_run_on_aws_for_the_priced_run_and_a_second_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    assert emr_client.follow_timeout(labkit.load()) == emr_client.LOCAL_FOLLOW_SECONDS
    monkeypatch.setenv("LAB_PROFILE", "aws")
    aws = emr_client.follow_timeout(labkit.load())
    assert aws == (spec.EMR_RUN_MINUTES + spec.EMR_STARTUP_MINUTES) * 60
    assert aws > emr_client.LOCAL_FOLLOW_SECONDS          # 900 s is less than a real cluster's start, steps, end
    # the same figures the cost estimate prices and the growth projection assumes
    assert inspect.signature(cost.estimate).parameters["emr_minutes"].default == spec.EMR_RUN_MINUTES
    assert growth.Assumptions().startup_minutes == spec.EMR_STARTUP_MINUTES


def test_notebook_08_follows_every_run_with_the_profiles_timeout():
    """The notebook's own `follow` (over Airflow's official client and boto3) waits for the profile's timeout, and
    every run the notebook follows goes through it."""
    cells = ["".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    [follow] = [src for src in cells if re.search(r"^def follow\(", src, re.M)]
    assert "timeout = emr_client.follow_timeout(cfg)" in follow and "time.monotonic() - t0 < timeout" in follow
    calls = [m.group(0) for src in cells for m in re.finditer(r"(?<![\w.])follow\(", src) if src is not follow]
    assert len(calls) >= 2
    assert not any(re.search(r"\bwatch\.follow\(", src) for src in cells)          # labkit's follower is not used


def test_both_dags_clusters_end_a_hung_steps_application(monkeypatch, tmp_path):
    """The YARN lifetime is set on both DAGs' clusters from one variable, on both profiles, and ends a hung step
    before the sensors give up (60 min): the guard holds while Airflow is stopped too."""
    from labkit import connections
    from labkit.emr.engine import LIFETIME_PROPERTY, application_lifetime

    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    seconds = connections.variables(labkit.load())["EMR_STEP_LIFETIME_SECONDS"]
    assert int(seconds) == spec.EMR_STEP_LIFETIME_MINUTES * 60 < 60 * 60
    for dag in ("emr_ephemeral_job.py", "aws/airflow_workshop_job.py"):        # the workshop job on EMR: dags/aws/
        text = (NOTEBOOK.parents[1] / "dags" / dag).read_text()
        block = re.search(r"\"Configurations\": (\[.*?\}\}\])", text, re.S)
        assert block, dag
        rendered = block.group(1).replace('var("EMR_STEP_LIFETIME_SECONDS")', f'"{seconds}"').replace(
            '"{{ var.value.EMR_STEP_LIFETIME_SECONDS }}"', f'"{seconds}"')
        assert application_lifetime(eval(rendered)) == float(seconds), dag     # noqa: S307 (the DAG's literal)
        assert LIFETIME_PROPERTY in rendered
