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
from labkit.aws import spec
from labkit.config import LOOPBACK
from labkit.services.base import Service
from labkit.services.mariadb import DATABASE, USER
from labkit.state import write_private

CREDENTIALS = connections.EMR_CREDENTIALS_FILE
WORKSHOP_CREDENTIALS = connections.WORKSHOP_CREDENTIALS_FILE


class EMR(Service):
    name = "emr"
    ports = ("emr",)
    http = True
    start_timeout = 30.0


    def version(self) -> str:
        return "EMR API (local)"

    def command(self) -> list[str]:
        cores = os.environ.get("LAB_EMR_CORES") or str(min(2, os.cpu_count() or 1))
        java = hadoop_client.driver_java_options(self.cfg, archive=False)     # the engine adds the archive
        # the aws_default connection's key pair: the endpoint checks every request's SigV4 signature; its secret
        # stays in its private file (not on this command line, not in the endpoint's environment)
        argv = [sys.executable, "-m", "labkit.emr.server", "--state-dir", str(self.cfg.state_dir),
                "--port", str(self.port), "--cores", cores, "--region", self.cfg.region,
                f"--spark-default=spark.driver.extraJavaOptions={java}"]
        aws = connections.get(self.cfg, "aws")
        if aws.login and aws.secret_file and aws.password:      # local: the generated pair (its file made on first use)
            argv += ["--access-key", aws.login, "--secret-key-file", str(aws.secret_file)]
        return argv

    def launch_settings(self) -> dict:
        """Its arguments (cores, the cluster's Spark defaults), not the path of the Python that runs it."""
        return {"args": self.command()[1:]}

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"SPARK_LOCAL_IP": LOOPBACK, "PYTHONUNBUFFERED": "1", "PATH": procs.venv_path(env.get("PATH"))})
        return env

    def healthy(self) -> bool:
        with urllib.request.urlopen(self.url, timeout=5) as resp:
            return json.load(resp).get("service", "").startswith("labkit")

    def after_start(self) -> None:
        """The EMR steps' database logins as files the steps read (never on their command lines), 0600.

        `emr_jdbc.properties`: the EMR job's, MariaDB's `emr`. `workshop_jdbc.properties`: the workshop job's
        import step's. Locally that step logs in as the source's own `airline` (the lab's PostgreSQL has no
        read-only user); on aws it is the read-only `importer`, whose secret it reads from Secrets Manager.
        """
        if self.cfg.profile != "local":
            return
        secrets.ensure_dir(self.cfg)
        mysql, postgres = connections.get(self.cfg, "mysql"), connections.get(self.cfg, "postgres")
        write_private(credentials_file(self.cfg),
                      f"# Written by labkit: the EMR job's JDBC login (MariaDB on {mysql.address})\n"
                      f"user={USER}\npassword={mysql.password}\ndriver={spec.JDBC_DRIVER}\n")
        write_private(workshop_credentials_file(self.cfg),
                      f"# Written by labkit: the workshop import step's JDBC login (PostgreSQL on {postgres.address})\n"
                      f"user={postgres.login}\npassword={postgres.password}\ndriver={spec.POSTGRES_JDBC_DRIVER}\n")


def credentials_file(cfg) -> Path:
    return cfg.secrets_dir / CREDENTIALS


def workshop_credentials_file(cfg) -> Path:
    return cfg.secrets_dir / WORKSHOP_CREDENTIALS


__all__ = ["EMR", "DATABASE", "credentials_file", "workshop_credentials_file"]
