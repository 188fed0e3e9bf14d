"""What the aws profile grants and opens, what it refuses before spending money, and what it says it costs.

IAM documents and security group rules are read back from the moto server as AWS would return them; the
preconditions (vCPU quota, public subnet) are checked against the server's answers, with the quota injected
into its Service Quotas backend (moto has no EC2 quotas of its own).
"""
import ipaddress
import json
import re
from fnmatch import fnmatchcase

import pytest
from aws_server import ACCOUNT, CIDR, FAST, aws_env, aws_lab, cfg, provision  # noqa: F401  (fixtures)

import labkit
from labkit import LabError, aws, connections
from labkit.aws import outputs, spec, tls
from labkit.aws.iam import IamSteps
from labkit.aws.network import check_cidr
from labkit.aws.session import Account
from labkit.aws.preflight import REHEARSAL_ENV


def _inline(iam, role: str, name: str) -> dict:
    return iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]


def iam_match(arn: str, pattern: str) -> bool:
    """IAM's wildcard matching of a Resource element (IAM User Guide, "Policy elements: Resource"): `*` any run of
    characters, `/` included; `?` one character; everything else literal, `$` too, except the escapes `${*}`,
    `${?}`, `${$}` (a policy variable `${...}` other than these is not expected in the lab's policies)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith(("${*}", "${?}", "${$}"), i):
            out.append(re.escape(pattern[i + 2]))
            i += 4
            continue
        assert not pattern.startswith("${", i), f"a policy variable in {pattern}"
        out.append({"*": ".*", "?": "."}.get(pattern[i], re.escape(pattern[i])))
        i += 1
    return re.fullmatch("".join(out), arn, flags=re.DOTALL) is not None


def _resources(statement: dict) -> list[str]:
    r = statement["Resource"]
    return [r] if isinstance(r, str) else list(r)


def emrfs_writes(uri: str) -> list[str]:
    """Every key EMRFS writes for an object at `uri` (s3://bucket/a/b/c): the object, and a `<folder>_$folder$`
    marker for each of its parent folders that it creates (all of them, on a first write)."""
    key = uri.removeprefix("s3://").partition("/")[2]
    parts = key.split("/")
    return ["/".join(parts[:n]) + "_$folder$" for n in range(1, len(parts))] + [key]


def _tagged(tags, tag: dict) -> bool:
    return {"Key": tag["Key"], "Value": tag["Value"]} in [{"Key": t["Key"], "Value": t["Value"]} for t in tags or []]


# -- IAM -------------------------------------------------------------------------------------------------------
def test_emr_roles_use_the_v2_service_policy_and_a_least_privilege_ec2_policy(cfg, moto_server):
    provision(cfg, confirm=True)
    iam, sm = moto_server.client("iam"), moto_server.client("secretsmanager")
    bucket = json.loads(outputs.path(cfg).read_text())["bucket"]

    service = iam.get_role(RoleName=spec.EMR_SERVICE_ROLE)["Role"]
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=spec.EMR_SERVICE_ROLE)["AttachedPolicies"]]
    assert attached == ["arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"]
    condition = service["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert condition["ArnLike"] == {"aws:SourceArn": f"arn:aws:elasticmapreduce:us-east-1:{ACCOUNT}:*"}
    ec2_role = iam.get_role(RoleName=spec.EMR_EC2_ROLE)["Role"]
    (passrole,) = _inline(iam, spec.EMR_SERVICE_ROLE, spec.EMR_SERVICE_INLINE)["Statement"]
    assert (passrole["Action"], passrole["Resource"]) == ("iam:PassRole", ec2_role["Arn"])
    assert passrole["Condition"] == {"StringLike": {"iam:PassedToService": "ec2.amazonaws.com*"}}

    # The nodes' role: nothing managed (the deprecated policy granted s3:* on *), only the lab's bucket and secret.
    assert iam.list_attached_role_policies(RoleName=spec.EMR_EC2_ROLE)["AttachedPolicies"] == []
    statements = _inline(iam, spec.EMR_EC2_ROLE, spec.EMR_EC2_INLINE)["Statement"]
    actions = [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    resources = [r for s in statements for r in _resources(s)]
    assert not any(a.endswith("*") for a in actions) and "*" not in resources
    # The two job logins' secrets (the EMR job's `emr`, the workshop import's `importer`), each one, no master's.
    job_arns = [sm.describe_secret(SecretId=s)["ARN"] for s in (spec.AURORA.secret, spec.POSTGRES.import_secret)]
    masters = [sm.describe_secret(SecretId=s)["ARN"] for s in (spec.POSTGRES.secret, spec.AURORA.master_secret)]
    for resource in resources:
        assert resource.startswith(f"arn:aws:s3:::{bucket}") or any(fnmatchcase(a, resource) for a in job_arns), resource
    assert all(any(fnmatchcase(a, r) for r in resources) for a in job_arns)
    assert not any(fnmatchcase(a, r) for a in masters for r in resources)     # not the masters' secrets
    assert not any(fnmatchcase(f"{a[:-7]}x-AbCdEf", r) for a in job_arns for r in resources)   # not a longer name
    assert not any(fnmatchcase(f"arn:aws:s3:::{bucket}-other/x", r) for r in resources)
    # What the steps write, they may write (the workshop job's landing zone and aggregates, EMR's logs); the jobs,
    # the jars and the raw data they only read.
    writes = [r for s in statements if "s3:PutObject" in s["Action"] and "s3:DeleteObject" in s["Action"]
              for r in _resources(s)]
    values = connections.variables(cfg)
    for uri in (f"{values['LANDING_ZONE']}/airflow_workshop_job/tbl_airflow_dummy_daily/.ds=2021-01-02.import-staging/x",
                f"{values['LANDING_ZONE']}/airflow_workshop_job/aggregates/rows_per_line_day/run_date=2021-01-02/_SUCCESS",
                f"{values['EMR_LOG_URI']}j-1/steps/s-1/stderr.gz"):
        assert any(iam_match("arn:aws:s3:::" + uri.removeprefix("s3://"), r) for r in writes), uri
    for uri in (values["JDBC_JAR_PATH"], values["POSTGRES_JDBC_JAR_PATH"], f"{values['SPARK_JOBS_PATH']}/x.py",
                f"{values['RAW_DATA_PATH']}/part-0.parquet"):
        assert not any(iam_match("arn:aws:s3:::" + uri.removeprefix("s3://"), r) for r in writes), uri
    assert "aws:SourceAccount" not in json.dumps(ec2_role["AssumeRolePolicyDocument"])   # see iam.py


def test_the_nodes_may_write_every_key_emrfs_writes_and_no_other(aws_lab):
    """EMRFS marks each folder it makes with a `<folder>_$folder$` object, next to the folder, not in it: the first
    write under s3://<bucket>/landing/... writes `landing_$folder$`, which `<bucket>/landing/*` does not match (moto
    evaluates no IAM: this is a policy simulation, every key a write makes against the role's write statements)."""
    acct = Account(session=None, region="us-east-1", account_id=ACCOUNT, arn="")
    steps = IamSteps(aws_lab, acct, allow_cidr=None, raw_dir=aws_lab.state_dir)
    bucket = steps.bucket
    statements = steps.ec2_access_policy()["Statement"]
    writes = {a: [r for s in statements if a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
                  for r in _resources(s)] for a in ("s3:PutObject", "s3:DeleteObject")}
    landing, logs = f"s3://{bucket}/{spec.LANDING_PREFIX}airflow_workshop_job", f"s3://{bucket}/{spec.EMR_LOG_PREFIX}"
    objects = [   # what the workshop job's steps and EMR's log pusher write (Spark's _temporary folders included)
        f"{landing}/tbl_airflow_dummy_daily/.ds=2021-01-02.import-staging/_temporary/0/task_1/part-00000.parquet",
        f"{landing}/tbl_airflow_dummy_daily/.ds=2021-01-02.import-staging/part-00000.parquet",
        f"{landing}/tbl_airflow_dummy_daily/ds=2021-01-02/_SUCCESS",
        f"{landing}/aggregates/rows_per_line_day/run_date=2021-01-02/part-00000.parquet",
        f"{logs}j-1ABC/steps/s-1ABC/stderr.gz",
        f"{logs}j-1ABC/containers/application_1_0001/container_1_0001_01_000001/stdout.gz",
        f"{logs}j-1ABC/node/i-0abc/applications/spark/spark-history.gz"]
    keys = sorted({k for uri in objects for k in emrfs_writes(uri)})
    assert f"{spec.LANDING_PREFIX.rstrip('/')}_$folder$" in keys and f"{spec.EMR_LOG_PREFIX.rstrip('/')}_$folder$" in keys
    for action, resources in writes.items():
        refused = [k for k in keys if not any(iam_match(f"arn:aws:s3:::{bucket}/{k}", r) for r in resources)]
        assert refused == [], f"{action} refused for {refused}"
        # nothing else: the jobs, the jars, the raw data, another bucket, a folder that only starts like ours
        for key in (spec.JDBC_JAR_KEY, f"{spec.SPARK_JOBS_PREFIX}x.py", f"{spec.RAW_DATA_PREFIX}part-0.parquet",
                    "landing-other/x", "landing-other_$folder$", "emr-logs2/x", "x_$folder$", "raw/retail_$folder$"):
            assert not any(iam_match(f"arn:aws:s3:::{bucket}/{key}", r) for r in resources), (action, key)
        assert not any(iam_match(f"arn:aws:s3:::{bucket}x/{spec.LANDING_PREFIX}x", r) for r in resources)


def test_iam_wildcards_as_the_simulation_reads_them():
    assert iam_match("arn:aws:s3:::b/landing/a/b", "arn:aws:s3:::b/landing/*")
    assert not iam_match("arn:aws:s3:::b/landing_$folder$", "arn:aws:s3:::b/landing/*")
    assert iam_match("arn:aws:s3:::b/landing_$folder$", "arn:aws:s3:::b/landing_$folder$")
    assert iam_match("arn:aws:s3:::b/a*b", "arn:aws:s3:::b/a${*}b") and not iam_match("arn:aws:s3:::b/axb", "arn:aws:s3:::b/a${*}b")
    assert iam_match("x-AbCdEf", "x-??????") and not iam_match("x-AbCdE", "x-??????")


def test_roles_from_an_older_run_are_moved_off_the_deprecated_policies(cfg, moto_server):
    iam = moto_server.client("iam")
    plain = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "elasticmapreduce.amazonaws.com"}}]}
    for role, old in zip((spec.EMR_SERVICE_ROLE, spec.EMR_EC2_ROLE), spec.DEPRECATED_POLICIES):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(plain), Tags=spec.TAGS)
        iam.attach_role_policy(RoleName=role, PolicyArn=old)

    result = provision(cfg, confirm=True)

    roles = {a.name: a for a in result.actions if a.resource == "IAM role"}
    assert {n: a.action for n, a in roles.items()} == {spec.EMR_SERVICE_ROLE: "updated", spec.EMR_EC2_ROLE: "updated"}
    for role in (spec.EMR_SERVICE_ROLE, spec.EMR_EC2_ROLE):
        arns = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}
        assert not arns & set(spec.DEPRECATED_POLICIES)
    trust = iam.get_role(RoleName=spec.EMR_SERVICE_ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert not provision(cfg, confirm=True).changed


def test_the_emr_managed_policy_tag_is_on_the_emr_groups_and_subnet_and_leaves_with_the_teardown(cfg, moto_server):
    provision(cfg, confirm=True)
    ec2 = moto_server.client("ec2")
    out = json.loads(outputs.path(cfg).read_text())
    groups = ec2.describe_security_groups(GroupIds=[out["emr_master_security_group"],
                                                    out["emr_slave_security_group"]])["SecurityGroups"]
    assert all(_tagged(g["Tags"], spec.EMR_MANAGED_TAG) for g in groups)
    subnet = ec2.describe_subnets(SubnetIds=[out["subnet_id"]])["Subnets"][0]
    assert _tagged(subnet["Tags"], spec.EMR_MANAGED_TAG)

    aws.teardown(cfg, **FAST)
    tags = ec2.describe_subnets(SubnetIds=[out["subnet_id"]])["Subnets"][0].get("Tags", [])
    assert not _tagged(tags, spec.EMR_MANAGED_TAG) and not _tagged(tags, spec.SUBNET_MARKER_TAG)


def test_a_subnet_that_had_the_emr_tag_keeps_it(cfg, moto_server):
    ec2 = moto_server.client("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    ids = [s["SubnetId"] for s in subnets]
    ec2.create_tags(Resources=ids, Tags=[spec.EMR_MANAGED_TAG])          # the learner uses EMR already
    provision(cfg, confirm=True)
    aws.teardown(cfg, **FAST)
    assert all(_tagged(s.get("Tags"), spec.EMR_MANAGED_TAG) for s in ec2.describe_subnets(SubnetIds=ids)["Subnets"])


# -- network ------------------------------------------------------------------------------------------------
def test_the_databases_admit_the_emr_groups_and_the_learner_only(cfg, moto_server):
    """The workshop job's import step and the EMR job run on the EMR nodes, which live in the two EMR-managed groups:
    the DB group admits 5432/3306 from those groups (not from the whole VPC, where anything else may run) and from
    the learner's address; the EMR groups let it out. Inside the VPC a publicly accessible RDS endpoint resolves to
    its private address (RDS User Guide, "Hiding a DB instance in a VPC from the internet"): a group reference
    matches it. The DB group has no EMR-managed tag: AmazonEMRServicePolicy_v2 edits only groups that carry it."""
    provision(cfg, confirm=True)
    ec2, out = moto_server.client("ec2"), outputs.read(cfg)
    emr_groups = {out["emr_master_security_group"], out["emr_slave_security_group"]}

    (db_group,) = ec2.describe_security_groups(GroupIds=[out["db_security_group"]])["SecurityGroups"]
    sources = {(p["FromPort"], p["ToPort"], s) for p in db_group["IpPermissions"] if p["IpProtocol"] == "tcp"
               for s in [g["GroupId"] for g in p.get("UserIdGroupPairs", [])] + [r["CidrIp"] for r in p.get("IpRanges", [])]}
    assert sources == {(db.port, db.port, s) for db in spec.DATABASES for s in emr_groups | {CIDR}}
    assert not [p for p in db_group["IpPermissions"] if p["IpProtocol"] != "tcp" or p.get("Ipv6Ranges")
                or p.get("PrefixListIds")]
    assert not _tagged(db_group.get("Tags"), spec.EMR_MANAGED_TAG) and _tagged(db_group["Tags"], spec.TAGS[0])
    for group in ec2.describe_security_groups(GroupIds=sorted(emr_groups))["SecurityGroups"]:
        assert any(r["CidrIp"] == "0.0.0.0/0" for p in group["IpPermissionsEgress"] if p["IpProtocol"] == "-1"
                   for r in p.get("IpRanges", [])), group["GroupName"]
    pg = moto_server.client("rds").describe_db_instances(DBInstanceIdentifier=spec.POSTGRES.identifier)["DBInstances"][0]
    assert [g["VpcSecurityGroupId"] for g in pg["VpcSecurityGroups"]] == [out["db_security_group"]]


def test_an_older_runs_db_group_loses_the_emr_tag_and_the_vpc_wide_rule(cfg, moto_server):
    """What the previous version made: the DB group tagged for EMR and open to the VPC's whole range."""
    ec2 = moto_server.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    gid = ec2.create_security_group(GroupName=spec.SG_DB, Description="older run", VpcId=vpc["VpcId"],
                                    TagSpecifications=[{"ResourceType": "security-group",
                                                        "Tags": spec.TAGS + [spec.EMR_MANAGED_TAG]}])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": db.port, "ToPort": db.port,
         "IpRanges": [{"CidrIp": vpc["CidrBlock"], "Description": f"{spec.LAB_NAME}: the VPC (EMR nodes)"}]}
        for db in spec.DATABASES])

    result = provision(cfg, confirm=True)

    actions = {(a.resource, a.name): a for a in result.actions}
    assert actions[("security group", spec.SG_DB)].action == "updated"
    assert f"revoke {vpc['CidrBlock']}" in actions[("ingress rules", spec.SG_DB)].detail
    (group,) = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"]
    assert not any(t["Key"] == spec.EMR_MANAGED_TAG["Key"] for t in group.get("Tags", []))
    assert vpc["CidrBlock"] not in {r["CidrIp"] for p in group["IpPermissions"] for r in p.get("IpRanges", [])}
    assert not provision(cfg, confirm=True).changed


