"""What the `aws` profile creates: every name, size and setting in one place (no AWS calls here).

Everything carries one tag, `lab=airflow-lab`, which is how teardown finds it again. Names start with the
same prefix so that a learner's other resources are easy to tell apart (and are never touched: a resource
with one of these names but without the tag is an error, not something labkit adopts or deletes).
"""
from __future__ import annotations

from dataclasses import dataclass

from labkit.config import MARIADB_JDBC_JAR

LAB_NAME = "airflow-lab"
TAG_KEY = "lab"
TAG_VALUE = LAB_NAME
TAGS = [{"Key": TAG_KEY, "Value": TAG_VALUE}]

# -- EMR (the DAG creates the clusters; these are the values it templates) ---------------------------
EMR_RELEASE_LABEL = "emr-7.13.0"          # current EMR 7 release with Spark 3.5 (checked 2026-11)
EMR_INSTANCE_TYPE = "m5.xlarge"           # the seed's instance groups: one node each
EMR_INSTANCE_GROUPS = (("MASTER", 1), ("CORE", 1), ("TASK", 1))
EMR_SERVICE_ROLE = f"{LAB_NAME}-emr-service-role"     # the seed's `emr-service-role`
EMR_EC2_ROLE = f"{LAB_NAME}-emr-ec2-role"             # the seed's `emr-ec2-role` (role + instance profile)
EMR_SERVICE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonElasticMapReduceRole"
EMR_EC2_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonElasticMapReduceforEC2Role"
EMR_LOG_PREFIX = "emr-logs/"

# -- network --------------------------------------------------------------------------------------------
SG_DB = f"{LAB_NAME}-db"                  # PostgreSQL + Aurora: from the VPC and from your address
SG_EMR_MASTER = f"{LAB_NAME}-emr-master"  # EMR-managed groups: EMR adds its own rules to them
SG_EMR_SLAVE = f"{LAB_NAME}-emr-slave"
DB_SUBNET_GROUP = f"{LAB_NAME}-db-subnets"


@dataclass(frozen=True)
class Database:
    kind: str               # what the learner reads in tables
    identifier: str         # DB instance id, or the cluster id for Aurora
    engine: str
    instance_class: str
    database: str
    user: str               # the same login as on the local profile
    port: int
    secret: str             # Secrets Manager name holding the generated password
    instance: str = ""      # Aurora: the writer instance in the cluster
    storage_gb: int = 0     # RDS only (Aurora storage grows by itself)


POSTGRES = Database(kind="RDS PostgreSQL", identifier=f"{LAB_NAME}-postgres", engine="postgres",
                    instance_class="db.t4g.small", database="airline_db", user="airline", port=5432,
                    secret=f"{LAB_NAME}/postgres", storage_gb=20)
AURORA = Database(kind="Aurora MySQL", identifier=f"{LAB_NAME}-aurora", engine="aurora-mysql",
                  instance_class="db.t4g.medium", database="airflow", user="emr", port=3306,
                  secret=f"{LAB_NAME}/aurora", instance=f"{LAB_NAME}-aurora-1")
DATABASES = (POSTGRES, AURORA)

# -- the bucket and what goes into it --------------------------------------------------------------------
JDBC_JAR = MARIADB_JDBC_JAR   # Debian's libmariadb-java; speaks to MySQL too
JDBC_JAR_KEY = "jars/mariadb-java-client.jar"
SPARK_JOBS_PREFIX = "spark_jobs/"
RAW_DATA_PREFIX = "raw/retail/"
# The EMR job reads its JDBC login from a properties file (labkit.services.emr writes the local one); on
# AWS it is this private object, written from the Aurora secret and deleted with the bucket.
JDBC_PROPERTIES_KEY = "secrets/emr_jdbc.properties"


def bucket_name(configured: str, account: str, region: str) -> str:
    """LAB_BUCKET / [aws] bucket when set, else one name per account and region (bucket names are global)."""
    return configured or f"{LAB_NAME}-{account}-{region}"


def has_tag(tags: list[dict] | None) -> bool:
    return any(t.get("Key") == TAG_KEY and t.get("Value") == TAG_VALUE for t in tags or [])
