"""The aws rehearsal: `LAB_PROFILE=aws` end to end, offline. Notebook 01 provisions (cost estimate first, then
CONFIRM=True as a papermill parameter) and starts the lab's Airflow on the aws profile; `emr_ephemeral_job` runs
in that Airflow; notebook 09 tears everything down; at the end nothing is left in any service.

"AWS" is a moto server on 127.0.0.1 (tests/aws_server.py) for S3, IAM, EC2, STS, Secrets Manager and RDS, and
the lab's own EMR endpoint for EMR: boto3 is pointed at them with the SDKs' own settings (AWS_ENDPOINT_URL,
AWS_ENDPOINT_URL_EMR), which `labkit.connections` turns into the `aws_default` connection's extra. The DAG file
is the same bytes as on AWS: only that connection and the generated variables differ (data, not code).
Every request is made by a real botocore client, so each is validated against the service model.

What this proves: the calls, their order, and the wiring between tasks and resources (the cluster is created
in the subnet, with the groups, roles and bucket paths that provisioning made; its step names the objects that
were uploaded and the Aurora endpoint RDS reported; the teardown finds the cluster by its tag).
What it cannot (named here and in the README, not faked): the Spark step itself. The lab's EMR endpoint reads
s3:// from its own bucket folders, not from moto, and no Aurora server is behind moto's endpoint name, so
the step FAILS at its first input (`... does not exist`) and the run fails at monitor_emr_step while the
cluster is still terminated. Nor IAM evaluation, quotas, real networking or EMR's real start times.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import psutil
import psycopg2
import pytest

import labkit
from aws_server import CIDR, REGION, SERVER_SETTINGS
from emr_local import KEY, SECRET, Endpoint
from helpers import files_under, free_port, leaks, xcoms
from labkit import aws, connections, runner, secrets, services
from labkit.aws import outputs, spec
from labkit.config import LOOPBACK, MARIADB_JDBC_JAR
from labkit.state import ensure_state_dir


pytestmark = pytest.mark.services      # the lab's servers, under an aws-profile lab of its own


@pytest.fixture(scope="module", autouse=True)
def jdbc_driver():
    """`make setup` installs the driver: without it this module's coverage would be lost, so it fails (no skip)."""
    assert MARIADB_JDBC_JAR.exists(), f"{MARIADB_JDBC_JAR} is missing: run `make setup` (it installs the JDBC drivers)"


ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "emr_ephemeral_job"
WORKSHOP = "airflow_workshop_job"
RUN_DATE = "2024-05-02"
# under the project, as tests/helpers.isolated_lab: the database account (when run as root) must reach it
STATE = ROOT / f".lab-test-rehearsal{os.environ.get('LAB_TEST_SLOT', '0')}"


@pytest.fixture(scope="module")
def rehearsal(moto_server, tmp_path_factory):  # noqa: F811
    """An aws-profile lab of its own (state folder, ports) whose AWS is moto + the lab's EMR endpoint."""
    base = tmp_path_factory.mktemp("rehearsal")
    emr = Endpoint(base / "emr-endpoint", region=REGION).start()
    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "LAB_BUCKET",
                    "LAB_SUBNET_ID", "LAB_REGION"):
            mp.delenv(var, raising=False)
        for key, value in {**SERVER_SETTINGS, **moto_server.env()}.items():
            mp.setenv(key, value)
        mp.setenv("AWS_ACCESS_KEY_ID", KEY)             # the EMR endpoint checks SigV4 against this pair; moto
        mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET)      # accepts any
        mp.setenv(connections.EMR_ENDPOINT_ENV, emr.url)
        mp.setenv("LAB_PROFILE", "aws")
        mp.setenv("LAB_STATE_DIR", str(STATE))
        for name in ("POSTGRES", "MARIADB", "AIRFLOW", "EMR"):
            mp.setenv(f"LAB_PORT_{name}", str(free_port()))
        moto_server.reset()
        shutil.rmtree(STATE, ignore_errors=True)
        cfg = labkit.load()
        ensure_state_dir(cfg)
        raw = cfg.state_dir / "aws" / "raw" / "retail"      # where provisioning looks for the raw data first
        raw.mkdir(parents=True)
        (raw / "part-00000.parquet").write_bytes(b"PAR1 stand-in: the step never reads it offline PAR1")
        try:
            yield cfg, moto_server, emr, base
        finally:
            services.down(cfg, report=lambda _: None)
            emr.stop()
            shutil.rmtree(STATE, ignore_errors=True)


