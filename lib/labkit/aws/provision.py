"""Provisioning of the `aws` profile: a plan with its cost (the default: a dry run), then, with
`confirm=True`, everything that is missing is created, tagged `lab=airflow-lab`, waited for, and the
outputs written to `<state>/aws/outputs.json` for `labkit.connections`.

Every step first looks for its resource: a second run finds everything and changes nothing. A resource
that has one of our names but not our tag stops the run (labkit never adopts what it did not make).
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from labkit.aws import cost, outputs, spec
from labkit.aws.session import Account, connect
from labkit.config import Config
from labkit.errors import LabError

CHANGES = ("created", "updated", "uploaded")


@dataclass
class Action:
    resource: str
    name: str
    action: str          # dry run: create | exists | update | upload | unchanged;  applied: created | exists | updated | uploaded | unchanged
    detail: str = ""


@dataclass
class ProvisionResult:
    confirmed: bool
    cost: object                     # DataFrame: the estimate
    actions: list[Action]
    outputs: dict | None = None

    @property
    def changed(self) -> bool:
        return any(a.action in CHANGES for a in self.actions)

    def table(self):
        import pandas as pd

        return pd.DataFrame([a.__dict__ for a in self.actions]).set_index(["resource", "name"])

    def text(self) -> str:
        width = max(len(a.name) for a in self.actions)
        return "\n".join(f"{a.resource:<22} {a.name:<{width}}  {a.action:<9}  {a.detail}" for a in self.actions)


def require_aws_profile(cfg: Config) -> None:
    if cfg.profile != "aws":
        raise LabError(f"AWS provisioning and teardown need LAB_PROFILE=aws (the active profile is {cfg.profile!r}); "
                       "on local, use `labkit up` / `labkit down`")


def check_cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise LabError(f"allow_cidr={value!r} is not an address range; give your public address like "
                       "'203.0.113.7/32'") from None
    if net.prefixlen < 8:
        raise LabError(f"allow_cidr={value!r} would open the databases to a large part of the internet; give your "
                       "own address, e.g. '203.0.113.7/32'")
    return str(net)


def public_cidr() -> str:
    """This machine's public IPv4 address as a /32 (what the databases will accept connections from)."""
    import urllib.request

    try:
        with urllib.request.urlopen("https://checkip.amazonaws.com", timeout=10) as resp:
            return check_cidr(resp.read().decode().strip() + "/32")
    except OSError as exc:
        raise LabError(f"could not look up this machine's public address ({exc}); pass it yourself, "
                       "e.g. allow_cidr='203.0.113.7/32'") from None


def default_raw_dir(cfg: Config) -> Path:
    """Where a copy of the raw retail data may already be: the aws staging folder of the retail generator
    (`<state>/aws/raw/retail`), else the local profile's bucket (`<state>/s3/<local bucket>/raw/retail`)."""
    try:
        local_bucket = tomllib.loads(cfg.settings_file.read_text()).get("local", {}).get("bucket", "lab-bucket")
    except (OSError, tomllib.TOMLDecodeError):
        local_bucket = "lab-bucket"
    candidates = [cfg.state_dir / "aws" / "raw" / "retail", cfg.s3_dir / (local_bucket or "lab-bucket") / "raw" / "retail"]
    return next((c for c in candidates if c.is_dir() and any(c.iterdir())), candidates[-1])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


