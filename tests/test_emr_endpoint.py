"""The local EMR endpoint against boto3 (what Airflow's Amazon provider uses): every action, the waiters,
real Spark steps that succeed and fail, ActionOnFailure, termination, idle auto-termination, restarts."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest
from botocore.exceptions import ClientError, WaiterError

import labkit
from labkit import connections, emr_client, services
from labkit.emr import bucket
from labkit.emr_client import retail

from helpers import free_port, processes_with

pytestmark = pytest.mark.services
FAST = {"Delay": 1, "MaxAttempts": 180}
SLEEPER = """\
import time
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
spark.range(10).count()
print("sleeper ready", flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def cfg():
    cfg = labkit.load()
    services.up(cfg, only=["mariadb", "emr"], report=lambda _: None)
    retail.generate(cfg, progress=False)
    emr_client.stage_job(cfg)
    return cfg


@pytest.fixture(scope="module")
def client(cfg):
    return emr_client.client(cfg)


def cluster(client, *, keep=True, steps=(), **extra) -> str:
    request = {"Name": "test", "ReleaseLabel": "emr-7.13.0", "LogUri": "s3://lab-bucket/emr-logs/",
               "Instances": {"KeepJobFlowAliveWhenNoSteps": keep, "Ec2SubnetId": "subnet-local",
                             "InstanceGroups": [{"InstanceRole": "MASTER", "InstanceType": "m5.xlarge",
                                                 "InstanceCount": 1}]},
               "Steps": list(steps), **extra}
    return client.run_job_flow(**request)["JobFlowId"]


def bash(name: str, script: str, action: str = "CONTINUE") -> dict:
    return {"Name": name, "ActionOnFailure": action,
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["bash", "-c", script]}}


def quantity_step(cfg, name: str, run_date: str, action: str = "CONTINUE", input_uri: str | None = None) -> dict:
    v, uris = connections.variables(cfg), emr_client.job_uris(cfg)
    return {"Name": name, "ActionOnFailure": action, "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [
        "spark-submit", "--deploy-mode", "cluster", "--jars", uris["jar"], uris["job"],
        "--input", input_uri or v["RAW_DATA_PATH"], "--jdbc-url",
        f"jdbc:mysql://{v['AURORA_ENDPOINT']}/airflow{v['MYSQL_JDBC_PARAMETERS']}",
        "--credentials", v["EMR_JDBC_CREDENTIALS"], "--run-date", run_date]}}


def state(client, cluster_id: str) -> str:
    return client.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]


def step_state(client, cluster_id: str, step_id: str) -> dict:
    return client.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Status"]


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_cluster_lifecycle_and_boto3_waiters(client):
    cid = cluster(client)
    seen = [state(client, cid)]
    client.get_waiter("cluster_running").wait(ClusterId=cid, WaiterConfig=FAST)
    described = client.describe_cluster(ClusterId=cid)["Cluster"]
    assert seen[0] == "STARTING" and described["Status"]["State"] == "WAITING"
    assert described["LogUri"] == "s3://lab-bucket/emr-logs/"
    assert described["ClusterArn"].startswith("arn:aws:elasticmapreduce:us-east-1:")
    assert described["Ec2InstanceAttributes"]["Ec2SubnetId"] == "subnet-local"
    assert described["AutoTerminate"] is False
    timeline = described["Status"]["Timeline"]
    assert timeline["ReadyDateTime"] > timeline["CreationDateTime"]
    listed = client.list_clusters(ClusterStates=["WAITING"])["Clusters"]
    assert cid in [c["Id"] for c in listed]
    assert cid not in [c["Id"] for c in client.list_clusters(ClusterStates=["TERMINATED"])["Clusters"]]

    client.terminate_job_flows(JobFlowIds=[cid])
    assert state(client, cid) == "TERMINATING"
    client.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig=FAST)
    status = client.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert status["State"] == "TERMINATED"
    assert status["StateChangeReason"]["Code"] == "USER_REQUEST"
    assert status["Timeline"]["EndDateTime"] >= status["Timeline"]["ReadyDateTime"]
    client.terminate_job_flows(JobFlowIds=[cid])           # terminating a terminated cluster is a no-op, as on EMR


