"""Account preconditions, checked before anything is created (and so before any money is spent).

- the On-Demand vCPU quota for standard instances (Service Quotas L-1216C47A), less the vCPUs of the account's
  running On-Demand standard instances, must hold both DAGs' EMR clusters at once (emr_ephemeral_job's three
  m5.xlarge and airflow_workshop_job's two: 20 vCPUs); a new account often starts lower;
- the instance type must be offered in the availability zone of the EMR subnet (not every zone has every type);
- the pinned EMR release must exist in the region (a new release reaches regions over weeks);
- the subnet EMR uses must give its instances a public IPv4 address (MapPublicIpOnLaunch): in the default VPC
  there is no NAT gateway, so without one the nodes cannot reach EMR, S3 or Secrets Manager.

A local emulator (moto) may not implement Service Quotas. Only when LAB_AWS_REHEARSAL=1 (set by the tests that
run against a local moto server, never by a learner) is "not implemented" accepted, and then the plan says the
quota was not checked.
"""
from __future__ import annotations

import os

from labkit.aws import spec
from labkit.aws.session import Account
from labkit.aws.steps import Action, code, message
from labkit.config import Config
from labkit.errors import LabError

REHEARSAL_ENV = "LAB_AWS_REHEARSAL"
# How an emulator says it lacks the call or the quota (moto's server: NoSuchResourceException for ec2 quotas).
# The lab's EMR endpoint (the rehearsal's EMR) answers UnknownOperationException for ListReleaseLabels.
_NOT_IMPLEMENTED = ("NotImplemented", "NotImplementedError", "InternalFailure", "NoSuchResourceException",
                    "UnknownOperationException", "500", "501")


def rehearsal(cfg: Config | None = None) -> bool:
    """LAB_AWS_REHEARSAL=1: "AWS" is a local emulator (and, given a cfg, the profile is aws)."""
    return os.environ.get(REHEARSAL_ENV, "") == "1" and (cfg is None or cfg.profile == "aws")


def _running_standard_vcpus(acct: Account) -> tuple[int, int]:
    """(vCPUs, instances) of the account's pending and running On-Demand instances that the quota counts."""
    counts: dict[str, int] = {}
    pages = acct.ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
    for page in pages:
        for reservation in page.get("Reservations", []):
            for i in reservation.get("Instances", []):
                if i.get("InstanceLifecycle") in ("spot", "scheduled") or not spec.is_standard(i["InstanceType"]):
                    continue                  # Spot instances have a quota of their own
                counts[i["InstanceType"]] = counts.get(i["InstanceType"], 0) + 1
    if not counts:
        return 0, 0
    types = acct.ec2.describe_instance_types(InstanceTypes=sorted(counts))["InstanceTypes"]
    vcpus = {t["InstanceType"]: t["VCpuInfo"]["DefaultVCpus"] for t in types}
    return sum(n * vcpus[t] for t, n in counts.items()), sum(counts.values())


def vcpu_quota(acct: Account) -> Action:
    """Refuses (LabError) when the account's quota, less what its running instances use, cannot hold both DAGs'
    EMR clusters at once."""
    from botocore.exceptions import ClientError

    service, quota = spec.EC2_STANDARD_VCPU_QUOTA
    needed = spec.concurrent_vcpus()
    clusters = " + ".join(f"{spec.emr_nodes(g)} x {spec.EMR_INSTANCE_TYPE} ({dag})" for dag, g in spec.CONCURRENT_CLUSTERS)
    name = f"{service} {quota}"
    try:
        used, instances = _running_standard_vcpus(acct)
    except ClientError as exc:
        raise LabError(f"cannot list the account's running instances to count their vCPUs ({code(exc)}: "
                       f"{message(exc)}); allow ec2:DescribeInstances and ec2:DescribeInstanceTypes for your user, "
                       "then run again; nothing was created") from None
    try:
        value = acct.client("service-quotas").get_service_quota(ServiceCode=service, QuotaCode=quota)["Quota"]["Value"]
    except ClientError as exc:
        if rehearsal() and (code(exc) in _NOT_IMPLEMENTED or "not yet implemented" in message(exc).lower()):
            return Action("vCPU quota", name, "unchecked",
                          f"{REHEARSAL_ENV}=1: the local AWS emulator has no Service Quotas; the two DAGs' clusters "
                          f"need {needed}, {used} in use")
        raise LabError(f"cannot read the On-Demand vCPU quota ({name}: {code(exc)}: {message(exc)}); allow "
                       "servicequotas:GetServiceQuota for your user, or check it in the Service Quotas console, "
                       "then run again; nothing was created") from None
    if value - used < needed:
        in_use = f", {used} of them in use by {instances} running instance(s)" if used else ""
        raise LabError(f"your account may run {value:g} vCPUs of On-Demand standard instances in {acct.region} "
                       f"(Service Quotas {quota}){in_use}; the two DAGs' EMR clusters at once need {needed} "
                       f"({clusters}): request an increase in the Service Quotas console (it can take a day)"
                       f"{' or stop some of those instances' if used else ''} and run again; nothing was created")
    return Action("vCPU quota", name, "ok", f"{value:g} vCPUs allowed, {used} in use, the two DAGs' EMR clusters "
                                            f"need {needed}")


