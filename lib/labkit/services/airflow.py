"""Apache Airflow 3: API server + UI, scheduler, DAG processor, triggerer (see `airflow_supervisor`).

Its DAGs folder is the project's `dags/`, its metadata database lives in the lab's PostgreSQL, and its
admin password is generated into the state folder. Connections and variables are written through the
REST API from `labkit.connections` on every `up`.
"""
from __future__ import annotations

import configparser
import hashlib
import io
import json
import os
import sys
from importlib.metadata import version as dist_version
from pathlib import Path

from labkit import connections, hadoop_client, procs, secrets, workspace
from labkit.airflow_api import DAGBAG_IMPORT_TIMEOUT, SERIALIZED_DAG_MIN_INTERVAL, AirflowAPI
from labkit.config import LOOPBACK
from labkit.errors import LabError
from labkit.services.base import Service
from labkit.services.postgres import Postgres
from labkit.state import write_private

ADMIN = "admin"
PARSE_UNCHANGED_EVERY = 600      # seconds between two parses of a file that did not change (Airflow's default: 30)
EXECUTION_API_TIMEOUT = 180     # seconds a task waits for one Execution API answer (Airflow's default: 5)
PROCESSOR_MARGIN = 10            # seconds a DAG file's processor outlives the import timeout before it is killed
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


class Airflow(Service):
    name = "airflow"
    ports = ("airflow",)
    http = True
    start_timeout = 300.0   # the first start migrates the metadata database


    @property
    def config_file(self) -> Path:
        return self.dir / "airflow.cfg"

    @property
    def passwords_file(self) -> Path:
        return self.dir / "simple_auth_manager_passwords.json"

    def admin_password(self) -> str:
        return secrets.get(self.cfg, "airflow_admin")

    def api(self) -> AirflowAPI:
        return AirflowAPI(self.url, ADMIN, self.admin_password())

    def version(self) -> str:
        return f"Airflow {dist_version('apache-airflow')}"

    def settings(self) -> dict[str, dict[str, str]]:
        cfg, port = self.cfg, self.port
        return {
            "core": {
                "dags_folder": str(cfg.dags_dir),
                "executor": "LocalExecutor",
                "load_examples": "False",
                "parallelism": "4",
                # a learner's saves reach the scheduler and the API within seconds (Airflow's default: 30)
                "min_serialized_dag_update_interval": str(SERIALIZED_DAG_MIN_INTERVAL),
                "simple_auth_manager_users": f"{ADMIN}:admin",
                "simple_auth_manager_passwords_file": str(self.passwords_file),
                "fernet_key": secrets.get(cfg, "airflow_fernet_key", factory=_fernet_key),
                "execution_api_server_url": f"{self.url}/execution/",
                "dagbag_import_timeout": str(DAGBAG_IMPORT_TIMEOUT),      # `labkit check` stops a file there too
            },
            "database": {"sql_alchemy_conn": Postgres(cfg).url("airflow").replace("postgresql://",
                                                                                   "postgresql+psycopg2://")},
            "api": {"host": LOOPBACK, "port": str(port), "base_url": self.url, "workers": "1",
                    "secret_key": secrets.get(cfg, "airflow_api_secret_key"), "expose_config": "False"},
            "api_auth": {"jwt_secret": secrets.get(cfg, "airflow_jwt_secret", factory=_jwt_secret)},
            "logging": {"base_log_folder": str(self.dir / "logs")},
            # Two DAG bundles: the project's reference DAGs, and the learner's own (notebooks 07-08), which
            # is looked at more often so that a saved file shows up within seconds.
            # A file that loops at import (a learner's `while True`) costs one import timeout per change, not one
            # every 30 s: an unchanged file is parsed again only every PARSE_UNCHANGED_EVERY s (a changed one at
            # once: the processor sorts by modification time; wait_for_dag asks for a parse when it needs one), and
            # a parse whose code swallows the import timeout is killed shortly after it.
            "dag_processor": {"refresh_interval": "20",
                              "min_file_process_interval": str(PARSE_UNCHANGED_EVERY),
                              "dag_file_processor_timeout": str(DAGBAG_IMPORT_TIMEOUT + PROCESSOR_MARGIN),
                              "dag_bundle_config_list": json.dumps([
                {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(cfg.dags_dir)}},
                {"name": workspace.BUNDLE, "classpath": LOCAL_BUNDLE,
                 "kwargs": {"path": str(cfg.workspace_dags_dir), "refresh_interval": 5}},
            ])},
            "scheduler": {"enable_health_check": "False"},
            # How long a task waits for each Execution API call. A fresh api-server's first task start (PATCH .../run)
            # took 49 s and 71 s on this 2-core machine under load (13-18), so after a crash and `labkit up` the
            # interrupted task's retry gave up at Airflow's 5 s x 5 tries, its log holding only "Pre Execute".
            "workers": {"execution_api_timeout": str(EXECUTION_API_TIMEOUT)},
        }

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        workspace.ensure(self.cfg)
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_dict(self.settings())
        write_private(self.config_file, _config_text(parser))
        write_private(self.passwords_file, json.dumps({ADMIN: self.admin_password()}) + "\n")

    def env(self) -> dict[str, str]:
        return airflow_env(self.cfg)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "labkit.services.airflow_supervisor"]

    def launch_settings(self) -> dict:
        """What the DAGs' tasks inherit: the lab's profile and scale, and where the Spark client
        config is; and the lab's airflow.cfg (as a hash: it holds the metadata database's password), so that
        a setting labkit changes in an update reaches a running Airflow at the next `labkit up`. (Not the Python
        path: `python` and `python3` of the same venv are the same server.)

        And which run of PostgreSQL holds its metadata database: an Airflow that outlived it is stopping (its
        components exit on the lost connection, then its supervisor stops the rest), so a `labkit up` soon after a
        PostgreSQL crash restarts it instead of reusing it while it still answers, only to find it gone next."""
        env = self.env()
        config = hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()
        database = procs.read_record(Postgres(self.cfg).pid_file) or {}
        return {"env": {k: env.get(k) for k in ("LAB_PROFILE", "LAB_SCALE", "HADOOP_CONF_DIR", "SPARK_CONF_DIR")},
                "config_sha256": config,
                "metadata_database": {k: database.get(k) for k in ("pid", "start_ticks", "boot_id")}}

    def healthy(self) -> bool:
        health = self.api().health()
        return all(health.get(part, {}).get("status") == "healthy"
                   for part in ("metadatabase", "scheduler", "dag_processor"))

    def after_start(self) -> None:
        api = self.api()
        api.upsert("connections", connections.connections(self.cfg))
        api.upsert("variables", connections.variable_records(self.cfg))


