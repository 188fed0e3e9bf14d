"""The workshop DAG's emr engine (LAB_WORKSHOP_ENGINE=emr, the aws profile's) run for real on the local profile.

The same DAG file (a copy per engine under its own dag_id, see TEST_ID), parsed with the emr engine and run with
`dag.test()` on the test lab: the day's rows go into the
lab's PostgreSQL, the lab's EMR endpoint creates the cluster and runs both steps (spark_jobs/import_interval.py,
a Spark JDBC read of the day, then spark_jobs/aggregate_dummy.py) on local Spark, and the cluster is terminated.
What it lands and aggregates is compared, row for row, with what the client engine (this node's Sqoop-style
import and spark-submit) gives for the same day. On aws only the connections and variables differ; what cannot be
run offline there (S3 through EMRFS, Secrets Manager from the node, the VPC) is named in tests/test_aws_rehearsal.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from labkit import connections, emr_client, secrets, services
from labkit.aws import spec
from labkit.exercises import dagtest
from labkit.workshop import aggregates, daily_runs
from labkit.workshop.daily_runs import aggregated_rows, landed_rows, landed_span, source_rows

ROOT = Path(__file__).resolve().parents[1]
DAG_FILE = ROOT / "dags" / "airflow_workshop_job.py"
DAG_ID = daily_runs.DAG_ID
# dag.test() runs copies of the file, one per engine, each under its own dag_id in the lab's workspace bundle (so
# the DAG processor serializes the same graph as the test runs). The lab parses airflow_workshop_job itself with
# the client engine: a dag.test() of that dag_id with the emr engine's tasks would get them marked `removed`.
TEST_ID = {"emr": "airflow_workshop_job_emr_engine", "client": "airflow_workshop_job_client_engine"}
EMR = {connections.WORKSHOP_ENGINE_ENV: "emr"}
CLIENT = {connections.WORKSHOP_ENGINE_ENV: "client"}
GOOD, BROKEN = "2021-03-04", "2021-03-07"          # logical dates no other test or notebook runs
EMR_TASKS = ["generate_interval_rows", "create_cluster", "add_steps", "watch_import", "watch_aggregate",
             "terminate_cluster"]

pytestmark = pytest.mark.services


def outputs(cfg, ds: str, dag_id: str) -> dict:
    """What a run left for day `ds`: the landed rows (sorted) and both aggregates, as DataFrames."""
    import pyarrow.parquet as pq

    folder = daily_runs.landed_dir(cfg, ds, dag_id)
    landed = pq.ParquetDataset(sorted(folder.glob("part-*.parquet"))).read().to_pandas()
    out = daily_runs.dag_dir(cfg, dag_id) / "aggregates"
    return {"landed": landed.sort_values("id").reset_index(drop=True),
            **{table: aggregates.read(out, table, ds) for table in (aggregates.HOURLY, aggregates.DAILY)}}


def cluster_of(cfg, ds: str) -> tuple[dict, list[dict]]:
    client = emr_client.client(cfg)
    summary = next(c for c in client.list_clusters()["Clusters"] if c["Name"] == f"{DAG_ID} {ds}")   # the newest
    client.get_waiter("cluster_terminated").wait(ClusterId=summary["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    steps = list(reversed(client.list_steps(ClusterId=summary["Id"])["Steps"]))          # in the order added
    return client.describe_cluster(ClusterId=summary["Id"])["Cluster"], steps


ENGINE_LINE = 'ENGINE = os.environ.get("LAB_WORKSHOP_ENGINE", "client")'


@pytest.fixture(scope="module")
def copies(lab) -> dict[str, Path]:
    cfg, _ = lab
    text, paths = DAG_FILE.read_text(), {}
    assert text.count(f'dag_id="{DAG_ID}"') == 1 and text.count(ENGINE_LINE) == 1
    for engine, dag_id in TEST_ID.items():
        paths[engine] = cfg.workspace_dags_dir / f"{dag_id}.py"
        paths[engine].write_text(text.replace(f'dag_id="{DAG_ID}"', f'dag_id="{dag_id}"')
                                 .replace(ENGINE_LINE, f'ENGINE = "{engine}"'))
    api = services.get(cfg, "airflow").api()
    for dag_id in TEST_ID.values():
        api.wait_for_dag(dag_id, timeout=300)
    yield paths
    for path in paths.values():
        path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def emr_run(lab, copies):
    cfg, _ = lab
    emr_client.stage_workshop_job(cfg)                             # aws: provisioning uploads the same files
    test = dagtest.run(cfg, copies["emr"], TEST_ID["emr"], GOOD, env=EMR)
    ds = test.data_interval[0][:10]
    return cfg, test, ds, outputs(cfg, ds, TEST_ID["emr"])


def test_the_emr_engine_runs_green_on_the_lab_endpoint_and_lands_every_row(emr_run):
    cfg, test, ds, _ = emr_run
    assert [t["task_id"] for t in test.tasks] == EMR_TASKS
    assert {t["state"] for t in test.tasks} == {"success"}
    dag_id = TEST_ID["emr"]
    assert source_rows(cfg, ds) == landed_rows(cfg, ds, dag_id) == aggregated_rows(cfg, ds, dag_id) == 144_000
    assert landed_span(cfg, ds, dag_id) == (f"{ds} 00:00", f"{ds} 23:59")


def test_its_cluster_ran_both_steps_and_was_terminated_by_the_teardown(emr_run):
    cfg, _, ds, _ = emr_run
    cluster, steps = cluster_of(cfg, ds)
    assert cluster["Status"]["StateChangeReason"]["Code"] == "USER_REQUEST"            # terminate_cluster
    groups = emr_client.client(cfg).list_instance_groups(ClusterId=cluster["Id"])["InstanceGroups"]
    assert [(g["InstanceGroupType"], g["RequestedInstanceCount"]) for g in groups] == \
        list(spec.WORKSHOP_EMR_INSTANCE_GROUPS)                                         # what the estimate prices
    assert [(s["Name"], s["Status"]["State"]) for s in steps] == [
        (f"import_interval {ds}", "COMPLETED"), (f"aggregate_dummy {ds}", "COMPLETED")]
    args = steps[0]["Config"]["Args"]
    assert args[args.index("--expect-rows") + 1] == "144000"                             # task 1's count
    assert args[args.index("--credentials") + 1] == connections.variables(cfg)["WORKSHOP_JDBC_CREDENTIALS"]
    password = secrets.get(cfg, "postgres_airline")
    assert password not in " ".join(args)                                                # a name, not the password
    for step in steps:
        for name in ("stdout", "stderr", "controller"):
            assert password not in emr_client.step_log(cfg, cluster["LogUri"], cluster["Id"], step["Id"], name, 10**6)


def test_the_client_engine_gives_the_same_rows_and_aggregates_for_the_same_day(emr_run, copies):
    cfg, _, ds, by_emr = emr_run
    test = dagtest.run(cfg, copies["client"], TEST_ID["client"], GOOD, env=CLIENT)
    assert [t["task_id"] for t in test.tasks] == ["generate_interval_rows", "sqoop_import_interval",
                                                  "spark_aggregate_dummy"]
    by_client = outputs(cfg, ds, TEST_ID["client"])
    assert len(by_client["landed"]) == 144_000
    for name, frame in by_emr.items():
        assert frame.equals(by_client[name]), name


def test_a_failed_import_cancels_the_aggregation_and_the_cluster_is_still_terminated(emr_run, copies, tmp_path):
    cfg, _, good_ds, _ = emr_run
    api = services.get(cfg, "airflow").api()
    wrong = tmp_path / "wrong.properties"
    wrong.write_text("user=airline\npassword=not-the-password\ndriver=org.postgresql.Driver\n")
    right = connections.variables(cfg)["WORKSHOP_JDBC_CREDENTIALS"]
    api.upsert("variables", [{"key": "WORKSHOP_JDBC_CREDENTIALS", "value": wrong.as_uri()}])
    try:
        test = dagtest.run(cfg, copies["emr"], TEST_ID["emr"], BROKEN, env=EMR, check=False)
    finally:
        api.upsert("variables", [{"key": "WORKSHOP_JDBC_CREDENTIALS", "value": right}])
    ds = test.data_interval[0][:10]
    states = {t["task_id"]: t["state"] for t in test.tasks}
    assert test.state == "failed"
    assert states == {"generate_interval_rows": "success", "create_cluster": "success", "add_steps": "success",
                      "watch_import": "failed", "watch_aggregate": "upstream_failed", "terminate_cluster": "success"}
    cluster, steps = cluster_of(cfg, ds)
    assert cluster["Status"]["StateChangeReason"]["Code"] == "USER_REQUEST"
    assert [s["Status"]["State"] for s in steps] == ["FAILED", "CANCELLED"]            # CANCEL_AND_WAIT
    assert not (daily_runs.landed_dir(cfg, ds, TEST_ID["emr"]) / "_SUCCESS").exists()  # nothing half-landed
    assert aggregated_rows(cfg, good_ds, TEST_ID["emr"]) == 144_000                     # other days untouched
    # the endpoint keeps a cluster-mode driver's output in the step's stdout log (EMR: in YARN's container logs)
    log = emr_client.step_log(cfg, cluster["LogUri"], cluster["Id"], steps[0]["Id"], "stdout")
    assert "import_interval: error: PostgreSQL at " in log and "password authentication failed" in log
    assert "not-the-password" not in log + emr_client.step_log(cfg, cluster["LogUri"], cluster["Id"], steps[0]["Id"])


def test_labkit_up_restarts_airflow_when_the_engine_changes(emr_run, monkeypatch):
    """`LAB_WORKSHOP_ENGINE=emr labkit up airflow` (notebook 08's summary): the engine is a launch setting of the
    Airflow service, so a change restarts it and its processes parse the DAG with the new engine."""
    cfg = emr_run[0]
    airflow = services.get(cfg, "airflow")
    monkeypatch.delenv(connections.WORKSHOP_ENGINE_ENV, raising=False)
    assert airflow.changed_launch_settings() == []                       # the test lab runs the client engine
    monkeypatch.setenv(connections.WORKSHOP_ENGINE_ENV, "emr")
    assert airflow.changed_launch_settings() == ["env"]
    assert airflow.env()[connections.WORKSHOP_ENGINE_ENV] == "emr"
