"""Teardown of the `aws` profile: find everything tagged `lab=airflow-lab` and delete it in dependency order.

Order: EMR clusters (terminate) -> DB instances -> Aurora clusters -> DB subnet group -> secrets -> bucket
(emptied first, every version) -> instance profile and roles -> security groups (rules that reference other
groups first; retried while AWS releases the databases' network interfaces). Nothing is looked up by name
alone, so a second run finds nothing and deletes nothing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from labkit.aws import outputs, spec
from labkit.aws.provision import require_aws_profile, wait_all
from labkit.aws.session import Account, connect
from labkit.config import Config

EMR_ACTIVE = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING"]


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    id: str = ""
    state: str = ""


@dataclass
class TeardownResult:
    deleted: list[Resource] = field(default_factory=list)
    left: list[Resource] = field(default_factory=list)
    dry_run: bool = False

    def table(self):
        return table(self.deleted)


def table(resources: list[Resource]):
    import pandas as pd

    return pd.DataFrame([r.__dict__ for r in resources], columns=["kind", "name", "id", "state"])


def _code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


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


FINDERS = (emr_clusters, db_instances, db_clusters, db_subnet_groups, secrets, buckets, instance_profiles, roles,
           security_groups)


def find_all(acct: Account) -> list[Resource]:
    return [r for finder in FINDERS for r in finder(acct)]


def inventory(cfg: Config):
    """Everything in the account and region that carries the lab tag, as a table (empty when clean)."""
    require_aws_profile(cfg)
    return table(find_all(connect(cfg.region)))


# -- deleting ----------------------------------------------------------------------------------------------
def _empty_bucket(acct: Account, name: str) -> int:
    count = 0
    for page in acct.s3.get_paginator("list_object_versions").paginate(Bucket=name):
        keys = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for i in range(0, len(keys), 1000):
            acct.s3.delete_objects(Bucket=name, Delete={"Objects": keys[i:i + 1000], "Quiet": True})
        count += len(keys)
    return count


def _delete_role(acct: Account, name: str) -> None:
    iam = acct.iam
    for p in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=p["InstanceProfileName"], RoleName=name)
    for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=p["PolicyArn"])
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    iam.delete_role(RoleName=name)


def _revoke_group_references(acct: Account, group_ids: list[str]) -> None:
    """EMR adds rules between its master and slave groups; they must go before either group can."""
    if not group_ids:
        return
    for g in acct.ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]:
        for direction, perms in (("ingress", g.get("IpPermissions", [])), ("egress", g.get("IpPermissionsEgress", []))):
            refs = [{k: v for k, v in p.items() if k in ("IpProtocol", "FromPort", "ToPort", "UserIdGroupPairs")}
                    for p in perms if p.get("UserIdGroupPairs")]
            for ref in refs:
                ref["UserIdGroupPairs"] = [{"GroupId": u["GroupId"]} for u in ref["UserIdGroupPairs"]]
            if refs:
                revoke = (acct.ec2.revoke_security_group_ingress if direction == "ingress"
                          else acct.ec2.revoke_security_group_egress)
                revoke(GroupId=g["GroupId"], IpPermissions=refs)


def teardown(cfg: Config, *, dry_run: bool = False, progress: bool = True, report: Callable[[str], None] = print,
             timeout: float = 45 * 60, delay: float = 15) -> TeardownResult:
    """Delete everything tagged with the lab tag; print what was deleted and what is left. Safe to rerun."""
    from botocore.exceptions import ClientError
    from labkit.progress import tqdm

    require_aws_profile(cfg)
    acct = connect(cfg.region)
    found = find_all(acct)
    if dry_run:
        report(f"Dry run: {len(found)} resource(s) tagged {spec.TAG_KEY}={spec.TAG_VALUE} in {acct.region} would be "
               "deleted" + (f":\n{table(found).to_string(index=False)}" if found else "."))
        return TeardownResult(deleted=[], left=found, dry_run=True)

    deleted: list[Resource] = []

    def done(r: Resource, note: str = "") -> None:
        deleted.append(r)
        report(f"deleted {r.kind} {r.name}{note}")

    def of(kind: str) -> list[Resource]:
        return [r for r in found if r.kind == kind]

    # 1. EMR clusters: terminate (termination protection off first) and wait.
    clusters = of("EMR cluster")
    for c in clusters:
        if c.state != "TERMINATING":
            acct.emr.set_termination_protection(JobFlowIds=[c.id], TerminationProtected=False)
    if clusters:
        acct.emr.terminate_job_flows(JobFlowIds=[c.id for c in clusters])
        wait_all(acct, [(c.id, "emr", "cluster_terminated", {"ClusterId": c.id}) for c in clusters],
                 progress=progress, timeout=timeout, delay=delay)
        for c in clusters:
            done(c, " (terminated)")

    # 2. DB instances (the Aurora writer too), no final snapshot; then 3. the Aurora clusters.
    instances = of("DB instance")
    for d in instances:
        if d.state != "deleting":
            extra = {} if d.id else {"SkipFinalSnapshot": True, "DeleteAutomatedBackups": True}
            try:
                acct.rds.delete_db_instance(DBInstanceIdentifier=d.name, **extra)
            except ClientError as exc:
                if _code(exc) not in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
                    raise
    wait_all(acct, [(d.name, "rds", "db_instance_deleted", {"DBInstanceIdentifier": d.name}) for d in instances],
             progress=progress, timeout=timeout, delay=delay)
    for d in instances:
        done(d)
    db_cl = of("DB cluster")
    for c in db_cl:
        if c.state != "deleting":
            try:
                acct.rds.delete_db_cluster(DBClusterIdentifier=c.name, SkipFinalSnapshot=True)
            except ClientError as exc:
                if _code(exc) != "DBClusterNotFoundFault":
                    raise
    wait_all(acct, [(c.name, "rds", "db_cluster_deleted", {"DBClusterIdentifier": c.name}) for c in db_cl],
             progress=progress, timeout=timeout, delay=delay)
    for c in db_cl:
        done(c)

    # 4. the DB subnet group, 5. secrets (for good: a rerun may make them again under the same name).
    for g in of("DB subnet group"):
        acct.rds.delete_db_subnet_group(DBSubnetGroupName=g.name)
        done(g)
    for s in of("secret"):
        acct.secrets.delete_secret(SecretId=s.id, ForceDeleteWithoutRecovery=True)
        done(s)

    # 6. buckets: every object version, then the bucket.
    for b in of("S3 bucket"):
        n = _empty_bucket(acct, b.name)
        acct.s3.delete_bucket(Bucket=b.name)
        done(b, f" ({n} object version(s))")

    # 7. IAM: instance profiles, then roles (policies detached first).
    for p in of("instance profile"):
        for r in acct.iam.get_instance_profile(InstanceProfileName=p.name)["InstanceProfile"].get("Roles", []):
            acct.iam.remove_role_from_instance_profile(InstanceProfileName=p.name, RoleName=r["RoleName"])
        acct.iam.delete_instance_profile(InstanceProfileName=p.name)
        done(p)
    for r in of("IAM role"):
        _delete_role(acct, r.name)
        done(r)

    # 8. security groups: cross references first; retry while network interfaces of deleted DBs linger.
    groups = of("security group")
    _revoke_group_references(acct, [g.id for g in groups])
    start = time.monotonic()
    with tqdm(total=len(groups), desc="deleting security groups", unit="group", disable=not progress or not groups) as bar:
        while groups:
            for g in list(groups):
                try:
                    acct.ec2.delete_security_group(GroupId=g.id)
                except ClientError as exc:
                    if _code(exc) == "DependencyViolation":
                        continue
                    if _code(exc) != "InvalidGroup.NotFound":
                        raise
                groups.remove(g)
                bar.update(1)
                done(g)
            if groups:
                if time.monotonic() - start > timeout:
                    break
                time.sleep(delay)

    left = find_all(acct)
    if not left and outputs.remove(cfg):
        report(f"removed {outputs.path(cfg)}")
    report(f"{len(deleted)} resource(s) deleted; " + (
        f"{len(left)} left:\n{table(left).to_string(index=False)}" if left else
        f"nothing tagged {spec.TAG_KEY}={spec.TAG_VALUE} is left in {acct.region}."))
    return TeardownResult(deleted=deleted, left=left)