def airflow_env(cfg) -> dict[str, str]:
    """The environment for any `airflow` command of this lab (the server, tasks, the CLI in a notebook)."""
    # The lab's airflow.cfg is the one source of Airflow settings: AIRFLOW__* variables inherited from
    # the caller (a test process, a learner's shell) would silently override it.
    # Likewise boto3's endpoint variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>): where the tasks' AWS
    # calls go is the aws_default connection's data alone (labkit.connections puts them there).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AIRFLOW__") and not k.startswith(connections.ENDPOINT_ENV)}
    env.update({
        "AIRFLOW_HOME": str(cfg.service_dir("airflow")),
        "AIRFLOW_CONFIG": str(cfg.service_dir("airflow") / "airflow.cfg"),
        "PATH": procs.venv_path(env.get("PATH")),
        "LAB_ROOT": str(cfg.root),
        "LAB_PROFILE": cfg.profile,
        "LAB_SCALE": cfg.scale,
        "LAB_STATE_DIR": str(cfg.state_dir),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(spark_client_env(cfg))        # local: also SPARK_LOCAL_IP=127.0.0.1; aws: YARN must reach the driver
    return env


def spark_client_env(cfg) -> dict[str, str]:
    """What makes this Airflow node a Spark/Hadoop client: the rendered config (HADOOP_CONF_DIR, SPARK_CONF_DIR)
    and this venv's Python for pyspark (PYSPARK_PYTHON, PYSPARK_DRIVER_PYTHON).

    The Python variables matter more than they look: a BashOperator's `bash -c` reads ~/.bashrc (its stdin is
    the task supervisor's socket, which bash takes for a remote shell), and a ~/.bashrc that runs
    `pyenv init` or `conda activate` puts another `python3` first on PATH. spark-submit finds its Spark with
    `$PYSPARK_DRIVER_PYTHON`, else that `python3`, which has no pyspark: "Could not find valid SPARK_HOME".
    """
    try:
        return hadoop_client.env(cfg, base={})
    except LabError:                     # aws: no cluster this machine could be a client of (README)
        return {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}


def _jwt_secret() -> str:
    import secrets as random
    return random.token_urlsafe(64)   # >= 64 bytes: what PyJWT recommends for HS512


def _fernet_key() -> str:
    from cryptography.fernet import Fernet
    return Fernet.generate_key().decode()


def _config_text(parser: configparser.ConfigParser) -> str:
    out = io.StringIO()
    out.write("# Written by labkit on every `up` from lab.toml and the lab's secrets: edit lab.toml instead.\n")
    parser.write(out)
    return out.getvalue()
