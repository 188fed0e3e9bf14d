"""The lab's endpoints, and the Airflow connections and variables of the active profile (never typed into a UI).

`get(cfg, "postgres")` is the one place that knows where a service of the lab is and how to log in to it:
an `Endpoint` owns its host, port, database, login, its secret, its JDBC URL and `connect()`, on both
profiles. Everything else asks it; nobody else puts a host and a port together.

The DAGs read only the Airflow names made from these, so the same DAG file runs on `local` and on `aws`:
connections `postgres_default`, `mysql_default`, `aws_default`, `spark_default` (SparkSubmitOperator's: its host
is Spark's master, the one the client configuration's spark-defaults.conf names too; no secret); variables `S3_PATH`, `RAW_DATA_PATH`,
`SUBNET_ID`, `AURORA_ENDPOINT`, `LANDING_ZONE`, `EMR_POKE_INTERVAL`, `EMR_JDBC_CREDENTIALS`
(where the EMR step reads its database login: a private file on local, its Secrets Manager secret on aws; never
its command line), `WORKSHOP_JDBC_CREDENTIALS` (the same for the workshop job's import step on EMR: its
PostgreSQL login, `airline` in a private file on local, the read-only `importer`'s secret on aws),
`POSTGRES_JDBC_JAR_PATH` (that step's JDBC driver in the bucket), `POSTGRES_JDBC_PARAMETERS` and
`MYSQL_JDBC_PARAMETERS` (the steps' JDBC URLs' ends: TLS on aws, labkit.aws.tls), and what the
EMR DAG templates into `JOB_FLOW_OVERRIDES` (`EMR_RELEASE_LABEL`, `EMR_LOG_URI`, `EMR_SERVICE_ROLE`, ...).
On `aws` the endpoints come from `<state>/aws/outputs.json` (written by labkit.aws) and the database
passwords from AWS Secrets Manager. Where boto3 itself was told to use other AWS endpoints (the AWS SDKs'
`AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_EMR`: a local emulator such as the rehearsal's moto server and the lab's
EMR endpoint), `aws_default` carries them as data (`endpoint_url`, `service_config.emr.endpoint_url`), so the
DAG's tasks go where the notebooks went: Airflow's processes do not inherit those variables (services.airflow).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from labkit import secrets
from labkit.aws import outputs as aws_outputs
from labkit.aws import spec
from labkit.aws import tls as aws_tls
from labkit.config import LOOPBACK, Config
from labkit.errors import LabError

NAMES = ("postgres", "mysql", "aws", "spark")
# Spark's master on each profile: jobs run inside spark-submit on this node, or on the EMR cluster's YARN.
SPARK_MASTER = {"local": "local[*]", "aws": "yarn"}
# boto3's own settings for other endpoints (AWS SDKs, "service-specific endpoints"): all services, and EMR only
ENDPOINT_ENV, EMR_ENDPOINT_ENV = "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EMR"
# local: the EMR steps' JDBC logins, files in the secrets folder (written by the emr service's after_start)
EMR_CREDENTIALS_FILE, WORKSHOP_CREDENTIALS_FILE = "emr_jdbc.properties", "workshop_jdbc.properties"


@dataclass
class Endpoint:
    """One service of the lab as a client sees it (an Airflow connection is made from it)."""

    name: str                      # postgres | mysql | aws
    conn_id: str                   # the Airflow connection it becomes
    conn_type: str
    host: str | None
    port: int | None
    database: str | None
    login: str | None
    description: str
    extra: dict = field(default_factory=dict)
    secret_file: Path | None = None        # local: the generated password's file (a --password-file)
    _secret: object = field(default=None, repr=False)   # () -> str, asked once it is needed
    tls: bool = False                      # aws: TLS that verifies the server against the RDS CA bundle

    @property
    def password(self) -> str | None:
        """Read when asked (on `local` a file, on `aws` Secrets Manager, asked once), never held in a repr."""
        if callable(self._secret):
            value = self._secret()
            if self.secret_file is None:          # a network call: keep it
                self._secret = value
            return value
        return self._secret

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def jdbc_url(self) -> str:
        scheme = {"postgres": "postgresql", "mysql": "mysql"}[self.conn_type]
        return f"jdbc:{scheme}://{self.address}/{self.database}"

    def connect(self, password: str | None = None, **kwargs):
        """A DB-API connection as this endpoint's login; every usual failure is one line saying what to do."""
        if self.conn_type == "postgres":
            import psycopg2 as driver
            args = dict(host=self.host, port=self.port, dbname=self.database, connect_timeout=5)
            if self.tls:                    # aws: libpq verifies RDS's certificate and its host name
                args.update(aws_tls.postgres_args())
        elif self.conn_type == "mysql":
            import pymysql as driver
            args = dict(host=self.host, port=self.port, database=self.database, connect_timeout=5)
            if self.tls:                    # aws: the same, PyMySQL over an ssl context
                args["ssl"] = aws_tls.mysql_context()
        else:
            raise LabError(f"{self.conn_id} is not a database connection")
        try:
            return driver.connect(user=self.login, password=password or self.password, **args, **kwargs)
        except driver.OperationalError as exc:
            raise LabError(self._refusal(str(exc))) from None

    def _refusal(self, text: str) -> str:
        where = f"{self.kind} at {self.address}"
        if self.tls and ("certificate verify failed" in text or "certificate" in text.lower()):
            return (f"{where} did not prove it is the lab's database: its TLS certificate is not signed by an RDS CA "
                    f"of {aws_tls.RDS_CA_BUNDLE.name}, or does not name {self.host} "
                    f"({' '.join(text.split())[:160]}); check the host in outputs.json (labkit.aws.outputs), nothing was sent")
        if "password" in text or "Access denied" in text:
            hint = f"file {self.secret_file}" if self.secret_file else "its secret in AWS Secrets Manager"
            return (f"{where} rejected the password for {self.login!r}; use the generated one "
                    f"(connection {self.conn_id}, {hint})")
        if "refused" in text or "Can't connect" in text:
            return f"no {self.kind} answers at {self.address}; start it with {start_command(self.service)}"
        return f"cannot connect to {self.database} at {self.address}: {text.strip().splitlines()[0]}"

    @property
    def kind(self) -> str:
        return {"postgres": "PostgreSQL", "mysql": "MySQL/MariaDB", "aws": "AWS", "spark": "Spark"}[self.conn_type]

    @property
    def service(self) -> str:
        """The lab service behind it on the local profile (`labkit up <service>`)."""
        return {"postgres": "postgres", "mysql": "mariadb", "aws": "emr", "spark": "airflow"}[self.name]

    def record(self) -> dict:
        """The connection in the shape of Airflow's REST API (`connection_id`, `conn_type`, ...)."""
        out = {"connection_id": self.conn_id, "conn_type": self.conn_type, "login": self.login,
               "password": self.password, "description": self.description}
        if self.conn_type == "aws":
            out["extra"] = json.dumps(self.extra)
        else:
            out.update(host=self.host, port=self.port, schema=self.database)
            if self.extra:                 # aws: the TLS settings of the Postgres and MySQL providers' hooks
                out["extra"] = json.dumps(self.extra)
        return out