@dataclass
class _Lab:
    """The desired state in one account and region, and the look-ups that compare it with what exists."""
    cfg: Config
    acct: Account
    allow_cidr: str | None
    raw_dir: Path
    progress: bool = True
    vpc_id: str = ""
    vpc_cidr: str = ""
    subnet_ids: list[str] = field(default_factory=list)
    subnet_id: str = ""
    sg_ids: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    new_secrets: set[str] = field(default_factory=set)

    @property
    def bucket(self) -> str:
        return spec.bucket_name(self.cfg.bucket, self.acct.account_id, self.acct.region)

    def check_tag(self, tags, kind: str, name: str) -> None:
        if not spec.has_tag(tags):
            raise LabError(f"{kind} {name} already exists but is not tagged {spec.TAG_KEY}={spec.TAG_VALUE}: labkit "
                           "does not adopt (or later delete) what it did not make; rename or remove it yourself, or "
                           "use another region (LAB_REGION)")

    # -- network ---------------------------------------------------------------------------------------
    def network(self) -> None:
        ec2 = self.acct.ec2
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise LabError(f"region {self.acct.region} has no default VPC; create one (free) with `aws ec2 "
                           f"create-default-vpc --region {self.acct.region}` or choose another region (LAB_REGION)")
        self.vpc_id, self.vpc_cidr = vpcs[0]["VpcId"], vpcs[0]["CidrBlock"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [self.vpc_id]},
                                                {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        subnets.sort(key=lambda s: s["AvailabilityZone"])
        if len(subnets) < 2:
            raise LabError(f"the default VPC {self.vpc_id} has {len(subnets)} default subnet(s); RDS needs two "
                           "availability zones: `aws ec2 create-default-subnet --availability-zone <zone>`")
        self.subnet_ids = [s["SubnetId"] for s in subnets]
        wanted = self.cfg.subnet_id
        if wanted and wanted not in self.subnet_ids:
            raise LabError(f"subnet {wanted} (LAB_SUBNET_ID / [aws] subnet_id) is not a default subnet of the default "
                           f"VPC {self.vpc_id}; leave it empty to use {self.subnet_ids[0]}")
        self.subnet_id = wanted or self.subnet_ids[0]

    def _find_sg(self, name: str) -> dict | None:
        groups = self.acct.ec2.describe_security_groups(Filters=[
            {"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [self.vpc_id]}])["SecurityGroups"]
        if not groups:
            return None
        self.check_tag(groups[0].get("Tags"), "security group", name)
        return groups[0]

    def security_group(self, name: str, description: str, apply: bool) -> Action:
        group = self._find_sg(name)
        if group:
            self.sg_ids[name] = group["GroupId"]
            return Action("security group", name, "exists", group["GroupId"])
        if not apply:
            return Action("security group", name, "create", f"in the default VPC {self.vpc_id}")
        gid = self.acct.ec2.create_security_group(
            GroupName=name, Description=description, VpcId=self.vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": spec.TAGS}])["GroupId"]
        self.sg_ids[name] = gid
        return Action("security group", name, "created", gid)

    def db_ingress(self, apply: bool) -> Action:
        sources = [(self.vpc_cidr, "the VPC (EMR nodes)")]
        if self.allow_cidr:
            sources.append((self.allow_cidr, "this machine (Airflow, notebooks)"))
        wanted = [(db.port, cidr, why) for db in spec.DATABASES for cidr, why in sources]
        group = self._find_sg(spec.SG_DB)
        have = set()
        for perm in (group or {}).get("IpPermissions", []):
            for r in perm.get("IpRanges", []):
                have.add((perm.get("FromPort"), r.get("CidrIp")))
        missing = [(port, cidr, why) for port, cidr, why in wanted if (port, cidr) not in have]
        ports = "/".join(str(db.port) for db in spec.DATABASES)
        who = " and ".join(c for c, _ in sources) + ("" if self.allow_cidr else " and your public IP (looked up "
                                                                                 "when confirm=True)")
        if not missing:
            return Action("ingress rules", spec.SG_DB, "exists", f"tcp {ports} from {who}")
        if not apply:
            return Action("ingress rules", spec.SG_DB, "update" if group else "create", f"tcp {ports} from {who}")
        self.acct.ec2.authorize_security_group_ingress(
            GroupId=self.sg_ids[spec.SG_DB],
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                            "IpRanges": [{"CidrIp": cidr, "Description": f"{spec.LAB_NAME}: {why}"}]}
                           for port, cidr, why in missing],
            TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": spec.TAGS}])
        return Action("ingress rules", spec.SG_DB, "created" if not have else "updated", f"tcp {ports} from {who}")

    def db_subnet_group(self, apply: bool) -> Action:
        from botocore.exceptions import ClientError

        rds = self.acct.rds
        try:
            group = rds.describe_db_subnet_groups(DBSubnetGroupName=spec.DB_SUBNET_GROUP)["DBSubnetGroups"][0]
        except ClientError as exc:
            if _code(exc) != "DBSubnetGroupNotFoundFault":
                raise
            group = None
        if group:
            tags = rds.list_tags_for_resource(ResourceName=group["DBSubnetGroupArn"])["TagList"]
            self.check_tag(tags, "DB subnet group", spec.DB_SUBNET_GROUP)
            return Action("DB subnet group", spec.DB_SUBNET_GROUP, "exists", f"{len(group['Subnets'])} subnets")
        if not apply:
            return Action("DB subnet group", spec.DB_SUBNET_GROUP, "create", f"{len(self.subnet_ids)} default subnets")
        rds.create_db_subnet_group(DBSubnetGroupName=spec.DB_SUBNET_GROUP, SubnetIds=self.subnet_ids,
                                   DBSubnetGroupDescription=f"{spec.LAB_NAME}: the default VPC's subnets",
                                   Tags=spec.TAGS)
        return Action("DB subnet group", spec.DB_SUBNET_GROUP, "created", f"{len(self.subnet_ids)} default subnets")

    # -- IAM -------------------------------------------------------------------------------------------
    def _get(self, call, **kwargs):
        from botocore.exceptions import ClientError

        try:
            return call(**kwargs)
        except ClientError as exc:
            if _code(exc) == "NoSuchEntity":
                return None
            raise

    def role(self, name: str, service: str, policy_arn: str, apply: bool, inline: dict | None = None) -> Action:
        iam = self.acct.iam
        found = self._get(iam.get_role, RoleName=name)
        if found:
            self.check_tag(found["Role"].get("Tags"), "IAM role", name)
            attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]}
            inline_names = set(iam.list_role_policies(RoleName=name)["PolicyNames"])
            missing = policy_arn not in attached or (inline and inline["name"] not in inline_names)
            if not missing:
                return Action("IAM role", name, "exists", policy_arn.rsplit("/", 1)[-1])
            if not apply:
                return Action("IAM role", name, "update", "attach its policies again")
        elif not apply:
            return Action("IAM role", name, "create", f"for {service}, {policy_arn.rsplit('/', 1)[-1]}")
        else:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(service), Tags=spec.TAGS,
                            Description=f"{spec.LAB_NAME}: made by labkit, deleted by its teardown")
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        if inline:
            iam.put_role_policy(RoleName=name, PolicyName=inline["name"], PolicyDocument=json.dumps(inline["document"]))
        return Action("IAM role", name, "updated" if found else "created", policy_arn.rsplit("/", 1)[-1])

    def secrets_read_policy(self) -> dict:
        arn = f"arn:aws:secretsmanager:{self.acct.region}:{self.acct.account_id}:secret:{spec.LAB_NAME}/*"
        return {"name": f"{spec.LAB_NAME}-read-secrets", "document": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}]}}

    def instance_profile(self, apply: bool) -> Action:
        iam, name = self.acct.iam, spec.EMR_EC2_ROLE
        found = self._get(iam.get_instance_profile, InstanceProfileName=name)
        if found:
            profile = found["InstanceProfile"]
            self.check_tag(profile.get("Tags"), "instance profile", name)
            if any(r["RoleName"] == name for r in profile.get("Roles", [])):
                return Action("instance profile", name, "exists", f"role {name}")
            if not apply:
                return Action("instance profile", name, "update", f"add role {name}")
        elif not apply:
            return Action("instance profile", name, "create", f"role {name}")
        else:
            iam.create_instance_profile(InstanceProfileName=name, Tags=spec.TAGS)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        return Action("instance profile", name, "updated" if found else "created", f"role {name}")

    # -- S3 --------------------------------------------------------------------------------------------
    def bucket_exists(self) -> bool:
        from botocore.exceptions import ClientError

        s3 = self.acct.s3
        try:
            s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            if _code(exc) in ("301", "PermanentRedirect"):
                raise LabError(f"S3 bucket {self.bucket} exists in another region than {self.acct.region}; set "
                               "LAB_REGION to its region or choose another bucket name with LAB_BUCKET") from None
            if _code(exc) in ("403", "AccessDenied", "Forbidden"):
                raise LabError(f"S3 bucket name {self.bucket} is taken by another account; choose another one with "
                               "LAB_BUCKET (or [aws] bucket in lab.toml)") from None
            raise
        try:
            tags = s3.get_bucket_tagging(Bucket=self.bucket)["TagSet"]
        except ClientError as exc:
            if _code(exc) != "NoSuchTagSet":
                raise
            tags = []
        self.check_tag(tags, "S3 bucket", self.bucket)
        return True

    def bucket_action(self, apply: bool) -> Action:
        if self.bucket_exists():
            return Action("S3 bucket", self.bucket, "exists", self.acct.region)
        if not apply:
            return Action("S3 bucket", self.bucket, "create", f"{self.acct.region}, private")
        s3 = self.acct.s3
        kwargs = {} if self.acct.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": self.acct.region}}
        s3.create_bucket(Bucket=self.bucket, **kwargs)
        s3.put_public_access_block(Bucket=self.bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        s3.put_bucket_tagging(Bucket=self.bucket, Tagging={"TagSet": spec.TAGS})
        return Action("S3 bucket", self.bucket, "created", f"{self.acct.region}, private")

    def upload_sets(self) -> list[tuple[str, list[tuple[Path, str]], str]]:
        jobs = sorted(p for p in self.cfg.spark_jobs_dir.rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith("."))
        raw = sorted(p for p in self.raw_dir.rglob("*") if p.is_file()) if self.raw_dir.is_dir() else []
        return [
            (spec.SPARK_JOBS_PREFIX, [(p, spec.SPARK_JOBS_PREFIX + p.relative_to(self.cfg.spark_jobs_dir).as_posix())
                                      for p in jobs], f"from {self.cfg.spark_jobs_dir}"),
            (spec.JDBC_JAR_KEY, [(spec.JDBC_JAR, spec.JDBC_JAR_KEY)], f"from {spec.JDBC_JAR}"),
            (spec.RAW_DATA_PREFIX, [(p, spec.RAW_DATA_PREFIX + p.relative_to(self.raw_dir).as_posix()) for p in raw],
             f"from {self.raw_dir}" if raw else
             f"none at {self.raw_dir}: notebook 07 generates and uploads it (or pass raw_dir=)"),
        ]

    def uploads(self, apply: bool, bucket_exists: bool) -> list[Action]:
        from botocore.exceptions import ClientError
        from labkit.progress import tqdm

        s3, actions = self.acct.s3, []
        for prefix, files, origin in self.upload_sets():
            todo = []
            for path, key in files:
                digest = _sha256(path)
                current = None
                if bucket_exists:
                    try:
                        current = s3.head_object(Bucket=self.bucket, Key=key).get("Metadata", {}).get("sha256")
                    except ClientError as exc:
                        if _code(exc) not in ("404", "NoSuchKey", "NotFound"):
                            raise
                if current != digest:
                    todo.append((path, key, digest))
            name = f"s3://{self.bucket}/{prefix}"
            detail = f"{len(files)} file(s) {origin}"
            if not files:
                actions.append(Action("S3 objects", name, "skipped", origin))
                continue
            if not todo:
                actions.append(Action("S3 objects", name, "unchanged", detail))
                continue
            if not apply:
                actions.append(Action("S3 objects", name, "upload", f"{len(todo)} of " + detail))
                continue
            total = sum(p.stat().st_size for p, _, _ in todo)
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"upload {prefix}", disable=not self.progress) as bar:
                for path, key, digest in todo:
                    s3.upload_file(str(path), self.bucket, key, ExtraArgs={"Metadata": {"sha256": digest}},
                                   Callback=bar.update)
            actions.append(Action("S3 objects", name, "uploaded", f"{len(todo)} of " + detail))
        return actions

    # -- secrets ---------------------------------------------------------------------------------------
    def secret(self, db: spec.Database, apply: bool) -> Action:
        from botocore.exceptions import ClientError

        sm = self.acct.secrets
        try:
            found = sm.describe_secret(SecretId=db.secret)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            found = None
        if found:
            self.check_tag(found.get("Tags"), "secret", db.secret)
            if found.get("DeletedDate"):
                raise LabError(f"secret {db.secret} is scheduled for deletion; restore it with `aws secretsmanager "
                               f"restore-secret --secret-id {db.secret}` or delete it for good, then run again")
            if apply:
                self.passwords[db.secret] = json.loads(sm.get_secret_value(SecretId=db.secret)["SecretString"])["password"]
            return Action("secret", db.secret, "exists", f"password of {db.user}@{db.kind}")
        if not apply:
            return Action("secret", db.secret, "create", f"generated password of {db.user}@{db.kind}")
        password = sm.get_random_password(PasswordLength=32, ExcludePunctuation=True)["RandomPassword"]
        sm.create_secret(Name=db.secret, Tags=spec.TAGS, Description=f"{spec.LAB_NAME}: {db.kind} login (labkit)",
                         SecretString=json.dumps(self.secret_value(db, password, host="")))
        self.passwords[db.secret] = password
        self.new_secrets.add(db.secret)
        return Action("secret", db.secret, "created", f"generated password of {db.user}@{db.kind}")

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
            if _code(exc) in ("DBClusterNotFoundFault", "DBInstanceNotFound", "DBInstanceNotFoundFault"):
                return None
            raise
        self.check_tag(item.get("TagList"), f"RDS {kind}", ident)
        if status == "deleting":
            raise LabError(f"RDS {kind} {ident} is still being deleted (a teardown ran); wait until it is gone "
                           "(a few minutes) and run again")
        return item

    def postgres(self, apply: bool) -> Action:
        db = spec.POSTGRES
        detail = f"{db.engine} {db.instance_class}, {db.storage_gb} GB gp3, database {db.database}"
        if self._describe("instance", db.identifier):
            if apply and db.secret in self.new_secrets:   # the secret was lost: give the DB the new password
                self.acct.rds.modify_db_instance(DBInstanceIdentifier=db.identifier, ApplyImmediately=True,
                                                 MasterUserPassword=self.passwords[db.secret])
                return Action(db.kind, db.identifier, "updated", "master password reset (its secret was missing)")
            return Action(db.kind, db.identifier, "exists", detail)
        if not apply:
            return Action(db.kind, db.identifier, "create", detail)
        self.acct.rds.create_db_instance(
            DBInstanceIdentifier=db.identifier, Engine=db.engine, DBInstanceClass=db.instance_class,
            AllocatedStorage=db.storage_gb, StorageType="gp3", DBName=db.database, MasterUsername=db.user,
            MasterUserPassword=self.passwords[db.secret], DBSubnetGroupName=spec.DB_SUBNET_GROUP,
            VpcSecurityGroupIds=[self.sg_ids[spec.SG_DB]], PubliclyAccessible=True, MultiAZ=False,
            BackupRetentionPeriod=0, StorageEncrypted=True, DeletionProtection=False, CopyTagsToSnapshot=True,
            Tags=spec.TAGS)
        return Action(db.kind, db.identifier, "created", detail)

    def aurora_cluster(self, apply: bool) -> Action:
        db = spec.AURORA
        detail = f"{db.engine}, database {db.database}"
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
            DBClusterIdentifier=db.identifier, Engine=db.engine, DatabaseName=db.database, MasterUsername=db.user,
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
            DBInstanceClass=db.instance_class, PubliclyAccessible=True, Tags=spec.TAGS)
        return Action(f"{db.kind} instance", db.instance, "created", detail)

    # -- the whole plan --------------------------------------------------------------------------------
    def steps(self, apply: bool) -> list[Action]:
        self.network()
        actions = [
            self.security_group(spec.SG_DB, "RDS PostgreSQL and Aurora MySQL of the lab", apply),
            self.db_ingress(apply),
            self.security_group(spec.SG_EMR_MASTER, "EMR-managed group of the master node", apply),
            self.security_group(spec.SG_EMR_SLAVE, "EMR-managed group of core and task nodes", apply),
            self.db_subnet_group(apply),
            self.role(spec.EMR_SERVICE_ROLE, "elasticmapreduce.amazonaws.com", spec.EMR_SERVICE_POLICY, apply),
            self.role(spec.EMR_EC2_ROLE, "ec2.amazonaws.com", spec.EMR_EC2_POLICY, apply,
                      inline=self.secrets_read_policy()),
            self.instance_profile(apply),
        ]
        bucket = self.bucket_action(apply)
        actions.append(bucket)
        actions += self.uploads(apply, bucket_exists=bucket.action in ("exists", "created"))
        actions += [self.secret(db, apply) for db in spec.DATABASES]
        actions += [self.postgres(apply), self.aurora_cluster(apply), self.aurora_instance(apply)]
        if not apply:
            actions.append(self.jdbc_properties(apply=False))
        return actions

    def jdbc_properties(self, apply: bool, host: str = "") -> Action:
        """The EMR step's login as a properties file in the (private) bucket: user, password, driver."""
        from botocore.exceptions import ClientError

        db, key = spec.AURORA, spec.JDBC_PROPERTIES_KEY
        name = f"s3://{self.bucket}/{key}"
        try:
            current = self.acct.s3.head_object(Bucket=self.bucket, Key=key).get("Metadata", {}).get("sha256")
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
                raise
            current = None
        if not apply:
            return Action("S3 object", name, "exists" if current else "create", f"EMR job's login to {db.kind}")
        text = (f"# Written by labkit: the EMR job's JDBC login ({db.kind} {host}:{db.port}); the same password is\n"
                f"# in AWS Secrets Manager as {db.secret}. Deleted by the teardown with the bucket.\n"
                f"user={db.user}\npassword={self.passwords[db.secret]}\ndriver=org.mariadb.jdbc.Driver\n").encode()
        digest = hashlib.sha256(text).hexdigest()
        if current == digest:
            return Action("S3 object", name, "exists", f"EMR job's login to {db.kind}")
        self.acct.s3.put_object(Bucket=self.bucket, Key=key, Body=text, ServerSideEncryption="AES256",
                                Metadata={"sha256": digest})
        return Action("S3 object", name, "updated" if current else "created", f"EMR job's login to {db.kind}")

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