def instance_offered(acct: Account, subnet: dict) -> Action:
    """Refuses (LabError) when EMR's instance type is not offered in the availability zone of the EMR subnet."""
    zone, itype = subnet["AvailabilityZone"], spec.EMR_INSTANCE_TYPE
    offers = acct.ec2.describe_instance_type_offerings(LocationType="availability-zone", Filters=[
        {"Name": "location", "Values": [zone]}, {"Name": "instance-type", "Values": [itype]}])["InstanceTypeOfferings"]
    if not any(o["InstanceType"] == itype and o["Location"] == zone for o in offers):
        raise LabError(f"{itype} is not offered in {zone}, the zone of subnet {subnet['SubnetId']}, so EMR could not "
                       f"start a node there: choose a default subnet in another zone (LAB_SUBNET_ID; `aws ec2 "
                       f"describe-instance-type-offerings --location-type availability-zone --filters "
                       f"Name=instance-type,Values={itype}` lists the zones); nothing was created")
    return Action("instance type", itype, "ok", f"offered in {zone}")


def release_label(acct: Account) -> Action:
    """Refuses (LabError) when the pinned EMR release does not exist in the region (releases reach regions late)."""
    from botocore.exceptions import ClientError

    label = spec.EMR_RELEASE_LABEL
    prefix = label.rsplit(".", 2)[0] + "."             # emr-7.
    labels, token = [], None
    try:
        while True:
            page = acct.emr.list_release_labels(Filters={"Prefix": prefix}, **({"NextToken": token} if token else {}))
            labels += page.get("ReleaseLabels", [])
            token = page.get("NextToken")
            if not token:
                break
    except ClientError as exc:
        if rehearsal() and code(exc) in _NOT_IMPLEMENTED:
            return Action("EMR release", label, "unchecked", f"{REHEARSAL_ENV}=1: this EMR emulator lists no releases")
        raise LabError(f"cannot list the EMR releases of {acct.region} ({code(exc)}: {message(exc)}); allow "
                       "elasticmapreduce:ListReleaseLabels for your user, then run again; nothing was created") from None
    if label not in labels:
        newest = ", ".join(sorted((x for x in labels if x.startswith(prefix)),
                                  key=lambda x: [int(p) for p in x[4:].split(".") if p.isdigit()])[-3:]) or "none"
        raise LabError(f"EMR release {label} is not available in {acct.region} (its newest {prefix}x there: {newest}): "
                       "choose another region (LAB_REGION), or change spec.EMR_RELEASE_LABEL; nothing was created")
    return Action("EMR release", label, "ok", f"available in {acct.region}")


def public_subnet(subnet: dict) -> Action:
    """Refuses (LabError) when the EMR subnet does not map a public IPv4 address to new instances."""
    sid = subnet["SubnetId"]
    if not subnet.get("MapPublicIpOnLaunch"):
        raise LabError(f"subnet {sid} does not give new instances a public IPv4 address (MapPublicIpOnLaunch is "
                       "false), so EMR nodes there cannot reach EMR or S3 (the default VPC has no NAT gateway): run "
                       f"`aws ec2 modify-subnet-attribute --subnet-id {sid} --map-public-ip-on-launch` or choose "
                       "another default subnet (LAB_SUBNET_ID); nothing was created")
    return Action("subnet", sid, "ok", "MapPublicIpOnLaunch: EMR nodes get a public address")