def run_notebook(name: str, base, **parameters) -> dict:
    executed = runner.execute(ROOT / "notebooks" / name, base / name, {"LAB_PROFILE": "aws", "LAB_SCALE": "smoke",
                                                                        **parameters})
    return json.loads(executed.read_text())


def printed(nb: dict) -> str:
    return "\n".join("".join(out.get("text", "")) for cell in nb["cells"] for out in cell.get("outputs", []))


def test_rehearsal_01_estimates_then_provisions_and_starts_airflow_on_aws(rehearsal):
    cfg, moto, _, base = rehearsal
    nb = run_notebook("01_provisioning.ipynb", base, CONFIRM=True, ALLOW_CIDR=CIDR)
    text = printed(nb)
    assert text.index("Cost estimate") < text.index("change(s); outputs")       # the price before anything is made
    assert "rehearsal: no PostgreSQL answers at" in text                        # named, not faked
    out = outputs.read(cfg)
    assert moto.client("rds").describe_db_clusters()["DBClusters"][0]["Endpoint"] == out["aurora_host"]
    stored = {c["connection_id"]: c for c in services.get(cfg, "airflow").api().get("connections")["connections"]}
    extra = json.loads(stored["aws_default"]["extra"])
    assert extra == {"region_name": REGION, "endpoint_url": moto.url,
                     "service_config": {"emr": {"endpoint_url": rehearsal[2].url}}}
    assert stored["mysql_default"]["host"] == out["aurora_host"]


def test_rehearsal_emr_dag_creates_the_cluster_with_what_provisioning_made_and_always_terminates_it(rehearsal):
    cfg, moto, emr, _ = rehearsal
    api = services.get(cfg, "airflow").api()
    api.wait_for_dag(DAG_ID, timeout=180)
    # Data, not code: the lab's endpoint starts a cluster at once; the aws value (60 s) is for EMR's minutes.
    api.upsert("variables", [{"key": "EMR_POKE_INTERVAL", "value": "2"}])
    api.unpause(DAG_ID)
    run_id = api.trigger(DAG_ID, logical_date=f"{RUN_DATE}T00:00:00Z")
    run = api.follow(DAG_ID, run_id, timeout=600, progress=False, interval=1)
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, run_id)}
    # The one thing that cannot run offline: the step (below). Everything around it ran against the API.
    assert (run["state"], states) == ("failed", {
        "start_job": "success", "create_emr_cluster": "success", "add_emr_step": "success",
        "first_step": "success", "monitor_emr_step": "failed", "terminate_cluster": "success", "end_job": "upstream_failed"})

    out, client = outputs.read(cfg), emr.client()
    cluster = terminated_cluster(client, f"{DAG_ID} {RUN_DATE}")
    assert_made_of_provisioned_resources(cluster, out, moto)

    [step] = client.list_steps(ClusterId=cluster["Id"])["Steps"]
    args = step["Config"]["Args"]
    assert_in_bucket(moto, out["bucket"], args[args.index("--jars") + 1], args[args.index("--input") - 1])
    keys = {o["Key"] for o in moto.client("s3").list_objects_v2(Bucket=out["bucket"])["Contents"]}
    raw = args[args.index("--input") + 1].split("/", 3)[3]
    assert any(k.startswith(raw + "/") for k in keys)
    assert args[args.index("--jdbc-url") + 1] == (f"jdbc:mysql://{out['aurora_host']}:{out['aurora_port']}/airflow"
                                                  "?sslMode=trust&permitMysqlScheme=true")
    # Offline, the endpoint looks for the objects in its own bucket folders: moto's are out of its reach.
    assert step["Status"]["State"] == "FAILED"
    assert "does not exist (local bucket file" in step["Status"]["FailureDetails"]["Reason"]


