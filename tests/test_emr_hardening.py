"""The local EMR endpoint under attack and under faults: replayed and forged requests, the signing key kept
from steps, the reason a failed step gives, and a step that must not outlive its endpoint."""
from __future__ import annotations

import gzip
import hashlib
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from labkit.emr import sigv4, steplogs
from emr_local import KEY, REGION, SECRET, Endpoint
from helpers import processes_with

FAST = {"Delay": 1, "MaxAttempts": 120}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    server = Endpoint(tmp_path_factory.mktemp("emr-hardening")).start()
    yield server
    server.stop()


# -- signatures -----------------------------------------------------------------------------------------------
def signed(url: str, body: bytes, stamp: str, *, secret: str = SECRET, scope_day: str | None = None) -> AWSRequest:
    """A ListClusters request signed by botocore as boto3 signs it, but at the given X-Amz-Date."""
    request = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "X-Amz-Target": "ElasticMapReduce.ListClusters", "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Date": stamp})
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(KEY, secret), sigv4.SERVICE, REGION)
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    names = signer.signed_headers(signer.headers_to_sign(request))
    request.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={KEY}/{scope_day or stamp[:8]}/{REGION}/"
                                        f"{sigv4.SERVICE}/aws4_request, SignedHeaders={names}, Signature={signature}")
    return request


def send(request: AWSRequest, body: bytes | None = None) -> tuple[int, dict]:
    prepared = urllib.request.Request(request.url, data=request.body if body is None else body, method="POST",
                                      headers=dict(request.headers))
    try:
        with urllib.request.urlopen(prepared, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def stamp(seconds: float) -> str:
    return time.strftime(sigv4.STAMP, time.gmtime(seconds))


def test_a_request_signed_in_2020_is_refused_as_aws_refuses_it(endpoint):
    body = b"{}"
    now = time.time()
    assert send(signed(endpoint.url, body, stamp(now)))[0] == 200                # the same request, signed now
    status, error = send(signed(endpoint.url, body, "20200101T120000Z"))         # replayed years later
    assert (status, error["__type"]) == (403, "InvalidSignatureException")
    assert error["Message"].startswith("Signature expired: 20200101T120000Z is now earlier than ")
    status, error = send(signed(endpoint.url, body, stamp(now + 20 * 60)))       # dated in the future
    assert (status, error["__type"]) == (403, "InvalidSignatureException")
    assert error["Message"].startswith("Signature not yet current")


def test_forged_requests_are_refused(endpoint):
    now = stamp(time.time())
    request = signed(endpoint.url, b"{}", now)
    assert send(request, body=b'{"ClusterStates": ["WAITING"]}')[1]["__type"] == "InvalidSignatureException"
    assert send(signed(endpoint.url, b"{}", now, secret="guessed"))[1]["__type"] == "InvalidSignatureException"
    assert "Credential scope" in send(signed(endpoint.url, b"{}", now, scope_day="20200101"))[1]["Message"]
    request = signed(endpoint.url, b"{}", now)
    request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(b"something else").hexdigest()
    assert "x-amz-content-sha256" in send(request)[1]["Message"]


def test_the_skew_window_is_15_minutes_either_way():
    """sigv4.check at a chosen `now`: 14 minutes off is accepted, 16 minutes off is refused."""
    class Headers(dict):
        def get(self, name, default=None):
            return next((v for k, v in self.items() if k.lower() == name.lower()), default)

    now = time.time()
    for offset, accepted in ((-14 * 60, True), (14 * 60, True), (-16 * 60, False), (16 * 60, False)):
        request = signed("http://127.0.0.1:1", b"{}", stamp(now + offset))
        headers = Headers({**request.headers, "Host": "127.0.0.1:1"})
        denied = sigv4.check("POST", "/", headers, b"{}", {KEY: SECRET}, now=now)
        assert (denied is None) == accepted, (offset, denied and denied.message)


# -- what a step sees ------------------------------------------------------------------------------------------
def run_steps(client, *steps) -> tuple[str, list[str]]:
    cid = client.run_job_flow(Name="hardening", Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1},
                              Steps=list(steps))["JobFlowId"]
    ids = [s["Id"] for s in reversed(client.list_steps(ClusterId=cid)["Steps"])]
    client.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig=FAST)
    return cid, ids


def bash(name: str, script: str, action: str = "CONTINUE") -> dict:
    return {"Name": name, "ActionOnFailure": action,
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["bash", "-c", script]}}


def log_text(endpoint: Endpoint, cid: str, sid: str, name: str) -> str:
    return gzip.decompress((endpoint.state_dir / "emr" / "steps" / cid / sid / f"{name}.gz").read_bytes()).decode()


