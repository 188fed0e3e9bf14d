"""Provisioning of the `aws` profile: a plan with its cost (the default: a dry run), then, with
`confirm=True`, everything that is missing is created, tagged `lab=airflow-lab`, waited for, and the
outputs written to `<state>/aws/outputs.json` for `labkit.connections`.

Before anything is made, the account's preconditions are checked (`preflight`: vCPU quota less current usage,
public subnet, the instance type in the subnet's zone, the EMR release in the region).
Every step first looks for its resource: a second run finds everything and changes nothing, and a run that
stopped halfway (an AWS error, a timeout) continues where it stopped when run again. The steps live by job in
`network`, `iam`, `storage` and `databases`.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from labkit import jdbc
from labkit.aws import cost, outputs, preflight, spec
from labkit.aws.databases import DatabaseSteps
from labkit.aws.iam import IamSteps
from labkit.aws.network import NetworkSteps, check_cidr, public_cidr
from labkit.aws.session import connect, require_aws_profile
from labkit.aws.steps import CHANGES, Action, code, message
from labkit.aws.storage import StorageSteps
from labkit.aws.waits import Wait, wait_all
from labkit.config import Config
from labkit.errors import LabError
from labkit.state import ensure_state_dir

__all__ = ["Action", "ProvisionResult", "check_cidr", "default_raw_dir", "provision", "public_cidr",
           "require_aws_profile"]


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


def default_raw_dir(cfg: Config) -> Path:
    """Where a copy of the raw retail data may already be: the aws staging folder of the retail generator
    (`<state>/aws/raw/retail`), else the local profile's bucket (`<state>/s3/<local bucket>/raw/retail`)."""
    try:
        local_bucket = tomllib.loads(cfg.settings_file.read_text()).get("local", {}).get("bucket", "lab-bucket")
    except (OSError, tomllib.TOMLDecodeError):
        local_bucket = "lab-bucket"
    candidates = [cfg.state_dir / "aws" / "raw" / "retail", cfg.s3_dir / (local_bucket or "lab-bucket") / "raw" / "retail"]
    return next((c for c in candidates if c.is_dir() and any(c.iterdir())), candidates[-1])




class _Lab(NetworkSteps, IamSteps, StorageSteps, DatabaseSteps):
    """The whole plan, in dependency order; each step is one call, and an AWS error names the step."""

    def run(self, label: str, step: Callable, *args):
        from botocore.exceptions import ClientError

        try:
            return step(*args)
        except ClientError as exc:
            why = " ".join(message(exc).split())
            raise LabError(f"provisioning stopped at {label} ({code(exc)}: {why}); what was made so far is tagged and "
                           "kept: run provisioning again to continue from there, or the teardown (notebook 09) to "
                           "remove it") from None

    def steps(self, subnet: dict, apply: bool) -> list[Action]:
        run = self.run
        actions = [
            run("the subnet tag", self.emr_subnet_tag, subnet, apply),
            run(spec.SG_DB, self.security_group, spec.SG_DB, "RDS PostgreSQL and Aurora MySQL of the lab", apply,
                False),
            run(spec.SG_EMR_MASTER, self.security_group, spec.SG_EMR_MASTER, "EMR-managed group of the master node",
                apply),
            run(spec.SG_EMR_SLAVE, self.security_group, spec.SG_EMR_SLAVE, "EMR-managed group of core and task nodes",
                apply),
            run("the ingress rules", self.db_ingress, apply),          # from the two EMR groups: after them
            run(spec.DB_SUBNET_GROUP, self.db_subnet_group, apply),
            *run("the IAM roles", self.roles, apply),
            run("the instance profile", self.instance_profile, apply),
        ]
        bucket = run(f"bucket {self.bucket}", self.bucket_action, apply)
        actions.append(bucket)
        actions += run("the uploads", self.uploads, apply, bucket.action in ("exists", "created"))
        actions += [run(name, self.secret, db, user, name, apply) for db in spec.DATABASES for user, name in db.logins()]
        actions += [run(spec.POSTGRES.identifier, self.postgres, apply),
                    run(spec.AURORA.identifier, self.aurora_cluster, apply),
                    run(spec.AURORA.instance, self.aurora_instance, apply)]
        if not apply:
            actions += [run("the job's database user", self.job_user, False),
                        run("the import's database user", self.import_user, False)]
        return actions


