"""`emr_ephemeral_job` end to end on the local stack, through Airflow's REST API: the step writes
emr_table, a rerun of the same date leaves one row, a failing step fails the run, and the cluster is
terminated every time."""
from __future__ import annotations

import pytest

from helpers import files_under, leaks, xcoms
from labkit import connections, emr_client, secrets, services
from labkit.aws import spec
from labkit.emr_client import retail

pytestmark = pytest.mark.services
DAG_ID = "emr_ephemeral_job"


@pytest.fixture(scope="module")
def stack(lab):
    cfg, _ = lab
    retail.generate(cfg, progress=False)
    emr_client.stage_job(cfg)
    api = services.get(cfg, "airflow").api()
    api.wait_for_dag(DAG_ID, timeout=180)
    api.unpause(DAG_ID)
    return cfg, api, emr_client.client(cfg)


def clusters_for(client, run_date: str) -> list[dict]:
    found = [c for c in client.list_clusters()["Clusters"] if c["Name"] == f"{DAG_ID} {run_date}"]
    for c in found:   # TERMINATING lasts a moment after the terminate task returns
        client.get_waiter("cluster_terminated").wait(ClusterId=c["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return [c for c in client.list_clusters()["Clusters"] if c["Name"] == f"{DAG_ID} {run_date}"]


def states(api, run_id: str) -> dict[str, str]:
    return {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, run_id)}


def test_the_run_writes_emr_table_terminates_the_cluster_and_a_rerun_keeps_one_row(stack):
    cfg, api, client = stack
    run_id = api.trigger(DAG_ID, logical_date="2024-03-31T00:00:00Z")
    assert api.follow(DAG_ID, run_id, timeout=600, progress=False, interval=1)["state"] == "success"
    expected = retail.expected_quantity_sum(retail.rows_for(cfg))
    assert emr_client.results(cfg, "2024-03-31") == [("2024-03-31", expected)]
    [cluster] = clusters_for(client, "2024-03-31")
    assert cluster["Status"]["State"] == "TERMINATED"
    assert cluster["Status"]["StateChangeReason"]["Code"] == "USER_REQUEST"      # by the terminate task
    tags = client.describe_cluster(ClusterId=cluster["Id"])["Cluster"]["Tags"]
    assert spec.EMR_MANAGED_TAG in tags and {"Key": spec.TAG_KEY, "Value": spec.TAG_VALUE} in tags   # v2 policy, teardown

    api.clear_run(DAG_ID, run_id)                                                  # the same date again
    assert api.follow(DAG_ID, run_id, timeout=600, progress=False, interval=1)["state"] == "success"
    assert emr_client.results(cfg, "2024-03-31") == [("2024-03-31", expected)]
    assert [c["Status"]["State"] for c in clusters_for(client, "2024-03-31")] == ["TERMINATED", "TERMINATED"]


def test_a_failing_step_fails_the_run_and_the_cluster_is_still_terminated(stack):
    cfg, api, client = stack
    good = connections.variables(cfg)["RAW_DATA_PATH"]
    # This run only reads a missing folder (the DAG's raw_data_path param); the shared variable is not touched.
    run_id = api.trigger(DAG_ID, logical_date="2024-04-01T00:00:00Z", conf={"raw_data_path": good + "-missing"})
    run = api.follow(DAG_ID, run_id, timeout=600, progress=False, interval=1)
    assert api.get("variables/RAW_DATA_PATH")["value"] == good
    assert run["state"] == "failed"
    assert states(api, run_id) == {"start_job": "success", "create_emr_cluster": "success",
                                   "add_emr_step": "success", "first_step": "success",
                                   "monitor_emr_step": "failed",
                                   "terminate_cluster": "success", "end_job": "upstream_failed"}
    [cluster] = clusters_for(client, "2024-04-01")
    assert cluster["Status"]["State"] == "TERMINATED"
    assert emr_client.results(cfg, "2024-04-01") == []
    [step] = client.list_steps(ClusterId=cluster["Id"])["Steps"]
    assert step["Status"]["State"] == "FAILED"
    assert "does not exist" in step["Status"]["FailureDetails"]["Reason"]
    assert step["Status"]["FailureDetails"]["LogFile"].endswith(f"/{cluster['Id']}/steps/{step['Id']}/stderr.gz")


def test_no_password_in_the_buckets_xcoms_task_logs_or_command_lines(stack):
    """After the runs above (a green one, its rerun, a failed one): the lab's generated passwords appear in none
    of the places a learner, the UI or a step can read (tests/test_aws_rehearsal.py checks the same on aws)."""
    cfg, api, client = stack
    passwords = {name: secrets.get(cfg, name) for name in ("mariadb_emr", "postgres_airline", "aws_local_secret_key",
                                                           "airflow_admin")}
    places = files_under(cfg.s3_dir)                                           # every bucket, the step logs too
    for run in api.dag_runs(DAG_ID):
        places.update(xcoms(api, DAG_ID, run["dag_run_id"]))
    places.update(files_under(services.get(cfg, "airflow").dir / "logs"))     # every task's log, every try
    for cluster in client.list_clusters()["Clusters"]:
        for step in client.list_steps(ClusterId=cluster["Id"])["Steps"]:
            places[f"step {step['Id']} command line"] = " ".join(step["Config"]["Args"]).encode()
    places.update(files_under(cfg.state_dir / "emr"))                          # the endpoint's records
    assert any(k.startswith("xcom ") for k in places) and any("steps" in k for k in places)
    assert leaks(passwords, places) == []