def test_a_step_does_not_inherit_the_signing_key(endpoint):
    client = endpoint.client()
    cid, (sid,) = run_steps(client, bash("print env", "env; echo ---; bash -c env"))
    printed = log_text(endpoint, cid, sid, "stdout")
    assert "PYTHONUNBUFFERED=1" in printed and "---" in printed          # it did print its environment
    assert SECRET not in printed


def test_the_signing_secret_is_in_no_process_environment_or_command_line(endpoint):
    """`ps` and `/proc/<pid>/environ` of the endpoint show no secret (popping it from os.environ would not
    clear the process's initial environment block, which /proc shows): it is read from a private file."""
    import psutil

    proc = psutil.Process(endpoint.proc.pid)
    assert endpoint.client().list_clusters()["Clusters"] is not None       # it checks signatures with that secret
    with pytest.raises(Exception, match="UnrecognizedClient|InvalidSignature"):
        endpoint.client(secret="not-" + SECRET).list_clusters()
    assert SECRET not in " ".join(proc.cmdline())
    assert SECRET not in " ".join(f"{k}={v}" for k, v in proc.environ().items())
    assert SECRET.encode() not in Path(f"/proc/{proc.pid}/environ").read_bytes()


NOISY_FAILURE = r"""
echo "25/11/25 18:00:01 INFO SparkContext: Running Spark version 3.5.3" >&2
echo "25/11/25 18:00:02 WARN FileStreamSink: Assume no metadata directory. Error while looking for metadata" >&2
echo "java.io.FileNotFoundException: File file:/tmp/x/_spark_metadata does not exist" >&2
echo "	at org.apache.hadoop.fs.RawLocalFileSystem.getFileStatus(RawLocalFileSystem.java:917)" >&2
echo "Writing 1 row to emr_table"
echo "java.sql.SQLNonTransientConnectionException: Socket fail to connect to 127.0.0.1:3306. Connection refused"
echo "	at org.mariadb.jdbc.client.impl.ConnectionHelper.connectSocket(ConnectionHelper.java:136)"
echo "25/11/25 18:00:03 INFO SparkContext: Successfully stopped SparkContext" >&2
exit 1
"""


def test_the_failure_reason_is_the_real_error_even_on_stdout(endpoint):
    client = endpoint.client()
    cid, (sid,) = run_steps(client, bash("mariadb gone", NOISY_FAILURE))
    details = client.describe_step(ClusterId=cid, StepId=sid)["Step"]["Status"]["FailureDetails"]
    assert details["Reason"] == ("java.sql.SQLNonTransientConnectionException: Socket fail to connect to "
                                 "127.0.0.1:3306. Connection refused")
    assert details["Message"] == "Step failed with exit code 1."


@pytest.mark.parametrize("stderr, stdout, reason", [
    # a PySpark job: Py4J's wrapper line, then the Java cause on the next line
    ("Traceback (most recent call last):\n  File \"job.py\", line 9, in <module>\n    df.write.jdbc(url)\n"
     "py4j.protocol.Py4JJavaError: An error occurred while calling o52.jdbc.\n"
     ": java.sql.SQLException: Access denied for user 'emr'\n\tat org.mariadb.jdbc.Driver.connect(Driver.java:1)\n",
     "", "java.sql.SQLException: Access denied for user 'emr'"),
    # a chained Python traceback: the first error is the cause
    ("Traceback (most recent call last):\nKeyError: 'date'\n\nDuring handling of the above exception, another "
     "exception occurred:\n\nTraceback (most recent call last):\nValueError: no date column\n", "",
     "KeyError: 'date'"),
    # an error on stderr wins over one on stdout (the driver's own report)
    ("Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space\n", "RuntimeError: retrying\n",
     "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space"),
    # no error line anywhere: the last line that is not log noise
    ("25/11/25 18:00:03 INFO SparkContext: Successfully stopped SparkContext\n", "boom\n", "boom"),
    ("", "", ""),
])
def test_failure_reason_picks_the_first_real_error(tmp_path, stderr, stdout, reason):
    (tmp_path / "stderr").write_text(stderr)
    (tmp_path / "stdout").write_text(stdout)
    assert steplogs.failure_reason(tmp_path) == reason


# -- a step does not outlive its endpoint ------------------------------------------------------------------------
def beating(name: str, beat_file, action: str) -> dict:
    """A step that appends to `beat_file` every 0.1 s from a child process of its shell, until killed."""
    return bash(name, f"echo started; while true; do sh -c 'echo beat >> {beat_file}'; sleep 0.1; done", action)


