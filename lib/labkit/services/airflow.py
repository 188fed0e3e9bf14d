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
from labkit.airflow_api import SERIALIZED_DAG_MIN_INTERVAL, AirflowAPI
from labkit.config import LOOPBACK
from labkit.errors import LabError
from labkit.services.base import Service
from labkit.services.postgres import Postgres
from labkit.state import write_private

ADMIN = "admin"
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
            },
            "database": {"sql_alchemy_conn": Postgres(cfg).url("airflow").replace("postgresql://",
                                                                                   "postgresql+psycopg2://")},
            "api": {"host": LOOPBACK, "port": str(port), "base_url": self.url, "workers": "1",
                    "secret_key": secrets.get(cfg, "airflow_api_secret_key"), "expose_config": "False"},
            "api_auth": {"jwt_secret": secrets.get(cfg, "airflow_jwt_secret", factory=_jwt_secret)},
            "logging": {"base_log_folder": str(self.dir / "logs")},
            # Two DAG bundles: the project's reference DAGs, and the learner's own (notebooks 07-08), which
            # is looked at more often so that a saved file shows up within seconds.
            "dag_processor": {"refresh_interval": "20", "dag_bundle_config_list": json.dumps([
                {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(cfg.dags_dir)}},
                {"name": workspace.BUNDLE, "classpath": LOCAL_BUNDLE,
                 "kwargs": {"path": str(cfg.workspace_dags_dir), "refresh_interval": 5}},
            ])},
            "scheduler": {"enable_health_check": "False"},
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
        """What the DAGs' tasks inherit: the lab's profile and scale, the workshop DAG's engine, and where the Spark
        client config is; and the lab's airflow.cfg (as a hash: it holds the metadata database's password), so that
        a setting labkit changes in an update reaches a running Airflow at the next `labkit up`. (Not the Python
        path: `python` and `python3` of the same venv are the same server.)"""
        env = self.env()
        config = hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()
        return {"env": {k: env.get(k) for k in ("LAB_PROFILE", "LAB_SCALE", "HADOOP_CONF_DIR", "SPARK_CONF_DIR",
                                                  connections.WORKSHOP_ENGINE_ENV)},
                "config_sha256": config}

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
        connections.WORKSHOP_ENGINE_ENV: connections.workshop_engine(cfg),   # the workshop DAG's graph (its file)
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
