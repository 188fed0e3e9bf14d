"""The database part of provisioning: the login secrets, RDS PostgreSQL, the Aurora MySQL cluster and its
writer, pinned to the engine versions in `spec`; the EMR jobs' own users; and the outputs the connections
are built from.

Aurora's master (`lab_admin`) is used here only, to create the job's user `emr` (rights on its database only);
the job and the `mysql_default` connection log in as `emr`, and the job reads that secret from Secrets Manager
itself (`spec.secret_uri`): no password is written to S3, an XCom, a log or a command line. Likewise RDS
PostgreSQL's master `airline` (the workshop DAG's `postgres_default`) creates `importer`, the read-only login
of the workshop job's import step on EMR, which reads its own secret the same way.

Secrets Manager deletes a secret asynchronously, even with ForceDeleteWithoutRecovery: right after a teardown,
creating a secret of the same name fails for a while (InvalidRequestException, "scheduled for deletion").
Provisioning backs off and tries again, and says what to do if it never clears.
"""
from __future__ import annotations

import json
import time

from labkit.aws import preflight, spec
from labkit.aws import tls as aws_tls
from labkit.aws.steps import Action, LabState, code, message
from labkit.errors import LabError

SECRET_DELETION_WAIT = 5 * 60      # seconds; AWS: a forced deletion usually completes within seconds
_GONE = ("DBClusterNotFoundFault", "DBInstanceNotFound", "DBInstanceNotFoundFault")