def test_rehearsal_workshop_dag_runs_its_steps_on_emr_with_what_provisioning_made(rehearsal):
    """On aws the workshop DAG is dags/aws/'s: the day's rows into PostgreSQL, then a cluster with two steps.

    No PostgreSQL answers behind moto's RDS endpoint name, so for this run `postgres_default` points at the lab's
    own PostgreSQL (data, not code: the DAG's first task really generates the day there, and the import step names
    that connection). The steps then fail at their first S3 object, as the EMR job's does (module docstring)."""
    cfg, moto, emr, _ = rehearsal
    api, values = services.get(cfg, "airflow").api(), connections.variables(cfg)
    api.wait_for_dag(WORKSHOP, timeout=180)
    tasks = {t["task_id"] for t in api.get(f"dags/{WORKSHOP}/tasks")["tasks"]}
    assert tasks == {"generate_interval_rows", "create_cluster", "add_steps", "name_steps", "watch_import",
                     "watch_aggregate", "terminate_cluster"}
    rds = connections.get(cfg, "postgres").record()
    assert rds["host"] == outputs.read(cfg)["postgres_host"]
    # on aws the task's hook verifies RDS's certificate (sslmode verify-full against the RDS CA bundle): the stand-in
    # is not RDS and has no such certificate, so its connection goes without that extra
    assert json.loads(rds["extra"])["sslmode"] == "verify-full"
    stand_in = dict(rds, host=LOOPBACK, port=cfg.ports["postgres"], password=secrets.get(cfg, "postgres_airline"),
                    extra="{}")
    api.upsert("connections", [stand_in])
    api.upsert("variables", [{"key": "EMR_POKE_INTERVAL", "value": "2"}])
    api.unpause(WORKSHOP)
    try:
        run_id = api.trigger(WORKSHOP, logical_date="2021-01-03T00:00:00Z")      # the day before: 2021-01-02
        run = api.follow(WORKSHOP, run_id, timeout=600, progress=False, interval=1)
    finally:
        api.pause(WORKSHOP)
        api.upsert("connections", [rds])
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances(WORKSHOP, run_id)}
    assert (run["state"], states) == ("failed", {
        "generate_interval_rows": "success", "create_cluster": "success", "add_steps": "success",
        "name_steps": "success", "watch_import": "failed", "watch_aggregate": "upstream_failed", "terminate_cluster": "success"})
    with psycopg2.connect(host=LOOPBACK, port=cfg.ports["postgres"], dbname=rds["schema"], user=rds["login"],
                          password=stand_in["password"]) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from tbl_airflow_dummy_daily where created >= '2021-01-02' "
                    "and created < '2021-01-03'")
        assert cur.fetchone()[0] == 144_000

    out, client = outputs.read(cfg), emr.client()
    cluster = terminated_cluster(client, f"{WORKSHOP} 2021-01-02")
    assert_made_of_provisioned_resources(cluster, out, moto)
    groups = client.list_instance_groups(ClusterId=cluster["Id"])["InstanceGroups"]
    assert [(g["InstanceGroupType"], g["RequestedInstanceCount"]) for g in groups] == \
        list(spec.WORKSHOP_EMR_INSTANCE_GROUPS)                                         # what the estimate prices
    imported, aggregated = reversed(client.list_steps(ClusterId=cluster["Id"])["Steps"])     # newest first
    assert (imported["Name"], aggregated["Name"]) == ("import_interval 2021-01-02", "aggregate_dummy 2021-01-02")
    args = imported["Config"]["Args"]
    assert_in_bucket(moto, out["bucket"], args[args.index("--jars") + 1], args[args.index("--jdbc-url") - 1])
    assert args[args.index("--jars") + 1] == values["POSTGRES_JDBC_JAR_PATH"]
    assert args[args.index("--jdbc-url") + 1] == \
        f"jdbc:postgresql://{LOOPBACK}:{cfg.ports['postgres']}/airline_db?sslmode=require"   # TLS, no fallback
    assert args[args.index("--expect-rows") + 1] == "144000"                     # generate_interval_rows' count
    landed = f"{values['LANDING_ZONE']}/{WORKSHOP}/tbl_airflow_dummy_daily/ds=2021-01-02"
    assert args[args.index("--target-dir") + 1] == landed and landed.startswith(f"s3://{out['bucket']}/")
    # the import's login is a read-only user's secret, named (never its password); the EC2 role's policy that
    # reads it is tested in test_aws_policies (moto does not evaluate IAM)
    credentials = args[args.index("--credentials") + 1]
    assert credentials == values["WORKSHOP_JDBC_CREDENTIALS"]
    secret_id = credentials.split("/", 3)[3]
    assert moto.client("secretsmanager").describe_secret(SecretId=secret_id)["Name"] == secret_id
    agg = aggregated["Config"]["Args"]
    assert_in_bucket(moto, out["bucket"], agg[agg.index("--input") - 1])
    assert agg[agg.index("--input") + 1] == landed
    # offline the endpoint cannot read moto's objects: the import fails at its script, the aggregation is cancelled
    assert imported["Status"]["State"] == "FAILED" and aggregated["Status"]["State"] == "CANCELLED"
    assert "does not exist (local bucket file" in imported["Status"]["FailureDetails"]["Reason"]