def wait_all(acct: Account, waits: list[tuple[str, str, str, dict]], *, progress: bool = True,
             timeout: float = 45 * 60, delay: float = 15) -> None:
    """Wait for every (label, client name, boto3 waiter, arguments) at once, with one progress bar."""
    from botocore.exceptions import WaiterError
    from labkit.progress import tqdm

    pending, start = list(waits), time.monotonic()
    with tqdm(total=len(waits), desc="waiting for AWS", unit="resource", disable=not progress) as bar:
        while pending:
            for item in list(pending):
                label, client, waiter, kwargs = item
                try:
                    acct.client(client).get_waiter(waiter).wait(**kwargs, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
                except WaiterError as exc:
                    if "Max attempts exceeded" in str(exc):
                        continue
                    raise LabError(f"{label} did not become ready ({exc}); look at it in the AWS console, then run "
                                   "the teardown (notebook 08) and provision again") from None
                pending.remove(item)
                bar.update(1)
            if not pending:
                break
            minutes = (time.monotonic() - start) / 60
            if minutes * 60 > timeout:
                raise LabError(f"still not ready after {minutes:.0f} min: {', '.join(p[0] for p in pending)}; AWS keeps "
                               "creating them: run provisioning again later to wait, or the teardown to remove them")
            bar.set_postfix_str(f"{', '.join(p[0] for p in pending)} ({minutes:.0f} min)")
            time.sleep(delay)


def provision(cfg: Config, *, confirm: bool = False, allow_cidr: str | None = None, raw_dir: str | Path | None = None,
              hours: float = 4.0, emr_runs: int = 2, progress: bool = True, report: Callable[[str], None] = print,
              timeout: float = 45 * 60, delay: float = 15) -> ProvisionResult:
    """Print the cost estimate and the plan; with `confirm=True`, create what is missing and write the outputs.

    `allow_cidr`: the address range (yours) that may reach the databases besides the VPC; looked up at
    https://checkip.amazonaws.com when not given. `raw_dir`: the raw retail data to upload (default: the
    local profile's copy). `hours`/`emr_runs`: the session the estimate is for.
    """
    require_aws_profile(cfg)
    cidr = check_cidr(allow_cidr) if allow_cidr else None
    raw = Path(raw_dir) if raw_dir else default_raw_dir(cfg)
    if raw_dir and not raw.is_dir():
        raise LabError(f"raw_dir={str(raw_dir)!r} is not a folder; give the folder of the retail parquet files")
    if not spec.JDBC_JAR.exists():
        raise LabError(f"JDBC driver {spec.JDBC_JAR} not found (the EMR step needs it): install libmariadb-java "
                       "(`make setup` does)")
    acct = connect(cfg.region)                   # bad credentials stop here, before anything exists
    estimate = cost.estimate(acct.region, hours=hours, emr_runs=emr_runs)
    report(f"Cost estimate ({estimate.attrs['note']}):\n{estimate.to_string()}\n"
           f"Left running, the databases cost about ${estimate.attrs['usd_per_day_if_left_running']:.2f} per day: "
           "run the teardown (notebook 08) when you are done.\n")
    lab = _Lab(cfg, acct, allow_cidr=cidr, raw_dir=raw, progress=progress)
    if not confirm:
        result = ProvisionResult(False, estimate, lab.steps(apply=False))
        report(f"Plan for account {acct.account_id}, region {acct.region} (tag {spec.TAG_KEY}={spec.TAG_VALUE}):\n"
               f"{result.text()}\n")
        report("Dry run: nothing was created. Run again with confirm=True to create what the plan says.")
        return result
    if lab.allow_cidr is None:
        lab.allow_cidr = public_cidr()
    from labkit.state import ensure_state_dir

    ensure_state_dir(cfg)
    actions = lab.steps(apply=True)
    wait_all(acct, [
        (spec.POSTGRES.identifier, "rds", "db_instance_available", {"DBInstanceIdentifier": spec.POSTGRES.identifier}),
        (spec.AURORA.identifier, "rds", "db_cluster_available", {"DBClusterIdentifier": spec.AURORA.identifier}),
        (spec.AURORA.instance, "rds", "db_instance_available", {"DBInstanceIdentifier": spec.AURORA.instance}),
    ], progress=progress, timeout=timeout, delay=delay)
    out = lab.outputs()
    lab.record_hosts(out)
    actions.append(lab.jdbc_properties(apply=True, host=out["aurora_host"]))
    path = outputs.write(cfg, out)
    result = ProvisionResult(True, estimate, actions, out)
    report(f"{result.text()}\n")
    changed = sum(a.action in CHANGES for a in actions)
    report(f"{changed} change(s); outputs (no passwords: they stay in Secrets Manager) in {path}")
    return result