def test_a_spark_step_writes_emr_table_and_the_next_step_waits_for_it(cfg, client):
    """One Spark step (each is a cold spark-submit); the step queued behind it is a shell step, which proves the
    queue as well as a second Spark step did. A rerun of the date leaving one row: tests/test_emr_dag.py."""
    cid = cluster(client, keep=False, steps=[quantity_step(cfg, "first", "2024-03-31"), bash("next", "true")])
    steps = client.list_steps(ClusterId=cid)["Steps"]
    assert [s["Name"] for s in steps] == ["next", "first"]           # newest first, as EMR lists them
    first, after = steps[1]["Id"], steps[0]["Id"]
    client.get_waiter("step_complete").wait(ClusterId=cid, StepId=first, WaiterConfig=FAST)
    client.get_waiter("step_complete").wait(ClusterId=cid, StepId=after, WaiterConfig=FAST)
    one, two = step_state(client, cid, first), step_state(client, cid, after)
    assert two["Timeline"]["StartDateTime"] >= one["Timeline"]["EndDateTime"]    # never two at once
    expected = retail.expected_quantity_sum(retail.rows_for(cfg))
    assert emr_client.results(cfg, "2024-03-31") == [("2024-03-31", expected)]

    # no KeepJobFlowAliveWhenNoSteps: the cluster ends by itself when its steps are done
    client.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig=FAST)
    reason = client.describe_cluster(ClusterId=cid)["Cluster"]["Status"]["StateChangeReason"]
    assert reason["Code"] == "ALL_STEPS_COMPLETED"
    # the logs are where EMR puts them: <LogUri>/<cluster-id>/steps/<step-id>/stdout.gz
    log_dir = bucket.local_path(cfg.s3_dir, f"s3://lab-bucket/emr-logs/{cid}/steps/{first}/")
    assert {"stdout.gz", "stderr.gz", "controller.gz"} <= {p.name for p in log_dir.iterdir()}
    assert f"= {expected:,} for 2024-03-31" in gzip.decompress((log_dir / "stdout.gz").read_bytes()).decode()
    controller = emr_client.step_log(cfg, "s3://lab-bucket/emr-logs/", cid, first, "controller")
    command = next(line for line in controller.splitlines() if "local command:" in line)
    assert "--master local[" in command and "--deploy-mode" not in command


def test_failing_spark_step_explains_itself_and_continue_runs_the_next(cfg, client):
    cid = cluster(client, steps=[quantity_step(cfg, "bad input", "2024-04-01", "CONTINUE",
                                               input_uri="s3://lab-bucket/raw/no-such-folder"),
                                 bash("after", "echo still running")])
    bad, after = [s["Id"] for s in reversed(client.list_steps(ClusterId=cid)["Steps"])]
    with pytest.raises(WaiterError, match="FAILED"):
        client.get_waiter("step_complete").wait(ClusterId=cid, StepId=bad, WaiterConfig=FAST)
    details = step_state(client, cid, bad)["FailureDetails"]
    assert "PATH_NOT_FOUND" in details["Reason"] or "does not exist" in details["Reason"], details
    assert "s3://lab-bucket/raw/no-such-folder" in details["Reason"]      # the step's URI, not a local path
    assert details["LogFile"] == f"s3://lab-bucket/emr-logs/{cid}/steps/{bad}/stderr.gz"
    assert bucket.local_path(cfg.s3_dir, details["LogFile"]).exists()
    client.get_waiter("step_complete").wait(ClusterId=cid, StepId=after, WaiterConfig=FAST)
    wait_for(lambda: state(client, cid) == "WAITING", what="WAITING after the steps")
    assert emr_client.results(cfg, "2024-04-01") == []
    client.terminate_job_flows(JobFlowIds=[cid])