def terminated_cluster(client, name: str) -> dict:
    [summary] = [c for c in client.list_clusters()["Clusters"] if c["Name"] == name]
    client.get_waiter("cluster_terminated").wait(ClusterId=summary["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    cluster = client.describe_cluster(ClusterId=summary["Id"])["Cluster"]
    assert cluster["Status"]["StateChangeReason"]["Code"] == "USER_REQUEST"           # by terminate_cluster
    return cluster


def assert_made_of_provisioned_resources(cluster: dict, out: dict, moto) -> None:
    """Every name in the cluster's request is a resource provisioning made in "AWS"."""
    attrs = cluster["Ec2InstanceAttributes"]
    ec2, iam = moto.client("ec2"), moto.client("iam")
    assert attrs["Ec2SubnetId"] == out["subnet_id"]
    assert ec2.describe_subnets(SubnetIds=[attrs["Ec2SubnetId"]])["Subnets"]
    groups = {attrs["EmrManagedMasterSecurityGroup"], attrs["EmrManagedSlaveSecurityGroup"]}
    assert groups == {out["emr_master_security_group"], out["emr_slave_security_group"]}
    assert len(ec2.describe_security_groups(GroupIds=sorted(groups))["SecurityGroups"]) == 2
    assert iam.get_role(RoleName=cluster["ServiceRole"])["Role"]["RoleName"] == spec.EMR_SERVICE_ROLE
    assert iam.get_instance_profile(InstanceProfileName=attrs["IamInstanceProfile"])["InstanceProfile"]["Roles"]
    assert {"Key": spec.TAG_KEY, "Value": spec.TAG_VALUE} in cluster["Tags"] and spec.EMR_MANAGED_TAG in cluster["Tags"]
    assert cluster["LogUri"] == out["emr_log_uri"]


def assert_in_bucket(moto, bucket: str, *uris: str) -> None:
    keys = {o["Key"] for o in moto.client("s3").list_objects_v2(Bucket=bucket)["Contents"]}
    for uri in uris:
        assert uri.startswith(f"s3://{bucket}/") and uri.split("/", 3)[3] in keys, uri


def test_rehearsal_no_password_in_s3_xcoms_task_logs_or_command_lines(rehearsal):
    cfg, moto, emr, base = rehearsal
    sm, s3, api = moto.client("secretsmanager"), moto.client("s3"), services.get(cfg, "airflow").api()
    passwords = {s["Name"]: json.loads(sm.get_secret_value(SecretId=s["ARN"])["SecretString"])["password"]
                 for s in sm.list_secrets()["SecretList"]}
    assert set(passwords) == {name for db in spec.DATABASES for _, name in db.logins()}      # the master's too
    bucket = outputs.read(cfg)["bucket"]
    places = {f"s3://{bucket}/{o['Key']}": s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
              for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    for dag_id in (DAG_ID, WORKSHOP):
        for run in api.dag_runs(dag_id):
            places.update(xcoms(api, dag_id, run["dag_run_id"]))
    places.update(files_under(services.get(cfg, "airflow").dir / "logs"))     # every task's log, every try
    client = emr.client()
    for cluster in client.list_clusters()["Clusters"]:                         # what EMR shows and runs
        for step in client.list_steps(ClusterId=cluster["Id"])["Steps"]:
            places[f"step {step['Id']} command line"] = " ".join(step["Config"]["Args"]).encode()
    places.update(files_under(emr.state_dir))                                   # the endpoint's records, step logs
    places["notebook 01's outputs"] = (base / "01_provisioning.ipynb").read_bytes()
    places["outputs.json"] = outputs.path(cfg).read_bytes()
    assert len(places) > 20 and any(k.startswith("xcom ") for k in places)
    assert leaks(passwords, places) == []


def test_rehearsal_08_tears_everything_down_and_nothing_is_left_in_any_service(rehearsal):
    cfg, moto, emr, base = rehearsal
    nb = run_notebook("09_teardown.ipynb", base)
    assert "deleted 0, left 0" in printed(nb)                     # the second teardown finds nothing
    # before anything, the teardown paused the DAGs through Airflow's API and stopped that Airflow; the second
    # teardown found it stopped
    said = [line for line in printed(nb).splitlines() if "Airflow" in line or "pause" in line]
    assert any(line.startswith("paused the lab's DAGs (") for line in said), said
    assert "stopped the lab's Airflow" in printed(nb) and "the lab's Airflow is not running here" in printed(nb)
    assert not outputs.path(cfg).exists()

    s3, iam, ec2 = moto.client("s3"), moto.client("iam"), moto.client("ec2")
    rds, sm = moto.client("rds"), moto.client("secretsmanager")
    assert s3.list_buckets()["Buckets"] == []
    assert iam.list_roles()["Roles"] == [] and iam.list_instance_profiles()["InstanceProfiles"] == []
    assert iam.list_policies(Scope="Local")["Policies"] == []
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]
    lab_tags = {spec.TAG_KEY, spec.EMR_MANAGED_TAG["Key"], spec.SUBNET_MARKER_TAG["Key"]}
    assert not [t for s in ec2.describe_subnets()["Subnets"] for t in s.get("Tags", []) if t["Key"] in lab_tags]
    assert rds.describe_db_instances()["DBInstances"] == [] and rds.describe_db_clusters()["DBClusters"] == []
    assert rds.describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert sm.list_secrets(IncludePlannedDeletion=True)["SecretList"] == []
    assert {c["Status"]["State"] for c in emr.client().list_clusters()["Clusters"]} == {"TERMINATED"}
    assert aws.inventory(cfg).empty
    # and the lab's own Airflow and PostgreSQL that 01 started here are stopped by 09 too
    assert [s.pid for s in services.status(cfg)] == [None] * 4
    assert not [p for p in psutil.process_iter(["environ"]) if _in_lab(p, cfg)]


def _in_lab(proc, cfg) -> bool:
    try:
        return (proc.info["environ"] or {}).get("LAB_STATE_DIR") == str(cfg.state_dir) and proc.pid != os.getpid()
    except psutil.Error:
        return False