class DatabaseSteps(LabState):
    # -- secrets ---------------------------------------------------------------------------------------
    def secret(self, db: spec.Database, user: str, name: str, apply: bool) -> Action:
        from botocore.exceptions import ClientError

        sm = self.acct.secrets
        try:
            found = sm.describe_secret(SecretId=name)
        except ClientError as exc:
            if code(exc) != "ResourceNotFoundException":
                raise
            found = None
        if found:
            self.check_tag(found.get("Tags"), "secret", name)
        if found and not found.get("DeletedDate"):
            if apply:
                value = sm.get_secret_value(SecretId=name)["SecretString"]
                self.passwords[name] = json.loads(value)["password"]
            return Action("secret", name, "exists", f"password of {user}@{db.kind}")
        pending = " (after its deletion completes)" if found else ""
        if not apply:
            return Action("secret", name, "create", f"generated password of {user}@{db.kind}{pending}")
        password = sm.get_random_password(PasswordLength=32, ExcludePunctuation=True)["RandomPassword"]
        self._create_secret(db, user, name, password, pending_deletion=bool(found))
        self.passwords[name] = password
        self.new_secrets.add(name)
        return Action("secret", name, "created", f"generated password of {user}@{db.kind}")

    def _create_secret(self, db: spec.Database, user: str, name: str, password: str, pending_deletion: bool) -> None:
        """create_secret, retried with exponential back-off while a deletion of the same name completes.

        AWS answers InvalidRequestException ("scheduled for deletion"); an emulator may answer
        ResourceExistsException for a name whose secret we saw pending deletion: both mean "not yet".
        """
        from botocore.exceptions import ClientError

        budget = min(self.timeout, SECRET_DELETION_WAIT)
        pause, start = max(self.delay / 5, 0.01), time.monotonic()
        while True:
            try:
                self.acct.secrets.create_secret(
                    Name=name, Tags=spec.TAGS, Description=f"{spec.LAB_NAME}: {db.kind} login of {user} (labkit)",
                    SecretString=json.dumps(self.secret_value(db, user, password, host="")))
                return
            except ClientError as exc:
                if not (code(exc) == "InvalidRequestException"
                        or (pending_deletion and code(exc) == "ResourceExistsException")):
                    raise
                why = message(exc)
            elapsed = time.monotonic() - start
            if elapsed + pause > budget:
                raise LabError(
                    f"secret {name} is still scheduled for deletion after {elapsed:.0f} s ({why.rstrip('.')}); "
                    "Secrets Manager finishes a teardown's deletion by itself: run provisioning again in a few "
                    f"minutes (what was made so far is kept), or, if you scheduled it, restore it with `aws "
                    f"secretsmanager restore-secret --secret-id {name}`")
            time.sleep(pause)
            pause = min(pause * 2, 30)

    @staticmethod
    def secret_value(db: spec.Database, user: str, password: str, host: str) -> dict:
        """The shape RDS itself uses for database secrets (what the EMR steps read on AWS, plus their JDBC driver)."""
        engine = "postgres" if db.engine == "postgres" else "mysql"
        value = {"engine": engine, "host": host, "port": db.port, "username": user, "password": password,
                 "dbname": db.database}
        value["driver"] = spec.JDBC_DRIVERS[engine]
        return value

    # -- databases -------------------------------------------------------------------------------------
    def _describe(self, kind: str, ident: str) -> dict | None:
        from botocore.exceptions import ClientError

        rds = self.acct.rds
        try:
            if kind == "cluster":
                item = rds.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]
                status = item["Status"]
            else:
                item = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
                status = item["DBInstanceStatus"]
        except ClientError as exc:
            if code(exc) in _GONE:
                return None
            raise
        self.check_tag(item.get("TagList"), f"RDS {kind}", ident)
        if status == "deleting":
            raise LabError(f"RDS {kind} {ident} is still being deleted (a teardown ran); wait until it is gone "
                           "(a few minutes) and run again")
        return item

    def postgres(self, apply: bool) -> Action:
        db = spec.POSTGRES
        detail = f"{db.engine} {db.engine_version} {db.instance_class}, {db.storage_gb} GB gp3, database {db.database}"
        if self._describe("instance", db.identifier):
            if apply and db.admin_secret in self.new_secrets:   # the secret was lost: give the DB the new password
                self.acct.rds.modify_db_instance(DBInstanceIdentifier=db.identifier, ApplyImmediately=True,
                                                 MasterUserPassword=self.passwords[db.admin_secret])
                return Action(db.kind, db.identifier, "updated", "master password reset (its secret was missing)")
            return Action(db.kind, db.identifier, "exists", detail)
        if not apply:
            return Action(db.kind, db.identifier, "create", detail)
        self.acct.rds.create_db_instance(
            DBInstanceIdentifier=db.identifier, Engine=db.engine, EngineVersion=db.engine_version,
            AutoMinorVersionUpgrade=False, DBInstanceClass=db.instance_class,
            AllocatedStorage=db.storage_gb, StorageType="gp3", DBName=db.database, MasterUsername=db.admin_user,
            MasterUserPassword=self.passwords[db.admin_secret], DBSubnetGroupName=spec.DB_SUBNET_GROUP,
            VpcSecurityGroupIds=[self.sg_ids[spec.SG_DB]], PubliclyAccessible=True, MultiAZ=False,
            BackupRetentionPeriod=0, StorageEncrypted=True, DeletionProtection=False, CopyTagsToSnapshot=True,
            Tags=spec.TAGS)
        return Action(db.kind, db.identifier, "created", detail)

    def aurora_cluster(self, apply: bool) -> Action:
        db = spec.AURORA
        detail = f"{db.engine} {db.engine_version}, database {db.database}"
        if self._describe("cluster", db.identifier):
            if apply and db.admin_secret in self.new_secrets:
                self.acct.rds.modify_db_cluster(DBClusterIdentifier=db.identifier, ApplyImmediately=True,
                                                MasterUserPassword=self.passwords[db.admin_secret])
                return Action(f"{db.kind} cluster", db.identifier, "updated",
                              "master password reset (its secret was missing)")
            return Action(f"{db.kind} cluster", db.identifier, "exists", detail)
        if not apply:
            return Action(f"{db.kind} cluster", db.identifier, "create", detail)
        self.acct.rds.create_db_cluster(
            DBClusterIdentifier=db.identifier, Engine=db.engine, EngineVersion=db.engine_version,
            DatabaseName=db.database, MasterUsername=db.admin_user,
            MasterUserPassword=self.passwords[db.admin_secret], DBSubnetGroupName=spec.DB_SUBNET_GROUP,
            VpcSecurityGroupIds=[self.sg_ids[spec.SG_DB]], StorageEncrypted=True, BackupRetentionPeriod=1,
            DeletionProtection=False, Tags=spec.TAGS)
        return Action(f"{db.kind} cluster", db.identifier, "created", detail)

    def aurora_instance(self, apply: bool) -> Action:
        db = spec.AURORA
        detail = f"{db.instance_class}, writer of {db.identifier}"
        if self._describe("instance", db.instance):
            return Action(f"{db.kind} instance", db.instance, "exists", detail)
        if not apply:
            return Action(f"{db.kind} instance", db.instance, "create", detail)
        self.acct.rds.create_db_instance(
            DBInstanceIdentifier=db.instance, DBClusterIdentifier=db.identifier, Engine=db.engine,
            DBInstanceClass=db.instance_class, PubliclyAccessible=True, AutoMinorVersionUpgrade=False,
            Tags=spec.TAGS)
        return Action(f"{db.kind} instance", db.instance, "created", detail)

    def outputs(self) -> dict:
        rds = self.acct.rds
        pg = rds.describe_db_instances(DBInstanceIdentifier=spec.POSTGRES.identifier)["DBInstances"][0]
        au = rds.describe_db_clusters(DBClusterIdentifier=spec.AURORA.identifier)["DBClusters"][0]
        return {
            "account": self.acct.account_id, "region": self.acct.region,
            "lab_tag": {spec.TAG_KEY: spec.TAG_VALUE},
            "bucket": self.bucket, "vpc_id": self.vpc_id, "subnet_id": self.subnet_id,
            "postgres_host": pg["Endpoint"]["Address"], "postgres_port": pg["Endpoint"]["Port"],
            "postgres_user": spec.POSTGRES.user, "postgres_db": spec.POSTGRES.database,
            "postgres_secret": spec.POSTGRES.secret,
            "postgres_import_user": spec.POSTGRES.import_user, "postgres_import_secret": spec.POSTGRES.import_secret,
            "aurora_host": au["Endpoint"], "aurora_port": au.get("Port", spec.AURORA.port),
            "aurora_user": spec.AURORA.user, "aurora_db": spec.AURORA.database, "aurora_secret": spec.AURORA.secret,
            "db_security_group": self.sg_ids[spec.SG_DB],
            "emr_master_security_group": self.sg_ids[spec.SG_EMR_MASTER],
            "emr_slave_security_group": self.sg_ids[spec.SG_EMR_SLAVE],
            "emr_service_role": spec.EMR_SERVICE_ROLE, "emr_instance_profile": spec.EMR_EC2_ROLE,
            "emr_log_uri": f"s3://{self.bucket}/{spec.EMR_LOG_PREFIX}",
            "emr_release_label": spec.EMR_RELEASE_LABEL,
            "emr_jdbc_credentials": spec.secret_uri(self.acct.region, spec.AURORA.secret),
            "workshop_jdbc_credentials": spec.secret_uri(self.acct.region, spec.POSTGRES.import_secret),
        }

    def record_hosts(self, out: dict) -> None:
        """Complete each secret with its endpoint (the EMR job reads host, port, user and password from it)."""
        for db, host in ((spec.POSTGRES, out["postgres_host"]), (spec.AURORA, out["aurora_host"])):
            for user, name in db.logins():
                value = self.secret_value(db, user, self.passwords[name], host)
                current = json.loads(self.acct.secrets.get_secret_value(SecretId=name)["SecretString"])
                if current != value:
                    self.acct.secrets.put_secret_value(SecretId=name, SecretString=json.dumps(value))

    # -- the job's own user ------------------------------------------------------------------------------
    def job_user(self, apply: bool, host: str = "") -> Action:
        """`emr` on Aurora with rights on its database only, its password that of its secret (idempotent).

        A login as the master over TLS from this machine (the databases' group admits `allow_cidr`), the server's
        certificate verified against the RDS CA bundle (labkit.aws.tls) and naming the host.
        """
        db = spec.AURORA
        name, detail = f"{db.user}@{db.identifier}", f"{spec.JOB_GRANTS} on {db.database}.* only (not the master)"
        if not apply:
            return Action("database user", name, "create", detail)
        if preflight.rehearsal():
            return Action("database user", name, "unchecked", f"{preflight.REHEARSAL_ENV}=1: the emulator's Aurora "
                          "has no server behind its endpoint; on AWS this step logs in as the master and makes it")
        import pymysql

        tls = aws_tls.mysql_context()
        try:
            conn = pymysql.connect(host=host, port=db.port, user=db.admin_user, database=db.database, ssl=tls,
                                   password=self.passwords[db.admin_secret], connect_timeout=10)
        except pymysql.err.OperationalError as exc:
            raise LabError(f"cannot log in to {db.kind} at {host} as {db.admin_user} to make the job's user "
                           f"({exc.args[-1]}); your address must be allowed by security group {spec.SG_DB} "
                           f"({self.allow_cidr}): run provisioning again from that address") from None
        with conn, conn.cursor() as cur:
            cur.execute("select count(*) from mysql.user where user = %s", (db.user,))
            existed = cur.fetchone()[0] > 0
            password = self.passwords[db.secret]
            cur.execute("create user if not exists %s@'%%' identified by %s", (db.user, password))
            cur.execute("alter user %s@'%%' identified by %s", (db.user, password))
            cur.execute(f"grant {spec.JOB_GRANTS} on `{db.database}`.* to %s@'%%'", (db.user,))
            conn.commit()
        return Action("database user", name, "exists" if existed else "created", detail)



    def import_user(self, apply: bool, host: str = "") -> Action:
        """`importer` on RDS PostgreSQL: IMPORT_GRANTS on airline_db's tables, now and later (idempotent).

        A login as the master over TLS from this machine (`sslmode=verify-full` against the RDS CA bundle, as for
        `job_user`).
        """
        db = spec.POSTGRES
        name = f"{db.import_user}@{db.identifier}"
        detail = f"{spec.IMPORT_GRANTS} on {db.database}'s tables, also those {db.admin_user} makes later (not the master)"
        if not apply:
            return Action("database user", name, "create", detail)
        if preflight.rehearsal():
            return Action("database user", name, "unchecked", f"rehearsal ({preflight.REHEARSAL_ENV}=1): no PostgreSQL "
                          f"answers at {host}:{db.port}; on AWS this step logs in there as the master and makes it")
        import psycopg2

        try:
            conn = psycopg2.connect(host=host, port=db.port, user=db.admin_user, dbname=db.database,
                                    password=self.passwords[db.admin_secret], connect_timeout=10,
                                    **aws_tls.postgres_args())
        except psycopg2.OperationalError as exc:
            why = " ".join(str(exc).split())
            raise LabError(f"cannot log in to {db.kind} at {host} as {db.admin_user} to make the import's user "
                           f"({why}); your address must be allowed by security group {spec.SG_DB} "
                           f"({self.allow_cidr}): run provisioning again from that address") from None
        try:
            existed = grant_import_user(conn, db, self.passwords[db.import_secret])
        finally:
            conn.close()
        return Action("database user", name, "exists" if existed else "created", detail)