# -- databases -----------------------------------------------------------------------------------------------
def test_engine_versions_are_pinned(cfg, moto_server):
    provision(cfg, confirm=True)
    rds = moto_server.client("rds")
    pg = rds.describe_db_instances(DBInstanceIdentifier=spec.POSTGRES.identifier)["DBInstances"][0]
    au = rds.describe_db_clusters(DBClusterIdentifier=spec.AURORA.identifier)["DBClusters"][0]
    assert pg["EngineVersion"] == spec.POSTGRES_ENGINE_VERSION and pg["AutoMinorVersionUpgrade"] is False
    assert au["EngineVersion"] == spec.AURORA_ENGINE_VERSION
    assert spec.AURORA_ENGINE_VERSION.startswith("8.0.mysql_aurora.3.")            # Aurora MySQL 3.x


# -- the learner's address -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cidr, words", [
    ("0.0.0.0/0", "wider than /24"), ("10.0.0.0/8", "wider than /24"), ("198.51.100.0/23", "wider than /24"),
    ("2001:db8::/64", "IPv6 range"), ("2001:db8::7/128", "IPv6 range"), ("my-laptop", "not an address range")])
def test_a_bad_allow_cidr_is_refused_in_one_line(aws_lab, cidr, words):
    with pytest.raises(LabError) as err:
        aws.provision(aws_lab, allow_cidr=cidr)
    assert words in str(err.value) and "allow_cidr='203.0.113.7/32'" in str(err.value)
    assert "\n" not in str(err.value)


