"""Teardown of the `aws` profile: delete everything tagged `lab=airflow-lab`, in dependency order.

Order: the lab's Airflow first (its DAGs paused, then it is stopped: no run may start a cluster during or after
the teardown) -> EMR clusters (terminate) -> DB instances -> Aurora clusters -> EMR clusters again (listed anew:
one may have started in the minutes the databases took, by an Airflow running elsewhere or by hand; its nodes use
the roles and groups below) -> DB subnet group -> secrets -> bucket (emptied first, every version) -> instance
profile and roles -> security groups (rules that reference other groups first) -> the tag labkit added to the
default subnet.

A teardown never stops halfway: whatever one resource does (an EMR cluster that ends TERMINATED_WITH_ERRORS,
an RDS instance that refuses deletion, a wait that times out, a security group still in use), it goes on to
the next one and ends with the list of what it could not delete and why. A security group still in use
(DependencyViolation: the databases' network interfaces linger for minutes) is retried with back-off. A
second run finds only what is left.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from labkit.aws import outputs, spec
from labkit.aws.inventory import Resource, emr_clusters, find_all, inventory, table
from labkit.aws.session import Account, connect, require_aws_profile
from labkit.aws.steps import code, message
from labkit.aws.waits import Wait, wait_all
from labkit.config import Config
from labkit.progress import tqdm

__all__ = ["Resource", "TeardownResult", "inventory", "stop_airflow", "teardown"]

# What delete_* answers for something already gone, or already on its way out (both fine for a teardown).
_GONE = {"DBInstanceNotFound", "DBInstanceNotFoundFault", "DBClusterNotFoundFault", "DBSubnetGroupNotFoundFault",
         "ResourceNotFoundException", "NoSuchBucket", "NoSuchEntity", "InvalidGroup.NotFound"}
_BUSY = {"InvalidDBInstanceState", "InvalidDBInstanceStateFault", "InvalidDBClusterStateFault"}


@dataclass
class TeardownResult:
    deleted: list[Resource] = field(default_factory=list)
    left: list[Resource] = field(default_factory=list)          # still tagged at the end (listed again)
    failed: list[tuple[Resource, str]] = field(default_factory=list)   # could not delete, and why
    dry_run: bool = False

    def table(self):
        return table(self.deleted)

    def failures(self):
        import pandas as pd

        return pd.DataFrame([{**r.__dict__, "why": why} for r, why in self.failed],
                            columns=["kind", "name", "id", "state", "why"])


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


class _Teardown:
    """One teardown run: each step records what it deleted and what it could not, and never raises for AWS."""

    def __init__(self, acct: Account, found: list[Resource], report: Callable[[str], None], progress: bool,
                 timeout: float, delay: float):
        self.acct, self.found, self.report = acct, found, report
        self.progress, self.timeout, self.delay = progress, timeout, delay
        self.result = TeardownResult()

    def of(self, kind: str) -> list[Resource]:
        return [r for r in self.found if r.kind == kind]

    def done(self, r: Resource, note: str = "") -> None:
        self.result.deleted.append(r)
        self.report(f"deleted {r.kind} {r.name}{note}")

    def fail(self, r: Resource, why: str) -> None:
        why = " ".join(why.split())
        self.result.failed.append((r, why))
        self.report(f"could not delete {r.kind} {r.name}: {why}")

    def attempt(self, r: Resource, call: Callable, *args) -> bool:
        """call(*args); True when it worked or AWS says the resource is already gone; else recorded as failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            call(*args)
        except ClientError as exc:
            if code(exc) in _GONE:
                return True
            self.fail(r, f"{code(exc)}: {message(exc)}")
            return False
        except BotoCoreError as exc:                 # no answer from AWS (network): this one waits for a rerun
            self.fail(r, f"{type(exc).__name__}: {exc}")
            return False
        return True

    def wait(self, items: list[tuple[Resource, Wait]], desc: str) -> list[Resource]:
        """Wait for all; the ones that failed or timed out are recorded; returns the ones that got there."""
        problems = wait_all(self.acct, [w for _, w in items], progress=self.progress, timeout=self.timeout,
                            delay=self.delay, desc=desc)
        ok = []
        for r, w in items:
            if w.label in problems:
                self.fail(r, problems[w.label])
            else:
                ok.append(r)
        return ok

    # -- the steps, in dependency order -------------------------------------------------------------------
    def emr_clusters(self, clusters: list[Resource] | None = None) -> None:
        emr, waits = self.acct.emr, []
        for c in self.of("EMR cluster") if clusters is None else clusters:
            if c.state != "TERMINATING" and not self.attempt(
                    c, lambda cid=c.id: emr.set_termination_protection(JobFlowIds=[cid], TerminationProtected=False)):
                continue
            if self.attempt(c, lambda cid=c.id: emr.terminate_job_flows(JobFlowIds=[cid])):
                # botocore's ClusterTerminated waiter fails on TERMINATED_WITH_ERRORS: for a teardown, that
                # cluster is gone too (it no longer bills), so it counts as done.
                waits.append((c, Wait(c.id, "emr", "cluster_terminated", {"ClusterId": c.id},
                                      also_done=("TERMINATED_WITH_ERRORS",))))
        for c in self.wait(waits, "terminating EMR clusters"):
            self.done(c, f" ({self._cluster_end(c)})")

    def emr_clusters_again(self) -> None:
        """List the tagged clusters anew and terminate any this run has not: the roles and groups go next."""
        from botocore.exceptions import BotoCoreError, ClientError

        handled = {r.id for r in self.result.deleted + [f for f, _ in self.result.failed] if r.kind == "EMR cluster"}
        try:
            new = [c for c in emr_clusters(self.acct) if c.id not in handled]
        except (BotoCoreError, ClientError) as exc:
            self.report(f"could not list the EMR clusters again ({exc}); the roles and groups are deleted anyway: "
                        "run the teardown again to find a cluster that started meanwhile")
            return
        if new:
            self.report(f"{len(new)} EMR cluster(s) started during the teardown: "
                        f"{', '.join(c.id for c in new)}; terminating before the roles and network go")
            self.emr_clusters(new)

    def _cluster_end(self, c: Resource) -> str:
        """How the cluster ended, e.g. 'TERMINATED_WITH_ERRORS: <why>' (for the learner; never fatal)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            status = self.acct.emr.describe_cluster(ClusterId=c.id)["Cluster"]["Status"]
        except (BotoCoreError, ClientError):
            return "terminated"
        reason = status.get("StateChangeReason", {}).get("Message", "")
        return status["State"] + (f": {reason}" if reason else "")

    def _delete_db(self, r: Resource, kind: str) -> bool:
        """delete_db_instance/cluster; 'already being deleted' (an InvalidState error while deleting) is fine."""
        from botocore.exceptions import BotoCoreError, ClientError

        rds = self.acct.rds
        if r.state == "deleting":
            return True
        if kind == "instance":
            extra = {} if r.id else {"SkipFinalSnapshot": True, "DeleteAutomatedBackups": True}
            call = lambda: rds.delete_db_instance(DBInstanceIdentifier=r.name, **extra)   # noqa: E731
        else:
            call = lambda: rds.delete_db_cluster(DBClusterIdentifier=r.name, SkipFinalSnapshot=True,  # noqa: E731
                                                 DeleteAutomatedBackups=True)   # retained backups bill storage
        try:
            call()
            return True
        except ClientError as exc:
            if code(exc) in _GONE:
                return True
            if code(exc) in _BUSY and self._status(r, kind) in ("deleting", "gone"):
                return True             # on its way out, or already gone by the time it was asked about
            self.fail(r, f"{code(exc)}: {message(exc)}")
            return False
        except BotoCoreError as exc:
            self.fail(r, f"{type(exc).__name__}: {exc}")
            return False

    def _status(self, r: Resource, kind: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if kind == "instance":
                found = self.acct.rds.describe_db_instances(DBInstanceIdentifier=r.name)["DBInstances"]
                return found[0]["DBInstanceStatus"]
            return self.acct.rds.describe_db_clusters(DBClusterIdentifier=r.name)["DBClusters"][0]["Status"]
        except ClientError as exc:
            return "gone" if code(exc) in _GONE else ""
        except BotoCoreError:
            return ""

    def databases(self) -> None:
        instances = [d for d in self.of("DB instance") if self._delete_db(d, "instance")]
        for d in self.wait([(d, Wait(d.name, "rds", "db_instance_deleted", {"DBInstanceIdentifier": d.name}))
                            for d in instances], "deleting DB instances"):
            self.done(d)
        clusters = [c for c in self.of("DB cluster") if self._delete_db(c, "cluster")]
        for c in self.wait([(c, Wait(c.name, "rds", "db_cluster_deleted", {"DBClusterIdentifier": c.name}))
                            for c in clusters], "deleting DB clusters"):
            self.done(c)

    def simple(self) -> None:
        """The subnet group, the secrets (for good: a rerun makes them again), buckets, IAM."""
        acct = self.acct
        for g in self.of("DB subnet group"):
            if self.attempt(g, lambda n=g.name: acct.rds.delete_db_subnet_group(DBSubnetGroupName=n)):
                self.done(g)
        for s in self.of("secret"):
            if self.attempt(s, lambda i=s.id: acct.secrets.delete_secret(SecretId=i, ForceDeleteWithoutRecovery=True)):
                self.done(s)
        for b in self.of("S3 bucket"):
            emptied = []
            if self.attempt(b, lambda n=b.name: emptied.append(_delete_bucket(acct, n))):
                self.done(b, f" ({emptied[0]} object version(s))" if emptied else "")
        for p in self.of("instance profile"):
            if self.attempt(p, _delete_instance_profile, acct, p.name):
                self.done(p)
        for r in self.of("IAM role"):
            if self.attempt(r, _delete_role, acct, r.name):
                self.done(r)

    def security_groups(self) -> None:
        """Cross references first; then delete, retrying DependencyViolation with exponential back-off."""
        from botocore.exceptions import BotoCoreError, ClientError

        groups = self.of("security group")
        try:
            _revoke_group_references(self.acct, [g.id for g in groups])
        except ClientError as exc:             # the deletes below say what it means for each group
            self.report(f"could not revoke the rules between the lab's security groups ({code(exc)}: {message(exc)})")
        pause, start, last = max(self.delay / 5, 0.01), time.monotonic(), {}
        with tqdm(total=len(groups), desc="deleting security groups", unit="group",
                  disable=not self.progress or not groups) as bar:
            while groups:
                for g in list(groups):
                    try:
                        self.acct.ec2.delete_security_group(GroupId=g.id)
                    except ClientError as exc:
                        if code(exc) == "DependencyViolation":
                            last[g] = message(exc)
                            continue
                        if code(exc) not in _GONE:
                            self.fail(g, f"{code(exc)}: {message(exc)}")
                            groups.remove(g)
                            continue
                    except BotoCoreError as exc:              # the network, not the group: try again
                        last[g] = f"{type(exc).__name__}: {exc}"
                        continue
                    groups.remove(g)
                    bar.update(1)
                    self.done(g)
                elapsed = time.monotonic() - start
                if groups and elapsed + pause > self.timeout:
                    for g in groups:
                        self.fail(g, f"DependencyViolation for {elapsed / 60:.1f} min ({last.get(g, 'still in use')}); "
                                     "a network interface still uses it: run the teardown again in a few minutes")
                    break
                if groups:
                    bar.set_postfix_str(f"{len(groups)} still in use, next try in {pause:.0f} s")
                    time.sleep(pause)
                    pause = min(pause * 2, 60)

    def subnet_tags(self) -> None:
        keys = [{"Key": spec.EMR_MANAGED_TAG["Key"]}, {"Key": spec.SUBNET_MARKER_TAG["Key"]}]
        for t in self.of("subnet tag"):
            if self.attempt(t, lambda sid=t.name: self.acct.ec2.delete_tags(Resources=[sid], Tags=keys)):
                self.done(t)


def _delete_bucket(acct: Account, name: str) -> int:
    count = _empty_bucket(acct, name)
    acct.s3.delete_bucket(Bucket=name)
    return count


def _delete_instance_profile(acct: Account, name: str) -> None:
    for r in acct.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"].get("Roles", []):
        acct.iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=r["RoleName"])
    acct.iam.delete_instance_profile(InstanceProfileName=name)


def stop_airflow(cfg: Config, report: Callable[[str], None] = print) -> list[str]:
    """Pause every DAG of the lab's Airflow, then stop it: no run may start an EMR cluster during the teardown, nor
    when Airflow is started again. Returns the DAGs it paused. Airflow not running here: nothing to do."""
    from labkit import procs, services

    airflow = services.get(cfg, "airflow")
    if airflow.pid() is None:
        report("the lab's Airflow is not running here: no DAG of it can start a cluster")
        return []
    paused = []
    try:
        api = airflow.api()
        for dag in api.get("dags", limit=1000, paused="false").get("dags", []):
            if not dag.get("is_paused"):
                api.pause(dag["dag_id"])
                paused.append(dag["dag_id"])
        report(f"paused the lab's DAGs ({', '.join(paused) or 'all were paused already'})")
    except Exception as exc:  # noqa: BLE001 - an Airflow that does not answer is stopped all the same
        report(f"could not pause the lab's DAGs ({' '.join(str(exc).split())[:200]}); stopping Airflow anyway: "
               "unpause only what you mean to run when you start it again")
    with procs.exclusive(cfg.state_dir / services.LOCK, "the aws teardown", report):
        airflow.stop()
    report("stopped the lab's Airflow (its tasks with it): no DAG run can start a cluster now")
    return paused


def teardown(cfg: Config, *, dry_run: bool = False, progress: bool = True, report: Callable[[str], None] = print,
             timeout: float = 45 * 60, delay: float = 15) -> TeardownResult:
    """Pause the lab's DAGs and stop its Airflow, then delete everything tagged with the lab tag; print what was
    deleted, what could not be and why, and what is left. `dry_run=True` lists what would be deleted and changes
    nothing (Airflow included). Safe to rerun."""
    require_aws_profile(cfg)
    acct = connect(cfg.region)
    if dry_run:
        found = find_all(acct)
        report(f"Dry run: {len(found)} resource(s) tagged {spec.TAG_KEY}={spec.TAG_VALUE} in {acct.region} would be "
               "deleted" + (f":\n{table(found).to_string(index=False)}" if found else "; nothing was deleted."))
        return TeardownResult(left=found, dry_run=True)
    stop_airflow(cfg, report)                 # first: a run it starts now would make a cluster the list below misses
    run = _Teardown(acct, find_all(acct), report, progress, timeout, delay)
    for step in (run.emr_clusters, run.databases, run.emr_clusters_again, run.simple, run.security_groups,
                 run.subnet_tags):
        step()
    result = run.result
    result.left = find_all(acct)
    if not result.left and outputs.remove(cfg):
        report(f"removed {outputs.path(cfg)}")
    lines = [f"{len(result.deleted)} resource(s) deleted"]
    if result.failed:
        lines.append(f"could NOT delete {len(result.failed)} (they may still cost money; fix the cause, then run the "
                     f"teardown again):\n{result.failures()[['kind', 'name', 'why']].to_string(index=False)}")
    lines.append(f"{len(result.left)} left:\n{table(result.left).to_string(index=False)}" if result.left else
                 f"nothing tagged {spec.TAG_KEY}={spec.TAG_VALUE} is left in {acct.region}.")
    report("; ".join(lines[:1]) + "\n" + "\n".join(lines[1:]))
    return result