def test_action_on_failure_cancel_and_wait_and_terminate_cluster(client):
    cid = cluster(client, steps=[bash("fails", "echo boom >&2; exit 3", "CANCEL_AND_WAIT"), bash("next", "true")])
    fails, nxt = [s["Id"] for s in reversed(client.list_steps(ClusterId=cid)["Steps"])]
    wait_for(lambda: step_state(client, cid, nxt)["State"] == "CANCELLED", what="the next step cancelled")
    status = step_state(client, cid, fails)
    assert status["State"] == "FAILED" and status["FailureDetails"]["Reason"] == "boom"
    wait_for(lambda: state(client, cid) == "WAITING", what="WAITING after CANCEL_AND_WAIT")
    client.terminate_job_flows(JobFlowIds=[cid])

    cid = cluster(client, steps=[bash("fails", "exit 1", "TERMINATE_CLUSTER"), bash("never", "true")])
    with pytest.raises(WaiterError, match="TERMINATED_WITH_ERRORS"):
        client.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig=FAST)
    described = client.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
    assert described["StateChangeReason"]["Code"] == "STEP_FAILURE"
    assert [s["Status"]["State"] for s in client.list_steps(ClusterId=cid)["Steps"]] == ["CANCELLED", "FAILED"]


def test_a_hung_step_ends_at_the_clusters_yarn_application_lifetime(client):
    """Both DAGs' clusters set YARN's maximum application lifetime (EMR_STEP_LIFETIME_SECONDS): a hung step's
    application is ended and the step FAILED, its ActionOnFailure applies, the cluster goes idle (and its
    AutoTerminationPolicy ends it), whether or not Airflow is still watching."""
    from labkit.emr.engine import LIFETIME_PROPERTY

    lifetime = [{"Classification": "capacity-scheduler", "Properties": {LIFETIME_PROPERTY: "2"}}]
    cid = cluster(client, steps=[bash("hung", "sleep 600", "CANCEL_AND_WAIT"), bash("after", "true")],
                  Configurations=lifetime)
    hung, after = [s["Id"] for s in reversed(client.list_steps(ClusterId=cid)["Steps"])]
    wait_for(lambda: step_state(client, cid, hung)["State"] == "FAILED", 60, "the hung step to be ended")
    status = step_state(client, cid, hung)
    assert status["FailureDetails"]["Reason"] == ("YARN ended the step's application after its lifetime of 2 s "
                                                  f"(capacity-scheduler {LIFETIME_PROPERTY})")
    assert step_state(client, cid, after)["State"] == "CANCELLED"
    wait_for(lambda: state(client, cid) == "WAITING", what="WAITING: idle, for the auto-termination policy")
    client.terminate_job_flows(JobFlowIds=[cid])


