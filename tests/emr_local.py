"""A standalone local EMR endpoint for a test: its own state folder, port and key pair, started as
`labkit up` starts it (`python -m labkit.emr.server`, the secret of its key pair in a private file)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import boto3

from labkit.state import write_private
from helpers import free_port

KEY, SECRET = "lab-test-key", "lab-test-secret-0123456789"
REGION = "eu-west-1"


class Endpoint:
    def __init__(self, state_dir, *, transition: float = 0.2, port: int | None = None, region: str = REGION):
        self.state_dir, self.transition, self.region = state_dir, transition, region
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Endpoint":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.secret_file = self.state_dir / "emr-secret-key"
        write_private(self.secret_file, SECRET)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "labkit.emr.server", "--state-dir", str(self.state_dir), "--port", str(self.port),
             "--transition-seconds", str(self.transition), "--region", self.region,
             "--access-key", KEY, "--secret-key-file", str(self.secret_file)],
            env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url, timeout=2).close()
                return self
            except OSError:
                assert time.monotonic() < deadline and self.proc.poll() is None, "the endpoint did not start"
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def client(self, key: str = KEY, secret: str = SECRET):
        return boto3.client("emr", endpoint_url=self.url, region_name=self.region, aws_access_key_id=key,
                            aws_secret_access_key=secret)