def test_narrow_ranges_are_accepted():
    assert check_cidr("203.0.113.7") == "203.0.113.7/32"
    assert check_cidr(" 198.51.100.0/24 ") == "198.51.100.0/24"


def test_a_new_address_replaces_the_learners_old_rule(cfg, moto_server):
    provision(cfg, confirm=True)
    new = "198.51.100.9/32"
    result = provision(cfg, confirm=True, allow_cidr=new)

    rules = next(a for a in result.actions if a.resource == "ingress rules")
    assert rules.action == "updated" and f"revoke {CIDR}" in rules.detail
    group = json.loads(outputs.path(cfg).read_text())["db_security_group"]
    perms = moto_server.client("ec2").describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    have = {(p["FromPort"], r["CidrIp"]) for p in perms for r in p.get("IpRanges", [])}
    assert have == {(db.port, new) for db in spec.DATABASES}


# -- preconditions, before any money -------------------------------------------------------------------------
def _quota(monkeypatch, value: float) -> None:
    from moto.servicequotas.models import ServiceQuotasBackend

    def ec2_quota(self, service_code, quota_code):
        assert (service_code, quota_code) == spec.EC2_STANDARD_VCPU_QUOTA
        return {"ServiceCode": service_code, "QuotaCode": quota_code, "Value": value, "Unit": "None",
                "QuotaName": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", "Adjustable": True}

    monkeypatch.setattr(ServiceQuotasBackend, "get_service_quota", ec2_quota)


def _nothing_made(cfg, moto_server) -> None:
    assert aws.inventory(cfg).empty
    assert moto_server.client("s3").list_buckets()["Buckets"] == []
    assert not outputs.path(cfg).exists()


def test_a_vcpu_quota_too_small_for_both_dags_clusters_is_refused_before_anything_is_made(cfg, moto_server, monkeypatch):
    """emr_ephemeral_job's three nodes and airflow_workshop_job's two may run at once: 20 vCPUs, not 12."""
    assert spec.concurrent_vcpus() == 20
    _quota(monkeypatch, 16)                 # would hold one cluster (12), not both
    with pytest.raises(LabError) as err:
        provision(cfg, confirm=True)
    text = str(err.value)
    assert "may run 16 vCPUs" in text and "at once need 20" in text and "L-1216C47A" in text
    assert "3 x m5.xlarge (emr_ephemeral_job) + 2 x m5.xlarge (airflow_workshop_job)" in text
    assert "nothing was created" in text and "\n" not in text and "in use" not in text
    _nothing_made(cfg, moto_server)


def test_the_vcpus_of_running_instances_count_against_the_quota(cfg, moto_server, monkeypatch):
    """The quota is for the whole account: two running m5.xlarge (8 vCPUs) leave 16 of 24; a Spot instance and a
    GPU instance are counted by other quotas, a stopped one by none."""
    ec2 = moto_server.client("ec2")
    run = dict(ImageId="ami-12c6146b")
    ec2.run_instances(InstanceType="m5.xlarge", MinCount=2, MaxCount=2, **run)
    ec2.run_instances(InstanceType="m5.xlarge", MinCount=1, MaxCount=1, InstanceMarketOptions={"MarketType": "spot"},
                      **run)
    ec2.run_instances(InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1, **run)
    stopped = ec2.run_instances(InstanceType="c5.xlarge", MinCount=1, MaxCount=1, **run)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[stopped])
    _quota(monkeypatch, 24)
    with pytest.raises(LabError) as err:
        provision(cfg, confirm=True)
    text = str(err.value)
    assert "may run 24 vCPUs" in text and "8 of them in use by 2 running instance(s)" in text
    assert "need 20" in text and "stop some of those instances" in text and "\n" not in text
    _nothing_made(cfg, moto_server)
    _quota(monkeypatch, 28)
    quota = next(a for a in provision(cfg).actions if a.resource == "vCPU quota")
    assert (quota.action, quota.detail) == ("ok", "28 vCPUs allowed, 8 in use, the two DAGs' EMR clusters need 20")