def test_terminate_kills_a_running_spark_step(cfg, client):
    script = bucket.upload(cfg, _write(cfg.state_dir / "sleeper.py", SLEEPER), "s3://lab-bucket/tests/sleeper.py")
    local_script = str(bucket.local_path(cfg.s3_dir, script))
    cid = cluster(client, steps=[{"Name": "sleeper", "ActionOnFailure": "CONTINUE", "HadoopJarStep": {
        "Jar": "command-runner.jar", "Args": ["spark-submit", script]}}])
    sid = client.list_steps(ClusterId=cid)["Steps"][0]["Id"]
    stdout = bucket.local_path(cfg.s3_dir, f"s3://lab-bucket/emr-logs/{cid}/steps/{sid}/stdout")
    wait_for(lambda: stdout.exists() and "sleeper ready" in stdout.read_text(), 180, "the Spark step to start")
    assert step_state(client, cid, sid)["State"] == "RUNNING" and state(client, cid) == "RUNNING"
    running = processes_with(local_script)
    assert running, "no process runs the step"

    client.terminate_job_flows(JobFlowIds=[cid])
    client.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig=FAST)
    assert step_state(client, cid, sid)["State"] == "CANCELLED"
    assert not [p for p in running if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not processes_with(local_script)


def test_idle_auto_termination_and_its_validation(tmp_path):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "labkit.emr.server", "--state-dir", str(tmp_path),
                               "--port", str(port), "--transition-seconds", "0.2", "--idle-timeout-factor", "0.02"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import boto3

        client = boto3.client("emr", endpoint_url=f"http://127.0.0.1:{port}", region_name="eu-west-1",
                              aws_access_key_id="lab", aws_secret_access_key="lab")
        wait_for(lambda: _answers(port), 20, "the endpoint")
        idle = cluster(client, AutoTerminationPolicy={"IdleTimeout": 60})      # 60 s x 0.02 = 1.2 s here
        forever = cluster(client)
        assert client.get_auto_termination_policy(ClusterId=idle)["AutoTerminationPolicy"] == {"IdleTimeout": 60}
        client.get_waiter("cluster_terminated").wait(ClusterId=idle, WaiterConfig=FAST)
        assert "idle" in client.describe_cluster(ClusterId=idle)["Cluster"]["Status"]["StateChangeReason"]["Message"]
        assert state(client, forever) == "WAITING"
        assert client.describe_cluster(ClusterId=idle)["Cluster"]["ClusterArn"].split(":")[3] == "eu-west-1"
        with pytest.raises(ClientError) as err:
            cluster(client, AutoTerminationPolicy={"IdleTimeout": 30})
        assert err.value.response["Error"]["Code"] == "ValidationException"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_state_survives_a_restart_and_live_clusters_do_not_come_back(cfg, client):
    done = cluster(client)
    client.get_waiter("cluster_running").wait(ClusterId=done, WaiterConfig=FAST)
    client.terminate_job_flows(JobFlowIds=[done])
    client.get_waiter("cluster_terminated").wait(ClusterId=done, WaiterConfig=FAST)
    before = client.describe_cluster(ClusterId=done)["Cluster"]
    marker = f"sleep {300 + int(time.time() * 1000) % 997}"      # ours, not another checkout's test step
    alive = cluster(client, steps=[bash("sleep", marker)])
    step = client.list_steps(ClusterId=alive)["Steps"][0]["Id"]
    wait_for(lambda: step_state(client, alive, step)["State"] == "RUNNING", what="the step to run")

    endpoint = services.get(cfg, "emr")
    endpoint.stop()
    services.up(cfg, only=["emr"], report=lambda _: None)

    assert client.describe_cluster(ClusterId=done)["Cluster"] == before
    status = client.describe_cluster(ClusterId=alive)["Cluster"]["Status"]
    assert status["State"] == "TERMINATED_WITH_ERRORS" and status["StateChangeReason"]["Code"] == "INTERNAL_ERROR"
    assert step_state(client, alive, step)["State"] == "CANCELLED"
    assert {done, alive} <= {c["Id"] for c in client.list_clusters()["Clusters"]}
    assert not processes_with(marker)


def test_errors_carry_the_real_emr_codes(cfg, client):
    def code(call, **kwargs) -> str:
        with pytest.raises(ClientError) as err:
            call(**kwargs)
        return err.value.response["Error"]["Code"]

    assert code(client.describe_cluster, ClusterId="j-NOSUCHCLUSTER") == "InvalidRequestException"
    cid = cluster(client)
    assert code(client.describe_step, ClusterId=cid, StepId="s-NOSUCHSTEP") == "InvalidRequestException"
    assert code(client.add_job_flow_steps, JobFlowId=cid,
                Steps=[{**bash("x", "true"), "ActionOnFailure": "EXPLODE"}]) == "ValidationException"
    assert code(client.run_job_flow, Name="x", LogUri="/tmp/logs", Instances={}) == "ValidationException"
    assert code(client.terminate_job_flows, JobFlowIds=["j-NOSUCHCLUSTER"]) == "ValidationException"
    client.set_termination_protection(JobFlowIds=[cid], TerminationProtected=True)
    assert code(client.terminate_job_flows, JobFlowIds=[cid]) == "ValidationException"
    client.set_termination_protection(JobFlowIds=[cid], TerminationProtected=False)
    client.terminate_job_flows(JobFlowIds=[cid])
    client.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig=FAST)
    assert code(client.add_job_flow_steps, JobFlowId=cid, Steps=[bash("late", "true")]) == "ValidationException"
    # a step whose script is not in the bucket fails with a message that says so
    cid = cluster(client, keep=False, steps=[{"Name": "missing", "ActionOnFailure": "CONTINUE", "HadoopJarStep": {
        "Jar": "command-runner.jar", "Args": ["spark-submit", "s3://lab-bucket/no/such/job.py"]}}])
    sid = client.list_steps(ClusterId=cid)["Steps"][0]["Id"]
    wait_for(lambda: step_state(client, cid, sid)["State"] == "FAILED", what="the step to fail")
    assert "s3://lab-bucket/no/such/job.py does not exist" in step_state(client, cid, sid)["FailureDetails"]["Reason"]
    # the wire format: unknown actions and broken JSON answer HTTP 400 with __type
    for target, body, expected in (("DescribeJobFlowz", b"{}", "UnknownOperationException"),
                                   ("ListClusters", b"{not json", "SerializationException")):
        assert _raw(cfg, target, body) == (400, expected)


