"""Every answer of the local EMR endpoint, checked against botocore's EMR service model.

A real boto3 client talks HTTP (SigV4-signed) to a real endpoint started here; a hook sees the raw body of
every response and checks it strictly against the operation's output shape: required members present,
no member the model does not have, types, enums, lengths and ranges. Errors must be `{"__type", "Message"}`
with a code EMR can answer. The scenario drives every implemented operation through the states a cluster
goes through (STARTING, WAITING, RUNNING, TERMINATED) and the three forms of `Instances`, and the test
fails if any operation the endpoint implements was never checked.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import ClientError

from labkit.emr import api
from helpers import free_port

MODEL = botocore.session.get_session().get_service_model("emr")
COMMON_ERRORS = {"ValidationException", "UnknownOperationException", "SerializationException"}
FAST = {"Delay": 1, "MaxAttempts": 60}
KEY, SECRET = "lab-shapes", "shapes-secret-not-a-real-one"

# the cluster the DAG creates (dags/emr_ephemeral_job.py's JOB_FLOW_OVERRIDES, rendered)
DAG_CLUSTER = {
    "Name": "emr_ephemeral_job 2024-03-31", "ReleaseLabel": "emr-7.13.0", "LogUri": "s3://lab-bucket/emr-logs/",
    "Applications": [{"Name": "Spark"}],
    "Instances": {"InstanceGroups": [
        {"Name": "Primary", "Market": "ON_DEMAND", "InstanceRole": "MASTER", "InstanceType": "m5.xlarge",
         "InstanceCount": 1},
        {"Name": "Core", "Market": "ON_DEMAND", "InstanceRole": "CORE", "InstanceType": "m5.xlarge",
         "InstanceCount": 1},
        {"Name": "Task", "Market": "ON_DEMAND", "InstanceRole": "TASK", "InstanceType": "m5.xlarge",
         "InstanceCount": 1}],
        "KeepJobFlowAliveWhenNoSteps": True, "TerminationProtected": False, "Ec2SubnetId": "subnet-local",
        "EmrManagedMasterSecurityGroup": "sg-local-emr-master", "EmrManagedSlaveSecurityGroup": "sg-local-emr-slave"},
    "AutoTerminationPolicy": {"IdleTimeout": 900}, "JobFlowRole": "emr-ec2-role", "ServiceRole": "emr-service-role",
    "VisibleToAllUsers": True, "Tags": [{"Key": "lab", "Value": "airflow-lab"}],
    "BootstrapActions": [{"Name": "noop", "ScriptBootstrapAction": {"Path": "s3://lab-bucket/bootstrap.sh",
                                                                   "Args": ["--quiet"]}}],
}
SIMPLE = {"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": "m5.2xlarge", "InstanceCount": 3,
          "KeepJobFlowAliveWhenNoSteps": True}
FLEETS = {"InstanceFleets": [
    {"Name": "primary", "InstanceFleetType": "MASTER", "TargetOnDemandCapacity": 1,
     "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}]},
    {"Name": "core", "InstanceFleetType": "CORE", "TargetOnDemandCapacity": 2, "TargetSpotCapacity": 4,
     "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge", "WeightedCapacity": 2,
                              "BidPriceAsPercentageOfOnDemandPrice": 50}]}],
    "KeepJobFlowAliveWhenNoSteps": True}


# -- the validator ----------------------------------------------------------------------------------------------
def violations(shape, value, path: str = "") -> list[str]:
    """What in `value` (a decoded JSON 1.1 body) does not fit botocore `shape`; [] when it fits."""
    kind, meta, out = shape.type_name, shape.metadata, []
    if value is None:
        return [f"{path}: null"]
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, expected an object"]
        out += [f"{path}.{k}: not a member of {shape.name}" for k in value if k not in shape.members]
        out += [f"{path}.{k}: required by {shape.name}, missing" for k in shape.required_members if k not in value]
        for key, item in value.items():
            if key in shape.members:
                out += violations(shape.members[key], item, f"{path}.{key}")
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__}, expected a list"]
        for i, item in enumerate(value):
            out += violations(shape.member, item, f"{path}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, expected a map"]
        for key, item in value.items():
            out += violations(shape.key, key, f"{path}<key>") + violations(shape.value, item, f"{path}[{key}]")
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{path}: {value!r} is not a string"]
        if shape.enum and value not in shape.enum:
            out.append(f"{path}: {value!r} not in {shape.name} {shape.enum}")
        if len(value) < meta.get("min", 0) or len(value) > meta.get("max", float("inf")):
            out.append(f"{path}: length {len(value)} outside {shape.name}'s bounds")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{path}: {value!r} is not an integer"]
        if value < meta.get("min", -2 ** 63) or value > meta.get("max", 2 ** 63):
            out.append(f"{path}: {value} outside {shape.name}'s range")
    elif kind in ("double", "float", "timestamp"):     # JSON 1.1 timestamps are epoch seconds
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return [f"{path}: {value!r} is not a number"]
        if kind == "timestamp" and not 1e9 < value < 1e10:
            out.append(f"{path}: {value!r} is not epoch seconds")
    elif kind == "boolean":
        if not isinstance(value, bool):
            out.append(f"{path}: {value!r} is not a boolean")
    else:
        out.append(f"{path}: unexpected shape type {kind}")
    return out


class Checker:
    """Checks every response the client receives; remembers which operations answered successfully."""

    def __init__(self):
        self.ok: dict[str, int] = {}
        self.errors: dict[str, set] = {}
        self.problems: list[str] = []

    def __call__(self, http_response, model, **_):
        body = json.loads(http_response.content or b"{}")
        if http_response.status_code == 200:
            output = model.output_shape
            found = violations(output, body, model.name) if output is not None else (
                [f"{model.name}: {body!r} from an operation without output"] if body else [])
            self.problems += found
            self.ok[model.name] = self.ok.get(model.name, 0) + 1
            return
        allowed = {e.name for e in model.error_shapes} | COMMON_ERRORS
        if set(body) != {"__type", "Message"} or not isinstance(body.get("Message"), str):
            self.problems.append(f"{model.name}: error body {body!r} is not {{__type, Message}}")
        elif body["__type"] not in allowed:
            self.problems.append(f"{model.name}: error {body['__type']} is not one EMR answers ({sorted(allowed)})")
        self.errors.setdefault(model.name, set()).add(body.get("__type"))


def test_the_validator_refuses_what_emr_would_not_send():
    shape = MODEL.operation_model("ListInstanceGroups").output_shape
    good = {"InstanceGroups": [{"Id": "ig-1", "InstanceGroupType": "MASTER", "RunningInstanceCount": 1,
                                "Status": {"State": "RUNNING", "Timeline": {"CreationDateTime": 1.7e9}}}]}
    assert violations(shape, good) == []
    bad = {"InstanceGroups": [{"Id": "ig-1", "InstanceGroupType": "PRIMARY", "RunningInstanceCount": "1",
                               "Colour": "red",
                               "Status": {"State": "RUNNING", "Timeline": {"CreationDateTime": True}}}]}
    problems = violations(shape, bad)
    assert len(problems) == 4, problems              # enum, type, unknown member, timestamp type
    flow = MODEL.operation_model("DescribeJobFlows").output_shape
    assert any("required" in p for p in violations(flow, {"JobFlows": [{"JobFlowId": "j-1"}]}))


# -- the endpoint ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    state, port = tmp_path_factory.mktemp("emr-shapes"), free_port()
    secret_file = state / "emr-secret-key"
    secret_file.write_text(SECRET)
    server = subprocess.Popen([sys.executable, "-m", "labkit.emr.server", "--state-dir", str(state), "--port",
                               str(port), "--transition-seconds", "1.5", "--region", "eu-west-1",
                               "--access-key", KEY, "--secret-key-file", str(secret_file)],
                              env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, "the endpoint did not start"
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def checked(endpoint):
    client = boto3.client("emr", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id=KEY,
                          aws_secret_access_key=SECRET)
    checker = Checker()
    client.meta.events.register("after-call.emr", checker)
    return client, checker


def bash(name: str, script: str, action: str = "CONTINUE") -> dict:
    return {"Name": name, "ActionOnFailure": action,
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["bash", "-c", script]}}


def error_code(call, **kwargs) -> str:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"]


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def read_everything(client, cid: str) -> dict:
    """Every read-only call about one cluster (all of them go through the checker)."""
    cluster = client.describe_cluster(ClusterId=cid)["Cluster"]
    seen = {"cluster": cluster, "steps": client.list_steps(ClusterId=cid)["Steps"],
            "instances": client.list_instances(ClusterId=cid)["Instances"],
            "bootstrap": client.list_bootstrap_actions(ClusterId=cid)["BootstrapActions"],
            "flow": client.describe_job_flows(JobFlowIds=[cid])["JobFlows"][0],
            "policy": client.get_auto_termination_policy(ClusterId=cid).get("AutoTerminationPolicy")}
    for step in seen["steps"]:
        client.describe_step(ClusterId=cid, StepId=step["Id"])
    if cluster["InstanceCollectionType"] == "INSTANCE_GROUP":
        seen["groups"] = client.list_instance_groups(ClusterId=cid)["InstanceGroups"]
        assert error_code(client.list_instance_fleets, ClusterId=cid) == "InvalidRequestException"
    else:
        seen["fleets"] = client.list_instance_fleets(ClusterId=cid)["InstanceFleets"]
        assert error_code(client.list_instance_groups, ClusterId=cid) == "InvalidRequestException"
    client.list_clusters()
    return seen


def test_every_operation_answers_in_emrs_shapes(checked, endpoint, tmp_path):
    client, checker = checked
    dag = client.run_job_flow(**DAG_CLUSTER)["JobFlowId"]
    starting = read_everything(client, dag)                               # STARTING: nothing ready yet
    assert starting["cluster"]["Status"]["State"] == "STARTING"
    assert {g["Status"]["State"] for g in starting["groups"]} == {"PROVISIONING"}
    client.get_waiter("cluster_running").wait(ClusterId=dag, WaiterConfig=FAST)

    ready = read_everything(client, dag)                                  # WAITING
    groups = {g["Name"]: g for g in ready["groups"]}
    assert [(g["InstanceGroupType"], g["InstanceType"], g["RequestedInstanceCount"], g["RunningInstanceCount"],
             g["Market"], g["Status"]["State"]) for g in ready["groups"]] == [
        ("MASTER", "m5.xlarge", 1, 1, "ON_DEMAND", "RUNNING"), ("CORE", "m5.xlarge", 1, 1, "ON_DEMAND", "RUNNING"),
        ("TASK", "m5.xlarge", 1, 1, "ON_DEMAND", "RUNNING")]
    assert set(groups) == {"Primary", "Core", "Task"} and len({g["Id"] for g in ready["groups"]}) == 3
    assert len(ready["instances"]) == 3 and {i["Status"]["State"] for i in ready["instances"]} == {"RUNNING"}
    core = client.list_instances(ClusterId=dag, InstanceGroupTypes=["CORE"])["Instances"]
    assert [i["InstanceGroupId"] for i in core] == [groups["Core"]["Id"]]
    assert client.list_instances(ClusterId=dag, InstanceGroupId=groups["Task"]["Id"])["Instances"][0]["Id"] \
        in {i["Id"] for i in ready["instances"]}
    assert ready["bootstrap"] == [{"Name": "noop", "ScriptPath": "s3://lab-bucket/bootstrap.sh", "Args": ["--quiet"]}]
    flow = ready["flow"]
    assert flow["ExecutionStatusDetail"]["State"] == "WAITING"
    assert (flow["Instances"]["MasterInstanceType"], flow["Instances"]["InstanceCount"]) == ("m5.xlarge", 3)
    assert flow["Instances"]["MasterInstanceId"] in {i["Ec2InstanceId"] for i in ready["instances"]}
    attributes = ready["cluster"]["Ec2InstanceAttributes"]
    assert (attributes["EmrManagedMasterSecurityGroup"], attributes["RequestedEc2SubnetIds"]) == (
        "sg-local-emr-master", ["subnet-local"])

    # the settings calls
    client.add_tags(ResourceId=dag, Tags=[{"Key": "team", "Value": "data"}, {"Key": "lab", "Value": "other"}])
    client.remove_tags(ResourceId=dag, TagKeys=["team"])
    assert client.describe_cluster(ClusterId=dag)["Cluster"]["Tags"] == [{"Key": "lab", "Value": "other"}]
    client.put_auto_termination_policy(ClusterId=dag, AutoTerminationPolicy={"IdleTimeout": 3600})
    assert client.get_auto_termination_policy(ClusterId=dag)["AutoTerminationPolicy"] == {"IdleTimeout": 3600}
    client.remove_auto_termination_policy(ClusterId=dag)
    assert "AutoTerminationPolicy" not in client.get_auto_termination_policy(ClusterId=dag)
    assert error_code(client.put_auto_termination_policy, ClusterId=dag,
                      AutoTerminationPolicy={"IdleTimeout": 5}) == "ValidationException"
    client.set_termination_protection(JobFlowIds=[dag], TerminationProtected=True)
    assert client.describe_job_flows(JobFlowIds=[dag])["JobFlows"][0]["Instances"]["TerminationProtected"] is True
    client.set_termination_protection(JobFlowIds=[dag], TerminationProtected=False)
    assert client.modify_cluster(ClusterId=dag, StepConcurrencyLevel=2)["StepConcurrencyLevel"] == 2
    assert client.describe_cluster(ClusterId=dag)["Cluster"]["StepConcurrencyLevel"] == 2
    assert error_code(client.modify_cluster, ClusterId=dag, StepConcurrencyLevel=0) == "ValidationException"

    # two steps at once (StepConcurrencyLevel 2), a third waits and is cancelled, one fails. The two run until the
    # test opens their gate (a file), not for a fixed time: RUNNING for as long as the test reads, on any load
    gate = tmp_path / "steps-may-end"
    until_gate = f"until [ -e '{gate}' ]; do sleep 0.1; done"
    ids = client.add_job_flow_steps(JobFlowId=dag, Steps=[bash("a", until_gate), bash("b", f"{until_gate}; exit 4"),
                                                          bash("c", "sleep 30")])["StepIds"]
    wait_for(lambda: client.describe_step(ClusterId=dag, StepId=ids[1])["Step"]["Status"]["State"] == "RUNNING",
             what="the second step to run")
    running = read_everything(client, dag)                                # RUNNING, two steps at once
    assert running["cluster"]["Status"]["State"] == "RUNNING"
    assert [s["Status"]["State"] for s in running["steps"]] == ["PENDING", "RUNNING", "RUNNING"]
    info = client.cancel_steps(ClusterId=dag, StepIds=[ids[2], "s-NOSUCHSTEP"])["CancelStepsInfoList"]
    assert [i["Status"] for i in info] == ["SUBMITTED", "FAILED"]
    gate.touch()
    client.get_waiter("step_complete").wait(ClusterId=dag, StepId=ids[0], WaiterConfig=FAST)
    wait_for(lambda: client.describe_step(ClusterId=dag, StepId=ids[1])["Step"]["Status"]["State"] == "FAILED",
             what="the failing step")
    a, b = (client.describe_step(ClusterId=dag, StepId=i)["Step"]["Status"]["Timeline"] for i in ids[:2])
    assert b["StartDateTime"] < a["EndDateTime"]                          # they overlapped
    read_everything(client, dag)                                          # a FAILED and a CANCELLED step
    running_id = client.add_job_flow_steps(JobFlowId=dag, Steps=[bash("d", "sleep 30")])["StepIds"][0]
    wait_for(lambda: client.describe_step(ClusterId=dag, StepId=running_id)["Step"]["Status"]["State"] == "RUNNING",
             what="the step to cancel while it runs")
    assert client.cancel_steps(ClusterId=dag, StepIds=[running_id])["CancelStepsInfoList"][0]["Status"] == "SUBMITTED"
    wait_for(lambda: client.describe_step(ClusterId=dag, StepId=running_id)["Step"]["Status"]["State"] == "CANCELLED",
             what="the running step cancelled")

    # no longer kept alive: the cluster ends by itself, as EMR's would
    client.set_keep_job_flow_alive_when_no_steps(JobFlowIds=[dag], KeepJobFlowAliveWhenNoSteps=False)
    client.get_waiter("cluster_terminated").wait(ClusterId=dag, WaiterConfig=FAST)

    # the other two forms of Instances
    simple = client.run_job_flow(Name="simple", Instances=SIMPLE, ReleaseLabel="emr-7.13.0")["JobFlowId"]
    fleets = client.run_job_flow(Name="fleets", Instances=FLEETS, ReleaseLabel="emr-7.13.0")["JobFlowId"]
    for cid in (simple, fleets):
        client.get_waiter("cluster_running").wait(ClusterId=cid, WaiterConfig=FAST)
    groups = read_everything(client, simple)["groups"]
    assert [(g["InstanceGroupType"], g["InstanceType"], g["RequestedInstanceCount"]) for g in groups] == [
        ("MASTER", "m5.xlarge", 1), ("CORE", "m5.2xlarge", 2)]
    fleet_view = read_everything(client, fleets)
    core = next(f for f in fleet_view["fleets"] if f["InstanceFleetType"] == "CORE")
    assert (core["ProvisionedOnDemandCapacity"], core["ProvisionedSpotCapacity"]) == (2, 4)
    assert len(fleet_view["instances"]) == 1 + 1 + 2                      # weighted capacity 2: 1 + 2 core nodes
    assert fleet_view["flow"]["Instances"]["SlaveInstanceType"] == "m5.xlarge"
    busy = client.add_job_flow_steps(JobFlowId=simple, Steps=[bash("busy", "sleep 30")])["StepIds"][0]
    wait_for(lambda: client.describe_step(ClusterId=simple, StepId=busy)["Step"]["Status"]["State"] == "RUNNING",
             what="a step running when its cluster is terminated")
    client.terminate_job_flows(JobFlowIds=[simple, fleets])
    for cid in (simple, fleets):
        client.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig=FAST)

    ended = read_everything(client, dag)                                  # TERMINATED
    assert {g["Status"]["State"] for g in ended["groups"]} == {"TERMINATED"}
    assert {g["RunningInstanceCount"] for g in ended["groups"]} == {0}
    assert {i["Status"]["StateChangeReason"]["Code"] for i in ended["instances"]} == {"CLUSTER_TERMINATED"}
    assert ended["flow"]["ExecutionStatusDetail"]["State"] == "COMPLETED"
    assert {g["State"] for g in ended["flow"]["Instances"]["InstanceGroups"]} == {"ENDED"}
    read_everything(client, simple), read_everything(client, fleets)
    assert client.describe_step(ClusterId=simple, StepId=busy)["Step"]["Status"]["State"] == "CANCELLED"
    listed = {f["JobFlowId"]: f for f in client.describe_job_flows()["JobFlows"]}
    assert {dag, simple, fleets} <= set(listed) and listed[simple]["ExecutionStatusDetail"]["State"] == "TERMINATED"
    assert client.describe_job_flows(JobFlowStates=["RUNNING"])["JobFlows"] == []
    assert error_code(client.modify_cluster, ClusterId=dag, StepConcurrencyLevel=3) == "InvalidRequestException"
    assert error_code(client.describe_job_flows, JobFlowIds=["j-NOSUCHFLOW"]) == "ValidationException"

    assert checker.problems == []
    assert set(checker.ok) == set(api.OPERATIONS), "implemented but never checked: " \
        f"{sorted(set(api.OPERATIONS) - set(checker.ok))}"


def test_the_operations_are_emrs_and_the_server_lists_exactly_them(endpoint):
    assert set(api.OPERATIONS) <= set(MODEL.operation_names)
    status, body = signed_post(endpoint, "ListNotebookExecutions", b"{}")
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    listed = body["Message"].split("it implements ", 1)[1].rstrip(".").split(", ")
    assert sorted(listed) == sorted(api.OPERATIONS)


def signed_post(url: str, action: str, body: bytes) -> tuple[int, dict]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "X-Amz-Target": f"ElasticMapReduce.{action}", "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(KEY, SECRET), "elasticmapreduce", "eu-west-1").add_auth(request)
    prepared = urllib.request.Request(request.url, data=body, method="POST", headers=dict(request.headers))
    try:
        with urllib.request.urlopen(prepared, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_the_aws_cli_creates_describes_and_terminates_a_cluster(endpoint, tmp_path):
    """Another common EMR client: `aws emr describe-cluster` also lists instance groups and bootstrap actions."""
    assert shutil.which("aws"), "no AWS CLI on PATH: `make setup` installs one into .venv-awscli where the machine has none (labkit.aws_cli)"
    # `aws emr wait` polls every 30 s (botocore's EMR waiters); the same waiters polling every 1 s, from a data folder
    # the CLI's botocore reads before its own (AWS_DATA_PATH), wait for the same states without the 30 s sleeps
    waiters = botocore.loaders.Loader().load_service_model("emr", "waiters-2")
    for waiter in waiters["waiters"].values():
        waiter.update(delay=1, maxAttempts=120)
    data = tmp_path / "botocore-data"
    (data / "emr" / MODEL.api_version).mkdir(parents=True)
    (data / "emr" / MODEL.api_version / "waiters-2.json").write_text(json.dumps(waiters))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "eu-west-1",
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_DATA_PATH": str(data)}

    def aws(*args: str):
        out = subprocess.run(["aws", "emr", *args, "--endpoint-url", endpoint, "--output", "json"], env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    cid = aws("create-cluster", "--name", "cli", "--release-label", "emr-7.13.0", "--use-default-roles",
              "--instance-groups", "InstanceGroupType=MASTER,InstanceCount=1,InstanceType=m5.xlarge",
              "InstanceGroupType=CORE,InstanceCount=2,InstanceType=m5.xlarge")["ClusterId"]
    aws("wait", "cluster-running", "--cluster-id", cid)
    cluster = aws("describe-cluster", "--cluster-id", cid)["Cluster"]
    assert [(g["InstanceGroupType"], g["RunningInstanceCount"]) for g in cluster["InstanceGroups"]] == [
        ("MASTER", 1), ("CORE", 2)]
    assert cluster["BootstrapActions"] == [] and cluster["Status"]["State"] == "WAITING"
    assert len(aws("list-instances", "--cluster-id", cid)["Instances"]) == 3
    aws("terminate-clusters", "--cluster-ids", cid)
    aws("wait", "cluster-terminated", "--cluster-id", cid)


def test_a_state_file_of_the_previous_endpoint_still_answers_in_emrs_shapes(tmp_path):
    """Clusters recorded before the endpoint kept instances (a learner's existing lab) get a master group."""
    from labkit.emr.engine import Engine

    engine = Engine(tmp_path, transition_seconds=0)
    cid = api.dispatch(engine, "RunJobFlow", "us-east-1", DAG_CLUSTER)["JobFlowId"]
    api.dispatch(engine, "TerminateJobFlows", "us-east-1", {"JobFlowIds": [cid]})
    engine.tick()
    record = engine.clusters[cid]
    for key in ("_groups", "_fleets", "_machines", "_bootstrap"):
        del record[key]
    record["_instances"] = 3
    engine.save()

    reloaded = Engine(tmp_path)
    for operation, request in (("ListInstanceGroups", {"ClusterId": cid}), ("ListInstances", {"ClusterId": cid}),
                               ("DescribeJobFlows", {"JobFlowIds": [cid]}), ("DescribeCluster", {"ClusterId": cid})):
        answer = api.dispatch(reloaded, operation, "us-east-1", request)
        assert violations(MODEL.operation_model(operation).output_shape, answer) == [], operation
    groups = api.dispatch(reloaded, "ListInstanceGroups", "us-east-1", {"ClusterId": cid})["InstanceGroups"]
    assert [(g["InstanceGroupType"], g["RequestedInstanceCount"]) for g in groups] == [("MASTER", 1), ("CORE", 2)]