def test_a_large_enough_quota_is_shown_in_the_plan(cfg, monkeypatch):
    _quota(monkeypatch, 32)
    result = provision(cfg)
    quota = next(a for a in result.actions if a.resource == "vCPU quota")
    assert (quota.action, quota.detail) == ("ok", "32 vCPUs allowed, 0 in use, the two DAGs' EMR clusters need 20")


def test_a_subnet_whose_zone_does_not_offer_the_instance_type_is_refused(cfg, moto_server, monkeypatch):
    """moto's offerings are AWS's: us-east-1e has no m5.xlarge (describe_instance_type_offerings, per zone)."""
    ec2 = moto_server.client("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    zone_e = next(s["SubnetId"] for s in subnets if s["AvailabilityZone"] == "us-east-1e")
    monkeypatch.setenv("LAB_SUBNET_ID", zone_e)
    with pytest.raises(LabError) as err:
        provision(labkit.load(), confirm=True)
    text = str(err.value)
    assert f"m5.xlarge is not offered in us-east-1e, the zone of subnet {zone_e}" in text
    assert "LAB_SUBNET_ID" in text and "nothing was created" in text and "\n" not in text
    _nothing_made(cfg, moto_server)
    offered = next(a for a in provision(cfg).actions if a.resource == "instance type")    # the default: us-east-1a
    assert (offered.action, offered.detail) == ("ok", "offered in us-east-1a")


def test_an_emr_release_the_region_does_not_have_is_refused(cfg, moto_server, monkeypatch):
    """moto's ListReleaseLabels answers the region's list (it ignores the Prefix filter; the check filters too)."""
    listed = next(a for a in provision(cfg).actions if a.resource == "EMR release")
    assert (listed.action, listed.name) == ("ok", spec.EMR_RELEASE_LABEL)
    monkeypatch.setattr(spec, "EMR_RELEASE_LABEL", "emr-7.99.0")
    with pytest.raises(LabError) as err:
        provision(cfg, confirm=True)
    text = str(err.value)
    assert "EMR release emr-7.99.0 is not available in us-east-1" in text and "emr-7.14.0" in text
    assert "nothing was created" in text and "\n" not in text
    _nothing_made(cfg, moto_server)


def test_an_unreadable_quota_is_tolerated_only_in_a_rehearsal(cfg, moto_server, monkeypatch):
    monkeypatch.delenv(REHEARSAL_ENV)
    with pytest.raises(LabError, match=r"cannot read the On-Demand vCPU quota \(ec2 L-1216C47A: NoSuchResourceException"):
        provision(cfg, confirm=True)
    _nothing_made(cfg, moto_server)


def test_a_subnet_without_public_addresses_is_refused_before_anything_is_made(cfg, moto_server):
    ec2 = moto_server.client("ec2")
    for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]:
        ec2.modify_subnet_attribute(SubnetId=s["SubnetId"], MapPublicIpOnLaunch={"Value": False})
    with pytest.raises(LabError) as err:
        provision(cfg, confirm=True)
    text = str(err.value)
    assert "MapPublicIpOnLaunch is false" in text and "modify-subnet-attribute" in text and "\n" not in text
    _nothing_made(cfg, moto_server)