# A lab service whose stop stops others too: PostgreSQL holds Airflow's metadata database, so when it crashes
# Airflow stops with it, and `labkit up postgres` would leave Airflow stopped.
STOPS_TOO = {"postgres": ("airflow",)}


def start_command(service: str) -> str:
    """The one command that brings back everything a stopped lab service stopped, as a learner types it."""
    if service in STOPS_TOO:
        return f"`labkit up` (it starts {service} and {', '.join(STOPS_TOO[service])}, which stopped with it)"
    return f"`labkit up {service}`"


POSTGRES_BACK = start_command("postgres")         # what an error about a PostgreSQL that went away advises


_cache: dict[tuple, Endpoint] = {}


def get(cfg: Config, name: str) -> Endpoint:
    """The endpoint `name` (postgres, mysql, aws) of the active profile, built once per lab and profile."""
    if name not in NAMES:
        raise LabError(f"unknown endpoint {name!r}: valid ones are {', '.join(NAMES)}")
    key = (name, cfg.profile, cfg.state_dir, cfg.region, tuple(sorted(cfg.ports.items())),
           os.environ.get(ENDPOINT_ENV), os.environ.get(EMR_ENDPOINT_ENV))
    if key not in _cache:
        _cache[key] = (_aws if cfg.profile == "aws" else _local)(cfg, name)
    return _cache[key]


def _spark(cfg: Config) -> Endpoint:
    """SparkSubmitOperator's connection: `spark-submit --master <host>` (a spark connection without a port)."""
    return Endpoint("spark", "spark_default", "spark", SPARK_MASTER[cfg.profile], None, None, None,
                    "Spark's master for SparkSubmitOperator (the client configuration's)")