def test_requests_must_be_signed_with_the_labs_key(cfg):
    """A step runs any command: only holders of the aws_default key pair may add one."""
    import boto3

    assert _raw(cfg, "ListClusters", b"{}", sign=False) == (403, "MissingAuthenticationTokenException")
    url, region = emr_client.endpoint_url(cfg), cfg.region
    for key, secret, expected in (("lab-local", "not-the-secret", "InvalidSignatureException"),
                                  ("someone-else", "x", "UnrecognizedClientException")):
        other = boto3.client("emr", endpoint_url=url, region_name=region, aws_access_key_id=key,
                             aws_secret_access_key=secret)
        with pytest.raises(ClientError) as err:
            other.list_clusters()
        assert err.value.response["Error"]["Code"] == expected


def test_the_amazon_provider_reaches_the_endpoint_through_aws_default(cfg):
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
    from airflow.sdk import Connection

    record = next(c for c in connections.connections(cfg) if c["connection_id"] == "aws_default")
    conn = Connection(conn_id="aws_default", conn_type="aws", login=record["login"], password=record["password"],
                      extra=record["extra"])
    wrapper = AwsConnectionWrapper(conn)
    assert wrapper.get_service_endpoint_url("emr") == emr_client.endpoint_url(cfg)
    assert wrapper.get_service_endpoint_url("s3") is None          # only EMR is redirected
    assert wrapper.region_name == cfg.region


def _raw(cfg, action: str, body: bytes, sign: bool = True) -> tuple[int, str]:
    """POST one request by hand (signed with the lab's key like boto3 does, or not); (status, __type)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    record = next(c for c in connections.connections(cfg) if c["connection_id"] == "aws_default")
    request = AWSRequest(method="POST", url=emr_client.endpoint_url(cfg) + "/", data=body, headers={
        "X-Amz-Target": f"ElasticMapReduce.{action}", "Content-Type": "application/x-amz-json-1.1"})
    if sign:
        SigV4Auth(Credentials(record["login"], record["password"]), "elasticmapreduce", cfg.region).add_auth(request)
    prepared = urllib.request.Request(request.url, data=body, method="POST", headers=dict(request.headers))
    try:
        with urllib.request.urlopen(prepared, timeout=10) as resp:
            return resp.status, ""
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)["__type"]


def _write(path, text: str):
    path.write_text(text)
    return path


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=2):
            return True
    except OSError:
        return False


def test_a_malformed_cluster_spark_default_is_refused_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "labkit.emr.server", "--state-dir", str(tmp_path), "--port", "1",
                          "--spark-default=driver.memory"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "'driver.memory': expected spark.<name>=<value>" in out.stderr.strip().splitlines()[-1]
