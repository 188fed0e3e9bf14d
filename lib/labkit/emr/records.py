"""The records the local EMR endpoint keeps, built from requests and validated as EMR validates them:
a cluster from RunJobFlow, a step from a StepConfig; and the error every operation raises (`ApiError`).
"""
from __future__ import annotations

import random
import string
import time

from labkit.emr import bucket, instances

ACCOUNT = "123456789012"
ACTIONS = ("TERMINATE_JOB_FLOW", "TERMINATE_CLUSTER", "CANCEL_AND_WAIT", "CONTINUE")
IDLE_TIMEOUT_RANGE = (60, 604800)
SECURITY_GROUPS = ("EmrManagedMasterSecurityGroup", "EmrManagedSlaveSecurityGroup", "ServiceAccessSecurityGroup",
                   "AdditionalMasterSecurityGroups", "AdditionalSlaveSecurityGroups")


class ApiError(Exception):
    """An EMR API error: HTTP 400 with `{"__type": code, "Message": message}`."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def new_id(prefix: str) -> str:
    return prefix + "".join(random.choices(string.ascii_uppercase + string.digits, k=13))


def check_policy(policy) -> dict:
    """An AutoTerminationPolicy as EMR accepts it (IdleTimeout in seconds, 60 s to 7 days)."""
    idle = policy.get("IdleTimeout") if isinstance(policy, dict) else None
    low, high = IDLE_TIMEOUT_RANGE
    if not isinstance(idle, int) or isinstance(idle, bool) or not low <= idle <= high:
        raise ApiError("ValidationException", f"AutoTerminationPolicy.IdleTimeout must be between {low} "
                                              f"and {high} seconds, got {idle!r}.")
    return {"IdleTimeout": idle}


def public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def new_cluster(region: str, req: dict, now: float) -> dict:
    """A cluster record for a RunJobFlow request (STARTING), validated as EMR does: ApiError if it is not valid."""
    name = req.get("Name")
    if not name:
        raise ApiError("ValidationException", "Name is required.")
    spec = req.get("Instances")
    if not isinstance(spec, dict):
        raise ApiError("ValidationException", "Instances is required.")
    log_uri = req.get("LogUri")
    if log_uri is not None and not bucket.is_s3(log_uri):
        raise ApiError("ValidationException", f"The log URI {log_uri!r} is not valid: it must be an "
                                              "Amazon S3 location such as s3://my-bucket/logs/")
    policy = req.get("AutoTerminationPolicy")
    policy = check_policy(policy) if policy is not None else None
    try:
        machines = instances.from_spec(spec)
    except instances.SpecError as exc:
        raise ApiError("ValidationException", str(exc)) from None
    bootstrap = [{"Name": b.get("Name", ""), "ScriptBootstrapAction": {
        "Path": b["ScriptBootstrapAction"]["Path"], "Args": list(b["ScriptBootstrapAction"].get("Args", []))}}
        for b in req.get("BootstrapActions") or [] if (b.get("ScriptBootstrapAction") or {}).get("Path")]
    if len(bootstrap) != len(req.get("BootstrapActions") or []):
        raise ApiError("ValidationException", "Each bootstrap action needs ScriptBootstrapAction.Path.")
    level = req.get("StepConcurrencyLevel", 1)
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 256:
        raise ApiError("ValidationException", f"StepConcurrencyLevel must be between 1 and 256, got {level!r}.")
    steps = [new_step(s) for s in req.get("Steps") or []]
    cluster_id = new_id("j-")
    cluster = {
        "Id": cluster_id,
        "Name": name,
        "Status": {"State": "STARTING", "StateChangeReason": {}, "Timeline": {"CreationDateTime": now}},
        "Ec2InstanceAttributes": {
            "Ec2SubnetId": spec.get("Ec2SubnetId", ""),
            "Ec2AvailabilityZone": f"{region}a",
            "IamInstanceProfile": req.get("JobFlowRole", ""),
            **({"Ec2KeyName": spec["Ec2KeyName"]} if "Ec2KeyName" in spec else {}),
            **({"RequestedEc2SubnetIds": [spec["Ec2SubnetId"]]} if spec.get("Ec2SubnetId") else {}),
            **{key: spec[key] for key in SECURITY_GROUPS if spec.get(key)},
        },
        "InstanceCollectionType": machines["type"],
        **({"LogUri": log_uri} if log_uri else {}),
        "ReleaseLabel": req.get("ReleaseLabel", ""),
        "AutoTerminate": not spec.get("KeepJobFlowAliveWhenNoSteps", False),
        "TerminationProtected": bool(spec.get("TerminationProtected", False)),
        "VisibleToAllUsers": req.get("VisibleToAllUsers", True),
        "Applications": req.get("Applications", []),
        "Tags": req.get("Tags", []),
        "ServiceRole": req.get("ServiceRole", ""),
        "NormalizedInstanceHours": 0,
        "MasterPublicDnsName": "localhost",
        "Configurations": req.get("Configurations", []),
        "ClusterArn": f"arn:aws:elasticmapreduce:{region}:{ACCOUNT}:cluster/{cluster_id}",
        "StepConcurrencyLevel": level,
        "_region": region,
        "_groups": machines["groups"],
        "_fleets": machines["fleets"],
        "_machines": machines["instances"],
        "_bootstrap": bootstrap,
        "_auto_termination": policy,
        "_next": now,         # the engine adds its transition time
        "_idle_since": None,
        "_steps": steps,
    }
    return cluster


def new_step(spec: dict) -> dict:
    """A PENDING step record for a StepConfig, validated as EMR does."""
    action = spec.get("ActionOnFailure", "TERMINATE_CLUSTER")
    if action not in ACTIONS:
        raise ApiError("ValidationException", f"ActionOnFailure {action!r} is not valid: use one of "
                                              f"{', '.join(ACTIONS)}.")
    jar_step = spec.get("HadoopJarStep") or {}
    if not jar_step.get("Jar"):
        raise ApiError("ValidationException", "HadoopJarStep.Jar is required.")
    if not spec.get("Name"):
        raise ApiError("ValidationException", "Step Name is required.")
    return {
        "Id": new_id("s-"),
        "Name": spec["Name"],
        "Config": {"Jar": jar_step["Jar"],
                   "Properties": {p["Key"]: p.get("Value", "") for p in jar_step.get("Properties", [])},
                   **({"MainClass": jar_step["MainClass"]} if jar_step.get("MainClass") else {}),
                   "Args": list(jar_step.get("Args", []))},
        "ActionOnFailure": action,
        "Status": {"State": "PENDING", "StateChangeReason": {}, "Timeline": {"CreationDateTime": time.time()}},
    }


def machines_of_old_record(cluster: dict) -> dict:
    """The instance fields a cluster recorded before the endpoint kept its instances (state.json version 1)."""
    made = instances.from_spec({"MasterInstanceType": "m5.xlarge", "InstanceCount": cluster.get("_instances", 1)})
    return {"_groups": made["groups"], "_fleets": [], "_machines": made["instances"], "_bootstrap": []}
