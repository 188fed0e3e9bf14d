"""The local EMR-compatible endpoint (`labkit.emr`): runs EMR steps on the lab's Spark.

Only on the `local` profile does it matter (on `aws` the DAG talks to real EMR), but it is cheap
(one Python process, ~40 MB) so `labkit up` starts it on both. Its clusters and steps are kept in
`<state>/emr/state.json`; the buckets it reads and writes are the folders under `<state>/s3/`.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

from labkit import connections, hadoop_client, procs, secrets
from labkit.config import LOOPBACK
from labkit.services.base import Service
from labkit.services.mariadb import DATABASE, USER
from labkit.state import write_private

CREDENTIALS = "emr_jdbc.properties"


class EMR(Service):
    name = "emr"
    ports = ("emr",)
    http = True
    start_timeout = 30.0


    def version(self) -> str:
        return "EMR API (local)"

    def command(self) -> list[str]:
        cores = os.environ.get("LAB_EMR_CORES") or str(min(2, os.cpu_count() or 1))
        java = hadoop_client.driver_java_options(self.cfg)      # the same driver JVM flags as the lab's jobs
        return [sys.executable, "-m", "labkit.emr.server", "--state-dir", str(self.cfg.state_dir),
                "--port", str(self.port), "--cores", cores, "--region", self.cfg.region,
                f"--spark-default=spark.driver.extraJavaOptions={java}"]

    def launch_settings(self) -> dict:
        """Its arguments (cores, the cluster's Spark defaults), not the path of the Python that runs it."""
        return {"args": self.command()[1:]}

    def env(self) -> dict[str, str]:
        aws = connections.get(self.cfg, "aws")
        env = dict(os.environ)
        env.update({"SPARK_LOCAL_IP": LOOPBACK, "PYTHONUNBUFFERED": "1",
                    "PATH": procs.venv_path(env.get("PATH")),
                    # the aws_default connection's key pair: the endpoint checks every request's SigV4 signature
                    "LAB_EMR_ACCESS_KEY": aws.login or "", "LAB_EMR_SECRET_KEY": aws.password or ""})
        return env

    def healthy(self) -> bool:
        with urllib.request.urlopen(self.url, timeout=5) as resp:
            return json.load(resp).get("service", "").startswith("labkit")

    def after_start(self) -> None:
        """The EMR step's database credentials as a file the job reads (never on its command line)."""
        if self.cfg.profile != "local":
            return
        path = credentials_file(self.cfg)
        text = (f"# Written by labkit: the EMR job's JDBC login (MariaDB on {connections.get(self.cfg, 'mysql').address})\n"
                f"user={USER}\npassword={secrets.get(self.cfg, 'mariadb_emr')}\n"
                f"driver=org.mariadb.jdbc.Driver\n")
        secrets.ensure_dir(self.cfg)
        write_private(path, text)


def credentials_file(cfg) -> Path:
    return cfg.secrets_dir / CREDENTIALS


__all__ = ["EMR", "DATABASE", "credentials_file"]
