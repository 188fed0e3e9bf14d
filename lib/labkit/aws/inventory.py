"""Finding what the `aws` profile made: everything tagged `lab=airflow-lab`, kind by kind, never by name alone.

`inventory(cfg)` is the table a learner sees (empty when the account is clean); `find_all` is what the teardown
deletes. The default subnet is not ours: only the tag labkit added to it is listed (kind "subnet tag").
"""
from __future__ import annotations

from dataclasses import dataclass

from labkit.aws import spec
from labkit.aws.session import Account, connect, require_aws_profile
from labkit.config import Config

EMR_ACTIVE = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING"]


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    id: str = ""
    state: str = ""


def table(resources: list[Resource]):
    import pandas as pd

    return pd.DataFrame([r.__dict__ for r in resources], columns=["kind", "name", "id", "state"])


def _pages(client, method: str, key: str, **kwargs):
    for page in client.get_paginator(method).paginate(**kwargs):
        yield from page.get(key, [])


# -- finding by the tag ------------------------------------------------------------------------------------
def emr_clusters(acct: Account) -> list[Resource]:
    found = []
    for c in _pages(acct.emr, "list_clusters", "Clusters", ClusterStates=EMR_ACTIVE):
        cluster = acct.emr.describe_cluster(ClusterId=c["Id"])["Cluster"]
        if spec.has_tag(cluster.get("Tags")):
            found.append(Resource("EMR cluster", c["Name"], c["Id"], c["Status"]["State"]))
    return found


def db_instances(acct: Account) -> list[Resource]:
    return [Resource("DB instance", d["DBInstanceIdentifier"], d.get("DBClusterIdentifier", ""), d["DBInstanceStatus"])
            for d in _pages(acct.rds, "describe_db_instances", "DBInstances") if spec.has_tag(d.get("TagList"))]


def db_clusters(acct: Account) -> list[Resource]:
    return [Resource("DB cluster", d["DBClusterIdentifier"], d.get("DBClusterArn", ""), d["Status"])
            for d in _pages(acct.rds, "describe_db_clusters", "DBClusters") if spec.has_tag(d.get("TagList"))]


def db_subnet_groups(acct: Account) -> list[Resource]:
    found = []
    for g in _pages(acct.rds, "describe_db_subnet_groups", "DBSubnetGroups"):
        if spec.has_tag(acct.rds.list_tags_for_resource(ResourceName=g["DBSubnetGroupArn"])["TagList"]):
            found.append(Resource("DB subnet group", g["DBSubnetGroupName"], g["DBSubnetGroupArn"]))
    return found


def secrets(acct: Account) -> list[Resource]:
    listed = _pages(acct.secrets, "list_secrets", "SecretList", Filters=[
        {"Key": "tag-key", "Values": [spec.TAG_KEY]}, {"Key": "tag-value", "Values": [spec.TAG_VALUE]}])
    return [Resource("secret", s["Name"], s["ARN"]) for s in listed if spec.has_tag(s.get("Tags"))]


def buckets(acct: Account) -> list[Resource]:
    from botocore.exceptions import ClientError

    found = []
    for b in acct.s3.list_buckets().get("Buckets", []):
        try:
            tags = acct.s3.get_bucket_tagging(Bucket=b["Name"])["TagSet"]
        except ClientError:            # no tags, another region's redirect, or no permission: not ours to touch
            continue
        if spec.has_tag(tags):
            found.append(Resource("S3 bucket", b["Name"], f"s3://{b['Name']}"))
    return found


def instance_profiles(acct: Account) -> list[Resource]:
    # IAM's list calls return no tags: only our prefix is asked for its tags (one call each).
    return [Resource("instance profile", p["InstanceProfileName"], p["Arn"])
            for p in _pages(acct.iam, "list_instance_profiles", "InstanceProfiles")
            if p["InstanceProfileName"].startswith(spec.LAB_NAME)
            and spec.has_tag(acct.iam.get_instance_profile(InstanceProfileName=p["InstanceProfileName"])
                             ["InstanceProfile"].get("Tags"))]


def roles(acct: Account) -> list[Resource]:
    return [Resource("IAM role", r["RoleName"], r["Arn"])
            for r in _pages(acct.iam, "list_roles", "Roles")
            if r["RoleName"].startswith(spec.LAB_NAME)
            and spec.has_tag(acct.iam.list_role_tags(RoleName=r["RoleName"])["Tags"])]


def security_groups(acct: Account) -> list[Resource]:
    groups = _pages(acct.ec2, "describe_security_groups", "SecurityGroups",
                    Filters=[{"Name": f"tag:{spec.TAG_KEY}", "Values": [spec.TAG_VALUE]}])
    return [Resource("security group", g["GroupName"], g["GroupId"]) for g in groups]


def subnet_tags(acct: Account) -> list[Resource]:
    marker = spec.SUBNET_MARKER_TAG
    subnets = _pages(acct.ec2, "describe_subnets", "Subnets",
                     Filters=[{"Name": f"tag:{marker['Key']}", "Values": [marker["Value"]]}])
    return [Resource("subnet tag", s["SubnetId"], spec.EMR_MANAGED_TAG["Key"]) for s in subnets]


FINDERS = (emr_clusters, db_instances, db_clusters, db_subnet_groups, secrets, buckets, instance_profiles, roles,
           security_groups, subnet_tags)


def find_all(acct: Account) -> list[Resource]:
    return [r for finder in FINDERS for r in finder(acct)]


def inventory(cfg: Config):
    """Everything in the account and region that carries the lab tag, as a table (empty when clean)."""
    require_aws_profile(cfg)
    return table(find_all(connect(cfg.region)))
