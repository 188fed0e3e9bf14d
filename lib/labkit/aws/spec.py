"""What the `aws` profile creates: every name, size and setting in one place (no AWS calls here).

Everything carries one tag, `lab=airflow-lab`, which is how teardown finds it again. Names start with the
same prefix so that a learner's other resources are easy to tell apart (and are never touched: a resource
with one of these names but without the tag is an error, not something labkit adopts or deletes).
"""
from __future__ import annotations

from dataclasses import dataclass

from labkit.config import MARIADB_JDBC_JAR, POSTGRES_JDBC_JAR  # noqa: F401  (spec.POSTGRES_JDBC_JAR)
from labkit.jdbc import JARS as JDBC_PINS

LAB_NAME = "airflow-lab"
TAG_KEY = "lab"
TAG_VALUE = LAB_NAME
TAGS = [{"Key": TAG_KEY, "Value": TAG_VALUE}]

# -- EMR (the DAG creates the clusters; these are the values it templates) ---------------------------
EMR_RELEASE_LABEL = "emr-7.13.0"          # current EMR 7 release with Spark 3.5 (checked 2026-11)
EMR_INSTANCE_TYPE = "m5.xlarge"           # the seed's instance groups: one node each
# The cost spec's EMR timings (assumptions, not measured: the lab's endpoint starts at once). A cluster's start-up,
# create -> RUNNING (growth.Assumptions), and one run of the EMR DAG, start-up included (cost.estimate). Notebook 08
# waits for a run on aws as long as both (emr_client.follow_timeout): the priced run and a second start-up's margin.
EMR_STARTUP_MINUTES = 10.0
EMR_RUN_MINUTES = 20.0
# A hung step stops billing: YARN ends any application older than this (the clusters' capacity-scheduler
# setting, EMR_STEP_LIFETIME_SECONDS variable), then the idle cluster ends itself (AutoTerminationPolicy).
EMR_STEP_LIFETIME_MINUTES = 45.0
EMR_INSTANCE_GROUPS = (("MASTER", 1), ("CORE", 1), ("TASK", 1))
# The workshop DAG on aws (dags/aws/airflow_workshop_job.py): a cluster per daily run, a primary and a core node
# (a day is 144,000 rows); tests/test_workshop_emr_engine.py and the rehearsal check the DAG's groups against this.
WORKSHOP_EMR_INSTANCE_GROUPS = (("MASTER", 1), ("CORE", 1))
EMR_SERVICE_ROLE = f"{LAB_NAME}-emr-service-role"     # the seed's `emr-service-role`
EMR_EC2_ROLE = f"{LAB_NAME}-emr-ec2-role"             # the seed's `emr-ec2-role` (role + instance profile)
# AmazonEMRServicePolicy_v2 replaces the deprecated AmazonElasticMapReduceRole (EMR Management Guide,
# "Service role for Amazon EMR", emr-iam-role.html, read 2026-11). It acts only on subnets and security groups
# tagged EMR_MANAGED_TAG (the cluster must carry it too), and passes only EMR_EC2_DefaultRole: a custom EC2 role
# needs its own iam:PassRole grant (iam.py). AmazonElasticMapReduceforEC2Role is deprecated with no managed
# replacement (emr-iam-role-for-ec2.html): the EC2 role gets an inline policy limited to the lab's bucket and secret.
EMR_SERVICE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
DEPRECATED_POLICIES = ("arn:aws:iam::aws:policy/service-role/AmazonElasticMapReduceRole",
                       "arn:aws:iam::aws:policy/service-role/AmazonElasticMapReduceforEC2Role")