def provision(cfg: Config, *, confirm: bool = False, allow_cidr: str | None = None, raw_dir: str | Path | None = None,
              hours: float = 4.0, emr_runs: int = 2, progress: bool = True, report: Callable[[str], None] = print,
              timeout: float = 45 * 60, delay: float = 15) -> ProvisionResult:
    """Print the cost estimate and the plan; with `confirm=True`, create what is missing and write the outputs.

    `allow_cidr`: the address range (yours, IPv4, /24 or narrower) that may reach the databases besides the EMR nodes;
    looked up at https://checkip.amazonaws.com when not given. `raw_dir`: the raw retail data to upload (default:
    the local profile's copy). `hours`/`emr_runs`: the session the estimate is for.
    """
    require_aws_profile(cfg)
    cidr = check_cidr(allow_cidr) if allow_cidr else None
    raw = Path(raw_dir) if raw_dir else default_raw_dir(cfg)
    if raw_dir and not raw.is_dir():
        raise LabError(f"raw_dir={str(raw_dir)!r} is not a folder; give the folder of the retail parquet files")
    for jar, pin in ((spec.JDBC_JAR, spec.JDBC_JAR_PINS["mariadb"]), (spec.POSTGRES_JDBC_JAR, spec.JDBC_JAR_PINS["postgres"])):
        jdbc.require(pin, jar, then="the EMR steps run the driver the lab was tested with; nothing was created")
    acct = connect(cfg.region)                   # bad credentials stop here, before anything exists
    estimate = cost.estimate(acct.region, hours=hours, emr_runs=emr_runs)
    report(f"Cost estimate ({estimate.attrs['note']}):\n{estimate.to_string()}\n"
           f"Left running, the databases cost about ${estimate.attrs['usd_per_day_if_left_running']:.2f} per day: "
           "run the teardown (notebook 09) when you are done.\n")
    lab = _Lab(cfg, acct, allow_cidr=cidr, raw_dir=raw, progress=progress, delay=delay, timeout=timeout)
    subnet = lab.network()
    checks = [preflight.vcpu_quota(acct), preflight.public_subnet(subnet),   # refuse here, before any spending
              preflight.instance_offered(acct, subnet), preflight.release_label(acct)]
    if not confirm:
        result = ProvisionResult(False, estimate, checks + lab.steps(subnet, apply=False))
        report(f"Plan for account {acct.account_id}, region {acct.region} (tag {spec.TAG_KEY}={spec.TAG_VALUE}):\n"
               f"{result.text()}\n")
        report("Dry run: nothing was created. Run again with confirm=True to create what the plan says.")
        return result
    if lab.allow_cidr is None:
        lab.allow_cidr = public_cidr()

    ensure_state_dir(cfg)
    actions = checks + lab.steps(subnet, apply=True)
    problems = wait_all(acct, [
        Wait(spec.POSTGRES.identifier, "rds", "db_instance_available",
             {"DBInstanceIdentifier": spec.POSTGRES.identifier}),
        Wait(spec.AURORA.identifier, "rds", "db_cluster_available", {"DBClusterIdentifier": spec.AURORA.identifier}),
        Wait(spec.AURORA.instance, "rds", "db_instance_available", {"DBInstanceIdentifier": spec.AURORA.instance}),
    ], progress=progress, timeout=timeout, delay=delay, desc="waiting for the databases")
    if problems:
        raise LabError("not ready: " + "; ".join(f"{k} {v}" for k, v in problems.items()) + ". A timeout only means "
                       "AWS is still creating them: run provisioning again to go on waiting; a failure: look at it "
                       "in the AWS console, then run the teardown (notebook 09) and provision again")
    out = lab.run("the outputs", lab.outputs)
    lab.run("the secrets' endpoints", lab.record_hosts, out)
    actions.append(lab.run("the job's database user", lab.job_user, True, out["aurora_host"]))
    actions.append(lab.run("the import's database user", lab.import_user, True, out["postgres_host"]))
    path = outputs.write(cfg, out)
    result = ProvisionResult(True, estimate, actions, out)
    report(f"{result.text()}\n")
    changed = sum(a.action in CHANGES for a in actions)
    report(f"{changed} change(s); outputs (no passwords: they stay in Secrets Manager) in {path}")
    return result