# -- cost ------------------------------------------------------------------------------------------------------
def test_cost_estimate_is_dated_sourced_and_complete():
    table = aws.estimate("us-east-1", hours=4, emr_runs=2, workshop_runs=0)
    meta = aws.cost.prices()
    assert meta["as_of"] and meta["region"] == "us-east-1"
    assert all(p["source"].startswith("https://aws.amazon.com/") for p in meta["prices"].values())
    assert {"EMR EBS volumes", "Aurora I/O", "Data transfer out"} <= set(table.index)
    assert all(v > 0 for v in table["USD per unit"].drop("total"))
    ebs = table.loc["EMR EBS volumes"]
    assert ebs["quantity"] == pytest.approx(3 * spec.EMR_EBS_GB_PER_NODE * (2 * 20 / 60) / 730, abs=1e-4)
    assert table.loc["total", "USD"] == pytest.approx(table["USD"].drop("total").sum(), abs=0.05)
    assert 0 < table.loc["total", "USD"] < 5
    assert table.attrs["usd_per_day_if_left_running"] > 0
    assert set(table.attrs["sources"]) == {k for k in meta["prices"]} and "reference figures" in table.attrs["note"]
    more = aws.estimate("us-east-1", hours=4, emr_runs=2, aurora_io_millions=10, transfer_gb=50)
    assert more.loc["total", "USD"] > table.loc["total", "USD"]
    with pytest.raises(LabError, match="hours > 0"):
        aws.estimate("us-east-1", hours=0)
    with pytest.raises(LabError, match="transfer_gb=-1"):
        aws.estimate("us-east-1", transfer_gb=-1)
    secrets = len([name for db in spec.DATABASES for _, name in db.logins()])
    assert table.loc["Secrets Manager", "size"] == f"{secrets} secrets" and secrets == 4