EMR_MANAGED_TAG = {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"}
# The default subnet is not ours: when labkit adds EMR_MANAGED_TAG to it, it adds this marker too, and the
# teardown removes both (a subnet that had the EMR tag before keeps it).
SUBNET_MARKER_TAG = {"Key": f"{LAB_NAME}-added", "Value": EMR_MANAGED_TAG["Key"]}
EMR_SERVICE_INLINE = f"{LAB_NAME}-pass-ec2-role"      # inline policy of the service role: PassRole of EMR_EC2_ROLE
EMR_EC2_INLINE = f"{LAB_NAME}-emr-ec2-access"          # inline policy of the EC2 role: the lab's bucket and secret
EMR_LOG_PREFIX = "emr-logs/"
# What three nodes need before any money is spent: vCPUs against the account's quota, and disks for the estimate.
# Published instance figures (Amazon EC2 instance types, M5: https://aws.amazon.com/ec2/instance-types/m5/,
# m5.xlarge = 4 vCPUs, 16 GiB; read 2026-12-01). The growth projection (labkit.aws.growth) uses both.
EMR_INSTANCE_VCPUS = {"m5.xlarge": 4}
EMR_INSTANCE_MEMORY_GIB = {"m5.xlarge": 16}
# Service Quotas: "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", counted in vCPUs.
EC2_STANDARD_VCPU_QUOTA = ("ec2", "L-1216C47A")
# EBS per EMR node, for the estimate: the root volume, 15 GiB from EMR 6.10 (emr-custom-ami.html, read 2026-11-25),
# plus EMR's default data volumes for an EBS-only *.xlarge, taken as 2 x 32 GiB gp2: emr-plan-storage.html
# ("Default Amazon EBS storage for instances") has the table, which could not be read on 2026-11-25: check it.
EMR_EBS_GB_PER_NODE = 2 * 32 + 15


def emr_nodes(groups: tuple = EMR_INSTANCE_GROUPS) -> int:
    return sum(n for _, n in groups)


def emr_vcpus(groups: tuple = EMR_INSTANCE_GROUPS) -> int:
    return emr_nodes(groups) * EMR_INSTANCE_VCPUS[EMR_INSTANCE_TYPE]


# The clusters that may run at once: each DAG makes its own (emr_ephemeral_job, airflow_workshop_job of dags/aws),
# and nothing stops a learner from running both together; the vCPU preflight counts them all.
CONCURRENT_CLUSTERS = (("emr_ephemeral_job", EMR_INSTANCE_GROUPS), ("airflow_workshop_job", WORKSHOP_EMR_INSTANCE_GROUPS))


def concurrent_vcpus() -> int:
    return sum(emr_vcpus(groups) for _, groups in CONCURRENT_CLUSTERS)


# The instance families the quota above counts (its name lists them): the first letters of their names, less the
# families with a quota of their own that start with one of those letters (HPC, Inf, DL, Trn, high-memory U, Mac).
STANDARD_FAMILIES = tuple("acdhimrtz")
NOT_STANDARD_FAMILIES = ("hpc", "inf", "dl", "trn", "u-", "mac")


def is_standard(instance_type: str) -> bool:
    family = instance_type.split(".")[0].lower()
    return family.startswith(STANDARD_FAMILIES) and not family.startswith(NOT_STANDARD_FAMILIES)


# -- network --------------------------------------------------------------------------------------------
SG_DB = f"{LAB_NAME}-db"                  # PostgreSQL + Aurora: from the two EMR groups and from your address
SG_EMR_MASTER = f"{LAB_NAME}-emr-master"  # EMR-managed groups: EMR adds its own rules to them
SG_EMR_SLAVE = f"{LAB_NAME}-emr-slave"
DB_SUBNET_GROUP = f"{LAB_NAME}-db-subnets"
# The learner's ingress to the databases: one address (/32) is what we ask for; a range up to /24 (a campus
# or office NAT pool) is accepted, anything wider is refused. CidrIp is IPv4 only.
INGRESS_MIN_PREFIX = 24
INGRESS_RULE_PREFIX = f"{LAB_NAME}: this machine"   # the description that marks the learner's rules


@dataclass(frozen=True)
class Database:
    kind: str               # what the learner reads in tables
    identifier: str         # DB instance id, or the cluster id for Aurora
    engine: str
    instance_class: str
    database: str
    user: str               # the same login as on the local profile (the connection's, the job's)
    port: int
    secret: str             # Secrets Manager name holding its generated password
    instance: str = ""      # Aurora: the writer instance in the cluster
    storage_gb: int = 0     # RDS only (Aurora storage grows by itself)
    engine_version: str = ""
    master_user: str = ""   # when the login above is not the master: the master's (used by provisioning only)
    master_secret: str = ""
    import_user: str = ""   # a read-only login of its own for an EMR import step (made by provisioning)
    import_secret: str = ""

    @property
    def admin_user(self) -> str:
        return self.master_user or self.user

    @property
    def admin_secret(self) -> str:
        return self.master_secret or self.secret

    def logins(self) -> list[tuple[str, str]]:
        """(user, secret) of each login that has its own secret: the master first."""
        return ([(self.admin_user, self.admin_secret)] + ([(self.user, self.secret)] if self.master_user else [])
                + ([(self.import_user, self.import_secret)] if self.import_user else []))


# Engine versions, pinned so that every learner gets the same server (a default changes under you). Minor versions
# retire: check `aws rds describe-db-engine-versions --engine postgres|aurora-mysql` before a class and change
# them here only. PostgreSQL 17.7: RDS's upgrade target for retired 17.x minors (2026); Aurora MySQL 3.10 is
# a long-term-support line (AuroraMySQL.Update.SpecialVersions.html), 3.10.3 released 2026-01.
POSTGRES_ENGINE_VERSION = "17.7"
AURORA_ENGINE_VERSION = "8.0.mysql_aurora.3.10.3"


# `airline`, the workshop DAG's login (postgres_default), is RDS's master. The workshop job's import step on EMR
# logs in as `importer` instead: IMPORT_GRANTS on the tables of airline_db's schema public, those `airline`
# makes later included (ALTER DEFAULT PRIVILEGES: tbl_airflow_dummy_daily is created by the DAG's first run).
POSTGRES = Database(kind="RDS PostgreSQL", identifier=f"{LAB_NAME}-postgres", engine="postgres",
                    instance_class="db.t4g.small", database="airline_db", user="airline", port=5432,
                    secret=f"{LAB_NAME}/postgres", storage_gb=20, engine_version=POSTGRES_ENGINE_VERSION,
                    import_user="importer", import_secret=f"{LAB_NAME}/postgres-import")
# The EMR job logs in to Aurora as `emr`, a user with rights on its database only; the master (`lab_admin`) is
# used by provisioning alone, to create that user. Its password never leaves Secrets Manager.
AURORA = Database(kind="Aurora MySQL", identifier=f"{LAB_NAME}-aurora", engine="aurora-mysql",
                  instance_class="db.t4g.medium", database="airflow", user="emr", port=3306,
                  secret=f"{LAB_NAME}/aurora", instance=f"{LAB_NAME}-aurora-1",
                  engine_version=AURORA_ENGINE_VERSION, master_user="lab_admin",
                  master_secret=f"{LAB_NAME}/aurora-master")
DATABASES = (POSTGRES, AURORA)
# What the job's user may do: read, replace its date's row, create emr_table on its first run.
JOB_GRANTS = "SELECT, INSERT, DELETE, CREATE"
JDBC_DRIVER = "org.mariadb.jdbc.Driver"       # the class in JDBC_JAR, named in the job's secret
IMPORT_GRANTS = "SELECT"                        # what the import's user may do on airline_db's tables
POSTGRES_JDBC_DRIVER = "org.postgresql.Driver"  # the class in POSTGRES_JDBC_JAR, named in the import's secret
JDBC_DRIVERS = {"mysql": JDBC_DRIVER, "postgres": POSTGRES_JDBC_DRIVER}   # by the secret's `engine`

# -- the bucket and what goes into it --------------------------------------------------------------------
JDBC_JAR = MARIADB_JDBC_JAR   # MariaDB Connector/J; speaks to MySQL too
JDBC_JAR_KEY = "jars/mariadb-java-client.jar"
# POSTGRES_JDBC_JAR (labkit.config): PgJDBC, the workshop job's import step's driver
POSTGRES_JDBC_JAR_KEY = "jars/postgresql.jar"
# The drivers the EMR steps run, pinned by version and sha256 (labkit.jdbc: the same files the local profile's
# steps use, fetched by `make setup` from a registry, whatever the learner's distribution). A jar with other bytes
# is refused before anything is made.
JDBC_JAR_PINS = JDBC_PINS   # role ("mariadb", "postgres") -> labkit.jdbc.Jar
SPARK_JOBS_PREFIX = "spark_jobs/"
RAW_DATA_PREFIX = "raw/retail/"
# The landing zone on aws (LANDING_ZONE): the workshop job's EMR steps write here, and only here (iam.py)
LANDING_PREFIX = "landing/"


def folder_marker(prefix: str) -> str:
    """The key EMRFS writes for a folder `prefix` ("landing/") it creates: `landing_$folder$` (EMR's S3 client marks
    each folder it makes, every missing parent of a written key included). A role that may write under `landing/*`
    must also write (and delete) this key, which that pattern does not match."""
    return prefix.rstrip("/") + "_$folder$"


def write_resources(bucket_arn: str, prefix: str) -> list[str]:
    """The S3 ARNs a writer of everything under `prefix` needs: the keys under it and its folder's marker. (Markers
    of folders below it are under it.) `$` is literal in an IAM resource unless it starts a `${...}` variable."""
    return [f"{bucket_arn}/{prefix}*", f"{bucket_arn}/{folder_marker(prefix)}"]


def secret_uri(region: str, secret: str) -> str:
    """Where the EMR job reads its login on AWS (`--credentials`): the secret itself, never a copy in S3."""
    return f"secretsmanager://{region}/{secret}"


def bucket_name(configured: str, account: str, region: str) -> str:
    """LAB_BUCKET / [aws] bucket when set, else one name per account and region (bucket names are global)."""
    return configured or f"{LAB_NAME}-{account}-{region}"


def has_tag(tags: list[dict] | None) -> bool:
    return any(t.get("Key") == TAG_KEY and t.get("Value") == TAG_VALUE for t in tags or [])