def test_killing_the_endpoint_kills_its_steps_and_a_restart_fails_them(tmp_path):
    server = Endpoint(tmp_path / "state", transition=0.2).start()
    client = server.client()
    beats = {a: tmp_path / f"beats-{a}" for a in ("CONTINUE", "TERMINATE_CLUSTER")}
    go_on = client.run_job_flow(Name="continue", Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                                                             "KeepJobFlowAliveWhenNoSteps": True},
                                Steps=[beating("long", beats["CONTINUE"], "CONTINUE"), bash("after", "echo after")]
                                )["JobFlowId"]
    stop = client.run_job_flow(Name="terminate", Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                                                            "KeepJobFlowAliveWhenNoSteps": True},
                               Steps=[beating("long", beats["TERMINATE_CLUSTER"], "TERMINATE_CLUSTER"),
                                      bash("never", "true")])["JobFlowId"]
    deadline = time.monotonic() + 60
    while not all(b.exists() and b.stat().st_size > 20 for b in beats.values()):
        assert time.monotonic() < deadline, "the steps did not start beating"
        time.sleep(0.2)
    marker = str(tmp_path / "beats-")
    assert len(processes_with(marker)) >= 2

    server.proc.kill()                                               # SIGKILL: no clean-up code runs
    server.proc.wait(timeout=10)
    # no orphan (not the shell, not its children): waited for as an event, not a fixed 1 s a loaded machine misses
    deadline = time.monotonic() + 10
    while processes_with(marker):
        assert time.monotonic() < deadline, [p.cmdline() for p in processes_with(marker)]
        time.sleep(0.1)
    sizes = {a: b.stat().st_size for a, b in beats.items()}
    time.sleep(0.5)
    assert {a: b.stat().st_size for a, b in beats.items()} == sizes   # nothing writes after the endpoint died

    server = Endpoint(tmp_path / "state", transition=0.2, port=server.port).start()
    try:
        client = server.client()
        long_step = lambda cid: next(s for s in client.list_steps(ClusterId=cid)["Steps"] if s["Name"] == "long")
        for cid in (go_on, stop):
            status = long_step(cid)["Status"]
            assert status["State"] == "FAILED", status
            assert "stopped (it was killed or crashed) while this step ran" in status["FailureDetails"]["Reason"]
        # CONTINUE: the next step runs and the cluster waits; TERMINATE_CLUSTER: it ends, the next is cancelled
        after = next(s["Id"] for s in client.list_steps(ClusterId=go_on)["Steps"] if s["Name"] == "after")
        client.get_waiter("step_complete").wait(ClusterId=go_on, StepId=after, WaiterConfig=FAST)
        deadline = time.monotonic() + 30
        while client.describe_cluster(ClusterId=go_on)["Cluster"]["Status"]["State"] != "WAITING":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        with pytest.raises(Exception, match="TERMINATED_WITH_ERRORS"):
            client.get_waiter("cluster_terminated").wait(ClusterId=stop, WaiterConfig=FAST)
        ended = client.describe_cluster(ClusterId=stop)["Cluster"]["Status"]
        assert ended["StateChangeReason"]["Code"] == "STEP_FAILURE"
        assert [s["Status"]["State"] for s in client.list_steps(ClusterId=stop)["Steps"]] == ["CANCELLED", "FAILED"]
        # the crashed step's logs were gzipped on restart, and its work folder is gone
        sid = long_step(stop)["Id"]
        folder = tmp_path / "state" / "emr" / "steps" / stop / sid
        assert {p.name for p in folder.iterdir()} == {"controller.gz", "stdout.gz", "stderr.gz"}
        assert "started" in gzip.decompress((folder / "stdout.gz").read_bytes()).decode()
        assert not (tmp_path / "state" / "emr" / "work" / sid).exists()
        client.terminate_job_flows(JobFlowIds=[go_on])
        client.get_waiter("cluster_terminated").wait(ClusterId=go_on, WaiterConfig=FAST)
    finally:
        server.stop()
    assert server.proc.poll() is not None


def test_steprun_passes_the_exit_code_and_refuses_a_parent_that_is_not_its_endpoint():
    import os
    import subprocess
    import sys

    from labkit.emr import steprun

    run = lambda parent, *command: subprocess.run([sys.executable, steprun.__file__, str(parent), "--", *command],
                                                  timeout=30, capture_output=True, text=True)
    assert run(os.getpid(), "sh", "-c", "echo out; exit 3").returncode == 3
    assert run(os.getpid(), "sh", "-c", "kill -TERM $$").returncode == 128 + 15
    started = time.monotonic()
    assert run(1, "sleep", "30").returncode == -9           # its endpoint is gone already: it kills its own group
    assert time.monotonic() - started < 10
    usage = subprocess.run([sys.executable, steprun.__file__, "x"], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 2 and "usage" in usage.stderr