def test_one_run_of_a_dag_that_makes_its_own_cluster_has_a_price():
    """The workshop DAG on aws makes a cluster for every daily run: what one run costs, as the estimate counts it."""
    table = aws.estimate("us-east-1", hours=4, emr_runs=1, emr_minutes=15, workshop_runs=0)
    emr_rows = ["EMR nodes (EC2)", "EMR service fee", "EMR EBS volumes"]
    ipv4 = spec.emr_nodes() * 15 / 60 * aws.cost.price("vpc public-ipv4")
    assert aws.cost.emr_run(15) == pytest.approx(table.loc[emr_rows, "USD"].sum() + ipv4, abs=0.02)
    assert aws.cost.emr_run(15, nodes=2) == pytest.approx(aws.cost.emr_run(15) * 2 / 3)
    assert aws.cost.emr_run(30) == pytest.approx(2 * aws.cost.emr_run(15))
    assert aws.cost.emr_run(15, addresses=False) < aws.cost.emr_run(15)
    assert 0 < aws.cost.emr_run(15) < 1
    with pytest.raises(LabError, match="nodes >= 1"):
        aws.cost.emr_run(15, nodes=0)


def test_the_estimate_counts_the_workshop_jobs_clusters_too():
    """Each daily run of the workshop DAG on aws (dags/aws/airflow_workshop_job.py) makes a cluster of its own two nodes."""
    nodes = spec.emr_nodes(spec.WORKSHOP_EMR_INSTANCE_GROUPS)
    without = aws.estimate("us-east-1", emr_runs=0, workshop_runs=0)
    three_days = aws.estimate("us-east-1", emr_runs=0, workshop_runs=3, workshop_minutes=15)
    extra = three_days.loc["total", "USD"] - without.loc["total", "USD"]
    assert nodes == 2 and extra == pytest.approx(3 * aws.cost.emr_run(15, nodes=nodes), abs=0.03)
    assert three_days.loc["EMR nodes (EC2)", "quantity"] == pytest.approx(3 * nodes * 15 / 60)
    assert "3 x 2 (workshop job)" in three_days.loc["EMR nodes (EC2)", "size"]
    assert "3 workshop job runs of 15 min" in three_days.loc["total", "size"]
    with pytest.raises(LabError, match="workshop_runs=-1"):
        aws.estimate("us-east-1", workshop_runs=-1)