def _local(cfg: Config, name: str) -> Endpoint:
    if name == "spark":
        return _spark(cfg)
    if name == "postgres":
        return Endpoint("postgres", "postgres_default", "postgres", LOOPBACK, cfg.ports["postgres"], "airline_db",
                        "airline", "Source database of the workshop job (generated by labkit)",
                        secret_file=cfg.secrets_dir / "postgres_airline",
                        _secret=lambda: secrets.get(cfg, "postgres_airline"))
    if name == "mysql":
        return Endpoint("mysql", "mysql_default", "mysql", LOOPBACK, cfg.ports["mariadb"], "airflow", "emr",
                        "Results database of the EMR job (MariaDB locally, Aurora MySQL on aws)",
                        secret_file=cfg.secrets_dir / "mariadb_emr", _secret=lambda: secrets.get(cfg, "mariadb_emr"))
    # The local EMR endpoint checks SigV4 signatures against this generated key pair: a step runs any
    # command, so only holders of the lab's secrets may submit one. The access key id is not a secret.
    return Endpoint("aws", "aws_default", "aws", LOOPBACK, cfg.ports["emr"], None, "lab-local",
                    "EMR/S3 API (the local EMR endpoint on the local profile)",
                    extra={"region_name": cfg.region,
                           "service_config": {"emr": {"endpoint_url": f"http://{LOOPBACK}:{cfg.ports['emr']}"}}},
                    secret_file=cfg.secrets_dir / "aws_local_secret_key",
                    _secret=lambda: secrets.get(cfg, "aws_local_secret_key"))


def _aws(cfg: Config, name: str) -> Endpoint:
    if name == "spark":
        return _spark(cfg)
    if name == "aws":   # boto3's own credential chain (instance profile, env, ~/.aws): no login, no password
        return Endpoint("aws", "aws_default", "aws", None, None, None, None, "EMR/S3 API",
                        extra={"region_name": cfg.region, **_aws_endpoints()})
    out = aws_outputs.read(cfg)
    db, prefix, description = ((spec.POSTGRES, "postgres", "Source database of the workshop job (RDS PostgreSQL)")
                               if name == "postgres" else
                               (spec.AURORA, "aurora", "Results database of the EMR job (Aurora MySQL)"))
    extra = aws_tls.postgres_args() if name == "postgres" else aws_tls.mysql_extra()
    return Endpoint(name, f"{name}_default", name, out[f"{prefix}_host"], int(out.get(f"{prefix}_port", db.port)),
                    db.database, db.user, description, extra=extra,
                    _secret=lambda: aws_outputs.password(cfg, out[f"{prefix}_secret"]), tls=True)


def _aws_endpoints() -> dict:
    """The connection extra for endpoints boto3 was pointed at (empty for AWS itself)."""
    extra = {}
    if os.environ.get(ENDPOINT_ENV):
        extra["endpoint_url"] = os.environ[ENDPOINT_ENV]
    if os.environ.get(EMR_ENDPOINT_ENV):
        extra["service_config"] = {"emr": {"endpoint_url": os.environ[EMR_ENDPOINT_ENV]}}
    return extra


def endpoint_url(cfg: Config) -> str | None:
    """Where boto3's EMR client goes: the local EMR endpoint, or None (AWS's own) on `aws`."""
    return get(cfg, "aws").extra.get("service_config", {}).get("emr", {}).get("endpoint_url")


def connections(cfg: Config) -> list[dict]:
    """Connection records in the shape of Airflow's REST API (`connection_id`, `conn_type`, ...)."""
    return [get(cfg, name).record() for name in NAMES]


# The notebooks 04-07 run the client steps by hand on this node. (The aws profile's Airflow parses dags/aws/, where
# airflow_workshop_job runs them as EMR steps: labkit.config.Config.dags_dir.)
WORKSHOP_PROFILES = ("local",)


def workshop_refusal(cfg: Config) -> str:
    """'' where notebooks 04-07 run; else the line that stops them (their setup and prepare)."""
    if cfg.profile in WORKSHOP_PROFILES:
        return ""
    return (f"the workshop job's notebooks (04-07) do not run on the {cfg.profile} profile: their import and Spark "
            "steps run on this machine, outside the EMR cluster's VPC (README, 'The workshop job on AWS'); on "
            f"{cfg.profile}, airflow_workshop_job runs them as EMR steps instead; run the notebooks with "
            "LAB_PROFILE=local, nothing was started or spent")


