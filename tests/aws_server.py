"""A local moto *server* on 127.0.0.1, spoken to over HTTP by real boto3 clients, for the aws profile's tests.

Every request the profile makes goes through botocore as it would to AWS (signed, validated against the
service model, parsed from the wire); the server answers for S3, IAM, EC2, STS, Secrets Manager, RDS and
EMR. One server serves the whole pytest session; each test starts from an empty account (`reset`).

Use it from a test module with `from aws_server import aws_env  # noqa: F401` (fixtures):
- `moto_server` (conftest.py, one for the whole session): the server (`.url`, `.client(name)`, `.reset()`, `.auth_required()`);
- `aws_env`: a test's environment pointing boto3 at it (AWS_ENDPOINT_URL, fake keys, us-east-1,
  LAB_AWS_REHEARSAL=1), the account reset first. A notebook run under papermill inherits the same environment,
  which is what a later rehearsal of notebooks 01/08 needs;
- `aws_lab`: a Config for LAB_PROFILE=aws on a copy of the project (lab.toml, spark_jobs/) in tmp_path, and
  `cfg`: the same with `aws_env`; `provision(cfg, ...)` runs the profile's provisioning quickly (no bars,
  short polls) with a TEST-NET address and a stand-in for the raw data.

Faults AWS can produce but moto does not (a cluster ending TERMINATED_WITH_ERRORS, a DB instance already being
deleted, a security group still in use, ...) are injected into the server's backend classes (it runs in this
process) with pytest's monkeypatch: the client side stays real, so botocore's waiters and error parsing see
them as they would see AWS.
"""
from __future__ import annotations

import json
import os
import shutil
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

import labkit
from labkit import aws
from labkit.aws.preflight import REHEARSAL_ENV
from labkit.procs import free_port

ROOT = Path(__file__).resolve().parents[1]

REGION = "us-east-1"
ACCOUNT = "123456789012"              # moto's default account
SERVER_SETTINGS = {
    "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",   # AmazonEMRServicePolicy_v2 must exist to be attached
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",      # not needed; saves time on each reset
}

# AWS managed policies the profile attaches or moves roles off (labkit.aws.spec), and EMR's others.
MANAGED_POLICIES = {"AmazonEMRServicePolicy_v2", "AmazonElasticMapReduceRole", "AmazonElasticMapReduceforEC2Role",
                    "AmazonEMRFullAccessPolicy_v2", "AmazonEMRReadOnlyAccessPolicy_v2", "AmazonEMRCleanupPolicy",
                    "AmazonElasticMapReduceFullAccess", "AmazonElasticMapReduceReadOnlyAccess",
                    "AmazonElasticMapReduceforAutoScalingRole", "AmazonElasticMapReducePlacementGroupPolicy"}


class MotoServer:
    """A ThreadedMotoServer bound to 127.0.0.1 on a free port; the server owns its address."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MotoServer":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """An empty account again (moto's own reset endpoint)."""
        self._post("/moto-api/reset", b"")

    @contextmanager
    def auth_required(self):
        """Within: the server checks every request's signature and key, as AWS does (moto's reset-auth)."""
        previous = self._post("/moto-api/reset-auth", b"0")["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
        try:
            yield
        finally:
            self._post("/moto-api/reset-auth", str(previous).encode())

    def _post(self, path: str, data: bytes) -> dict:
        request = urllib.request.Request(f"{self.url}{path}", data=data, method="POST",
                                         headers={"Content-Type": "text/plain"})     # not a form: moto reads the body
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": "lab-test", "AWS_SECRET_ACCESS_KEY": "lab-test",
                "AWS_DEFAULT_REGION": REGION, REHEARSAL_ENV: "1"}

    def client(self, name: str, region: str = REGION):
        """A real boto3 client talking to this server."""
        return boto3.client(name, region_name=region, endpoint_url=self.url, aws_access_key_id="lab-test",
                            aws_secret_access_key="lab-test")


def serve():
    """The session's server, for conftest.py's `moto_server` fixture (a generator: the server, then its stop).

    The fixture lives in conftest.py, not here: a session fixture imported into each test module is a fixture
    per module to pytest, so every module that imported it started a server of its own (six per run)."""
    import moto.iam.models

    with pytest.MonkeyPatch.context() as mp:
        for key, value in SERVER_SETTINGS.items():
            mp.setenv(key, value)
        # Every reset made IAM load all of AWS's ~1,600 managed policies again (about 5 s a test); the profile
        # attaches only EMR's, so only those are loaded (the server runs in this process).
        used = {arn.rsplit("/", 1)[-1] for arn in (aws.spec.EMR_SERVICE_POLICY, *aws.spec.DEPRECATED_POLICIES)}
        assert used <= MANAGED_POLICIES, f"add {sorted(used - MANAGED_POLICIES)} to aws_server.MANAGED_POLICIES"
        everything = json.loads(moto.iam.models.aws_managed_policies_data)
        mp.setattr(moto.iam.models, "aws_managed_policies_data", json.dumps(
            {name: policy for name, policy in everything.items() if name in MANAGED_POLICIES}))
        server = MotoServer().start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """boto3 in this test (and in any process it starts) talks to the moto server, and the account is empty."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    for key, value in {**SERVER_SETTINGS, **moto_server.env()}.items():
        monkeypatch.setenv(key, value)
    assert os.environ["AWS_ENDPOINT_URL"] == moto_server.url
    moto_server.reset()
    return moto_server


# -- an aws-profile lab whose AWS is the server ------------------------------------------------------------
CIDR = "203.0.113.7/32"          # TEST-NET-3: never a real learner's address
FAST = {"progress": False, "delay": 0.01}
ALL_KINDS = {"DB instance": 2, "DB cluster": 1, "DB subnet group": 1, "secret": 4, "S3 bucket": 1,
             "instance profile": 1, "IAM role": 2, "security group": 3, "subnet tag": 1}


@pytest.fixture
def aws_lab(monkeypatch, tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(ROOT / "lab.toml", root / "lab.toml")
    shutil.copytree(ROOT / "spark_jobs", root / "spark_jobs", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "spark_jobs" / "lab_probe.py").write_text("print('uploaded by the aws profile test')\n")
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "part-00000.parquet").write_bytes(b"PAR1 tiny stand-in for the retail data PAR1")
    monkeypatch.setenv("LAB_ROOT", str(root))
    monkeypatch.setenv("LAB_PROFILE", "aws")
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "LAB_BUCKET", "LAB_SUBNET_ID", "LAB_REGION"):
        monkeypatch.delenv(var, raising=False)
    return labkit.load()


@pytest.fixture
def cfg(aws_lab, aws_env):
    return aws_lab


def provision(cfg, **kwargs):
    raw = cfg.state_dir.parent / "raw"            # the fixture's stand-in for the retail data
    return aws.provision(cfg, **{"allow_cidr": CIDR, "raw_dir": raw, **FAST, **kwargs})


def kinds(table) -> dict:
    return table["kind"].value_counts().to_dict()