# -- TLS to the databases ----------------------------------------------------------------------------------------
def test_the_rds_ca_bundle_is_the_pinned_one_and_holds_rds_roots(monkeypatch, tmp_path):
    import hashlib
    import ssl

    path = tls.bundle()
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == tls.RDS_CA_BUNDLE_SHA256
    cas = ssl.create_default_context(cafile=path).get_ca_certs()
    subjects = [dict(pair for rdn in c["subject"] for pair in rdn) for c in cas]
    assert len(cas) > 50 and all(s["organizationalUnitName"] == "Amazon RDS" for s in subjects)
    names = {s["commonName"] for s in subjects}
    # RDS's default CA since 2024 (rds-ca-rsa2048-g1) and the two others, for the lab's usual regions
    for region in ("us-east-1", "eu-west-1", "eu-central-1"):
        assert {f"Amazon RDS {region} Root CA {k} G1" for k in ("RSA2048", "RSA4096", "ECC384")} <= names, region
    changed = tmp_path / "rds-ca-bundle.pem"
    changed.write_bytes(tls.RDS_CA_BUNDLE.read_bytes().replace(b"MII", b"MIJ", 1))
    monkeypatch.setattr(tls, "RDS_CA_BUNDLE", changed)
    with pytest.raises(LabError, match="is not the pinned one"):
        tls.bundle()