def variables(cfg: Config) -> dict[str, str]:
    bucket = cfg.bucket or (aws_outputs.read(cfg)["bucket"] if cfg.profile == "aws" else "")
    mysql = get(cfg, "mysql")
    if cfg.profile == "aws":
        out = aws_outputs.read(cfg)
        subnet = out.get("subnet_id", cfg.subnet_id)
        landing = f"s3://{bucket}/{spec.LANDING_PREFIX.rstrip('/')}"
        jdbc_credentials = out.get("emr_jdbc_credentials", spec.secret_uri(cfg.region, spec.AURORA.secret))
        workshop_credentials = out.get("workshop_jdbc_credentials",
                                       spec.secret_uri(cfg.region, spec.POSTGRES.import_secret))
    else:
        subnet = cfg.subnet_id
        landing = cfg.landing_dir.as_uri()
        jdbc_credentials = (cfg.secrets_dir / EMR_CREDENTIALS_FILE).as_uri()   # written by the emr service
        workshop_credentials = (cfg.secrets_dir / WORKSHOP_CREDENTIALS_FILE).as_uri()
    return {
        "S3_PATH": f"s3://{bucket}",
        "RAW_DATA_PATH": f"s3://{bucket}/{spec.RAW_DATA_PREFIX.rstrip('/')}",
        "SUBNET_ID": subnet,
        "AURORA_ENDPOINT": mysql.address,
        "LANDING_ZONE": landing,
        "SPARK_JOBS_DIR": str(cfg.spark_jobs_dir),   # on the Airflow node (the workshop job's spark-submit)
        "EMR_POKE_INTERVAL": "60" if cfg.profile == "aws" else "2",
        # the clusters' YARN application lifetime: a hung step's application ends (both DAGs' Configurations)
        "EMR_STEP_LIFETIME_SECONDS": str(round(spec.EMR_STEP_LIFETIME_MINUTES * 60)),
        "EMR_JDBC_CREDENTIALS": jdbc_credentials,
        "WORKSHOP_JDBC_CREDENTIALS": workshop_credentials,   # the workshop job's import step on EMR
        # the steps' JDBC URLs end with these on aws: TLS, never plain text (the EMR nodes have no RDS CA bundle: the
        # server is not verified there, labkit.aws.tls); on local, the lab's servers on 127.0.0.1 (no TLS)
        "POSTGRES_JDBC_PARAMETERS": aws_tls.POSTGRES_JDBC_PARAMETERS if cfg.profile == "aws" else "",
        "MYSQL_JDBC_PARAMETERS": (aws_tls.MYSQL_JDBC_PARAMETERS if cfg.profile == "aws"
                                  else aws_tls.LOCAL_MYSQL_JDBC_PARAMETERS),   # permitMysqlScheme (labkit.jdbc)
        **_emr_cluster_variables(cfg, bucket),
    }


def _emr_cluster_variables(cfg: Config, bucket: str) -> dict[str, str]:
    """What the EMR DAG templates into JOB_FLOW_OVERRIDES; the local endpoint accepts the seed's names."""
    if cfg.profile == "aws":
        out = aws_outputs.read(cfg)
        roles = out["emr_service_role"], out["emr_instance_profile"]
        groups = out["emr_master_security_group"], out["emr_slave_security_group"]
    else:
        roles = "emr-service-role", "emr-ec2-role"
        groups = "sg-local-emr-master", "sg-local-emr-slave"
    return {
        "EMR_RELEASE_LABEL": spec.EMR_RELEASE_LABEL,
        "EMR_INSTANCE_TYPE": spec.EMR_INSTANCE_TYPE,
        "EMR_LOG_URI": f"s3://{bucket}/{spec.EMR_LOG_PREFIX}",
        "EMR_SERVICE_ROLE": roles[0],
        "EMR_INSTANCE_PROFILE": roles[1],
        "EMR_MASTER_SECURITY_GROUP": groups[0],
        "EMR_SLAVE_SECURITY_GROUP": groups[1],
        "SPARK_JOBS_PATH": f"s3://{bucket}/{spec.SPARK_JOBS_PREFIX.rstrip('/')}",
        "JDBC_JAR_PATH": f"s3://{bucket}/{spec.JDBC_JAR_KEY}",
        "POSTGRES_JDBC_JAR_PATH": f"s3://{bucket}/{spec.POSTGRES_JDBC_JAR_KEY}",
        "LAB_TAG_KEY": spec.TAG_KEY,
        "LAB_TAG_VALUE": spec.TAG_VALUE,
        # AmazonEMRServicePolicy_v2 launches only clusters that carry this tag (the local endpoint ignores it)
        "EMR_MANAGED_TAG_KEY": spec.EMR_MANAGED_TAG["Key"],
        "EMR_MANAGED_TAG_VALUE": spec.EMR_MANAGED_TAG["Value"],
    }


def variable_records(cfg: Config) -> list[dict]:
    return [{"key": k, "value": v} for k, v in variables(cfg).items()]


def table(cfg: Config):
    """The generated connections as a DataFrame, passwords masked (safe to show on a projector)."""
    import pandas as pd

    rows = []
    for c in connections(cfg):
        rows.append({"connection_id": c["connection_id"], "conn_type": c["conn_type"], "host": c.get("host") or "",
                     "port": c.get("port") or "", "login": c.get("login") or "", "schema": c.get("schema") or "",
                     "password": "***" if c.get("password") else "", "extra": c.get("extra") or ""})
    return pd.DataFrame(rows).set_index("connection_id")
