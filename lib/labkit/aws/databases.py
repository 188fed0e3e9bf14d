"""The database part of provisioning: the two login secrets, RDS PostgreSQL, the Aurora MySQL cluster and its
writer, pinned to the engine versions in `spec`; and the outputs the connections are built from.

Secrets Manager deletes a secret asynchronously, even with ForceDeleteWithoutRecovery: right after a teardown,
creating a secret of the same name fails for a while (InvalidRequestException, "scheduled for deletion").
Provisioning backs off and tries again, and says what to do if it never clears.
"""
from __future__ import annotations

import json
import time

from labkit.aws import spec
from labkit.aws.steps import Action, LabState, code, message
from labkit.errors import LabError

SECRET_DELETION_WAIT = 5 * 60      # seconds; AWS: a forced deletion usually completes within seconds
_GONE = ("DBClusterNotFoundFault", "DBInstanceNotFound", "DBInstanceNotFoundFault")


class DatabaseSteps(LabState):
    # -- secrets ---------------------------------------------------------------------------------------
    def secret(self, db: spec.Database, apply: bool) -> Action:
        from botocore.exceptions import ClientError

        sm = self.acct.secrets
        try:
            found = sm.describe_secret(SecretId=db.secret)
        except ClientError as exc:
            if code(exc) != "ResourceNotFoundException":
                raise
            found = None
        if found:
            self.check_tag(found.get("Tags"), "secret", db.secret)
        if found and not found.get("DeletedDate"):
            if apply:
                value = sm.get_secret_value(SecretId=db.secret)["SecretString"]
                self.passwords[db.secret] = json.loads(value)["password"]
            return Action("secret", db.secret, "exists", f"password of {db.user}@{db.kind}")
        pending = " (after its deletion completes)" if found else ""
        if not apply:
            return Action("secret", db.secret, "create", f"generated password of {db.user}@{db.kind}{pending}")
        password = sm.get_random_password(PasswordLength=32, ExcludePunctuation=True)["RandomPassword"]
        self._create_secret(db, password, pending_deletion=bool(found))
        self.passwords[db.secret] = password
        self.new_secrets.add(db.secret)
        return Action("secret", db.secret, "created", f"generated password of {db.user}@{db.kind}")

    def _create_secret(self, db: spec.Database, password: str, pending_deletion: bool) -> None:
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
                    Name=db.secret, Tags=spec.TAGS, Description=f"{spec.LAB_NAME}: {db.kind} login (labkit)",
                    SecretString=json.dumps(self.secret_value(db, password, host="")))
                return
            except ClientError as exc:
                if not (code(exc) == "InvalidRequestException"
                        or (pending_deletion and code(exc) == "ResourceExistsException")):
                    raise
                why = message(exc)
            elapsed = time.monotonic() - start
            if elapsed + pause > budget:
                raise LabError(
                    f"secret {db.secret} is still scheduled for deletion after {elapsed:.0f} s ({why.rstrip('.')}); "
                    "Secrets Manager finishes a teardown's deletion by itself: run provisioning again in a few "
                    f"minutes (what was made so far is kept), or, if you scheduled it, restore it with `aws "
                    f"secretsmanager restore-secret --secret-id {db.secret}`")
            time.sleep(pause)
            pause = min(pause * 2, 30)

    @staticmethod
    def secret_value(db: spec.Database, password: str, host: str) -> dict:
        """The shape RDS itself uses for database secrets (what the EMR job reads on AWS)."""
        engine = "postgres" if db.engine == "postgres" else "mysql"
        return {"engine": engine, "host": host, "port": db.port, "username": db.user, "password": password,
                "dbname": db.database}

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
            if apply and db.secret in self.new_secrets:   # the secret was lost: give the DB the new password
                self.acct.rds.modify_db_instance(DBInstanceIdentifier=db.identifier, ApplyImmediately=True,
                                                 MasterUserPassword=self.passwords[db.secret])
                return Action(db.kind, db.identifier, "updated", "master password reset (its secret was missing)")
            return Action(db.kind, db.identifier, "exists", detail)
        if not apply:
            return Action(db.kind, db.identifier, "create", detail)
        self.acct.rds.create_db_instance(
            DBInstanceIdentifier=db.identifier, Engine=db.engine, EngineVersion=db.engine_version,
            AutoMinorVersionUpgrade=False, DBInstanceClass=db.instance_class,
            AllocatedStorage=db.storage_gb, StorageType="gp3", DBName=db.database, MasterUsername=db.user,
            MasterUserPassword=self.passwords[db.secret], DBSubnetGroupName=spec.DB_SUBNET_GROUP,
            VpcSecurityGroupIds=[self.sg_ids[spec.SG_DB]], PubliclyAccessible=True, MultiAZ=False,
            BackupRetentionPeriod=0, StorageEncrypted=True, DeletionProtection=False, CopyTagsToSnapshot=True,
            Tags=spec.TAGS)
        return Action(db.kind, db.identifier, "created", detail)

    def aurora_cluster(self, apply: bool) -> Action:
        db = spec.AURORA
        detail = f"{db.engine} {db.engine_version}, database {db.database}"
        if self._describe("cluster", db.identifier):
            if apply and db.secret in self.new_secrets:
                self.acct.rds.modify_db_cluster(DBClusterIdentifier=db.identifier, ApplyImmediately=True,
                                                MasterUserPassword=self.passwords[db.secret])
                return Action(f"{db.kind} cluster", db.identifier, "updated",
                              "master password reset (its secret was missing)")
            return Action(f"{db.kind} cluster", db.identifier, "exists", detail)
        if not apply:
            return Action(f"{db.kind} cluster", db.identifier, "create", detail)
        self.acct.rds.create_db_cluster(
            DBClusterIdentifier=db.identifier, Engine=db.engine, EngineVersion=db.engine_version,
            DatabaseName=db.database, MasterUsername=db.user,
            MasterUserPassword=self.passwords[db.secret], DBSubnetGroupName=spec.DB_SUBNET_GROUP,
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
            "aurora_host": au["Endpoint"], "aurora_port": au.get("Port", spec.AURORA.port),
            "aurora_user": spec.AURORA.user, "aurora_db": spec.AURORA.database, "aurora_secret": spec.AURORA.secret,
            "db_security_group": self.sg_ids[spec.SG_DB],
            "emr_master_security_group": self.sg_ids[spec.SG_EMR_MASTER],
            "emr_slave_security_group": self.sg_ids[spec.SG_EMR_SLAVE],
            "emr_service_role": spec.EMR_SERVICE_ROLE, "emr_instance_profile": spec.EMR_EC2_ROLE,
            "emr_log_uri": f"s3://{self.bucket}/{spec.EMR_LOG_PREFIX}",
            "emr_release_label": spec.EMR_RELEASE_LABEL,
            "emr_jdbc_credentials": f"s3://{self.bucket}/{spec.JDBC_PROPERTIES_KEY}",
        }

    def record_hosts(self, out: dict) -> None:
        """Complete each secret with its endpoint (the EMR job reads host, port, user and password from it)."""
        for db, host in ((spec.POSTGRES, out["postgres_host"]), (spec.AURORA, out["aurora_host"])):
            value = self.secret_value(db, self.passwords[db.secret], host)
            current = json.loads(self.acct.secrets.get_secret_value(SecretId=db.secret)["SecretString"])
            if current != value:
                self.acct.secrets.put_secret_value(SecretId=db.secret, SecretString=json.dumps(value))