@pytest.fixture
def impostor(tmp_path):
    """A server certificate for 127.0.0.1 that no RDS CA signed (what a man in the middle would present)."""
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def _serve_once(context, greet) -> int:
    """A one-connection server on 127.0.0.1: `greet(sock)` speaks the protocol up to its TLS switch, then TLS."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def run():
        conn, _ = server.accept()
        with conn:
            greet(conn)
            try:
                context.wrap_socket(conn, server_side=True).close()
            except OSError:
                pass                                       # the client refused our certificate
        server.close()

    threading.Thread(target=run, daemon=True).start()
    return server.getsockname()[1]


def _postgres_greet(conn) -> None:
    assert conn.recv(8)[4:] == (80877103).to_bytes(4, "big")     # libpq's SSLRequest
    conn.sendall(b"S")


def _mysql_greet(conn) -> None:
    """A MySQL 5.7-style handshake that offers TLS (CLIENT_SSL); the client's SSLRequest comes back."""
    caps = 0x200 | 0x800 | 0x8000 | 0x80000      # PROTOCOL_41, SSL, SECURE_CONNECTION, PLUGIN_AUTH
    body = (b"\x0a5.7.0\x00" + (1).to_bytes(4, "little") + b"abcdefgh\x00" + (caps & 0xFFFF).to_bytes(2, "little")
            + b"\x21" + (2).to_bytes(2, "little") + (caps >> 16).to_bytes(2, "little") + b"\x15" + b"\x00" * 10
            + b"ijklmnopqrst\x00" + b"mysql_native_password\x00")
    conn.sendall(len(body).to_bytes(3, "little") + b"\x00" + body)
    conn.recv(4 + 32)


@pytest.mark.parametrize("name, greet", [("postgres", _postgres_greet), ("mysql", _mysql_greet)])
def test_on_aws_a_database_whose_certificate_no_rds_ca_signed_is_refused(cfg, moto_server, impostor, name, greet):
    """Encrypted is not enough: a server that is not RDS (its certificate not signed by an RDS CA) is refused before
    the login is sent. The endpoints and connection extras are the aws profile's, pointed at a local impostor."""
    provision(cfg, confirm=True)
    endpoint = connections.get(cfg, name)
    assert endpoint.tls and json.loads(endpoint.record()["extra"]) == (
        {"sslmode": "verify-full", "sslrootcert": str(tls.RDS_CA_BUNDLE)} if name == "postgres" else
        {"ssl": {"ca": str(tls.RDS_CA_BUNDLE)}, "ssl_mode": "VERIFY_IDENTITY"})
    endpoint.host, endpoint.port = "127.0.0.1", _serve_once(impostor, greet)
    with pytest.raises(LabError) as err:
        endpoint.connect(password="never-sent")
    text = str(err.value)
    assert "did not prove it is the lab's database" in text and "certificate verify failed" in text, text
    assert "\n" not in text
    values = connections.variables(cfg)
    assert values["POSTGRES_JDBC_PARAMETERS"] == "?sslmode=require"
    assert values["MYSQL_JDBC_PARAMETERS"] == "?sslMode=trust&permitMysqlScheme=true"


def test_the_pinned_mariadb_driver_takes_both_profiles_urls(tmp_path):
    """The EMR job's URL is `jdbc:mysql:` + MYSQL_JDBC_PARAMETERS. The pinned driver (MariaDB Connector/J 3.x, the
    jar both profiles run) refuses that scheme without permitMysqlScheme, and must read TLS on from aws's
    parameters (an option name it does not know would be ignored: a plain-text session). Asked of the jar itself,
    in one JVM (a few seconds)."""
    import shutil
    import subprocess

    java = shutil.which("java")
    # `make setup` installs both: without them this coverage would be lost, so it fails with the fix (no skip)
    assert java and spec.JDBC_JAR.exists(), f"Java and {spec.JDBC_JAR} are needed: run `make setup`"
    source = tmp_path / "Check.java"
    source.write_text("""public class Check { public static void main(String[] a) throws Exception {
        for (String url : a) { boolean ok = new org.mariadb.jdbc.Driver().acceptsURL(url);
          System.out.println(ok ? org.mariadb.jdbc.Configuration.parse(url).sslMode().toString() : "REFUSED"); } } }""")
    url = f"jdbc:mysql://{spec.AURORA.identifier}.cluster-x.us-east-1.rds.amazonaws.com:3306/airflow"
    on_local = "jdbc:mysql://127.0.0.1:3306/airflow" + tls.LOCAL_MYSQL_JDBC_PARAMETERS   # connections' on local
    out = subprocess.run([java, "-cp", str(spec.JDBC_JAR), str(source), url + tls.MYSQL_JDBC_PARAMETERS, on_local,
                          url], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["TRUST", "DISABLE", "REFUSED"], out.stderr[-2000:]
    assert "deprecated" not in out.stderr                   # its own option names, no legacy alias