def grant_import_user(conn, db: spec.Database, password: str) -> bool:
    """Make (or bring back to) `db.import_user`: a login with `password` that may read the tables of schema public
    in `db.database`, those its owner `db.admin_user` creates later too, and nothing else. True if it existed."""
    from psycopg2 import sql
    from psycopg2.extensions import encrypt_password

    user, owner = sql.Identifier(db.import_user), sql.Identifier(db.admin_user)
    # Only the SCRAM verifier is sent: a statement that fails is logged by the server, and would show a plain one.
    verifier = encrypt_password(password, db.import_user, conn, "scram-sha-256")
    with conn, conn.cursor() as cur:
        cur.execute("select count(*) from pg_roles where rolname = %s", (db.import_user,))
        existed = cur.fetchone()[0] > 0
        verb = "alter" if existed else "create"
        cur.execute(sql.SQL(verb + " role {} with login nosuperuser nocreatedb nocreaterole password %s").format(user),
                    (verifier,))
        grants = spec.IMPORT_GRANTS.lower()
        for statement in (
                "grant connect on database {db} to {user}",
                "grant usage on schema public to {user}",
                "grant " + grants + " on all tables in schema public to {user}",
                "alter default privileges for role {owner} in schema public grant " + grants + " on tables to {user}"):
            cur.execute(sql.SQL(statement).format(db=sql.Identifier(db.database), user=user, owner=owner))
    return existed
