"""Account preconditions, checked before anything is created (and so before any money is spent).

- the On-Demand vCPU quota for standard instances (Service Quotas L-1216C47A) must hold the EMR cluster's
  three m5.xlarge (12 vCPUs); a new account often starts lower;
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
_NOT_IMPLEMENTED = ("NotImplemented", "NotImplementedError", "InternalFailure", "NoSuchResourceException", "500", "501")


def rehearsal(cfg: Config | None = None) -> bool:
    """LAB_AWS_REHEARSAL=1: "AWS" is a local emulator (and, given a cfg, the profile is aws)."""
    return os.environ.get(REHEARSAL_ENV, "") == "1" and (cfg is None or cfg.profile == "aws")


def vcpu_quota(acct: Account) -> Action:
    """Refuses (LabError) when the account's quota is below what the EMR cluster needs."""
    from botocore.exceptions import ClientError

    service, quota = spec.EC2_STANDARD_VCPU_QUOTA
    needed, nodes = spec.emr_vcpus(), spec.emr_nodes()
    name = f"{service} {quota}"
    try:
        value = acct.client("service-quotas").get_service_quota(ServiceCode=service, QuotaCode=quota)["Quota"]["Value"]
    except ClientError as exc:
        if rehearsal() and (code(exc) in _NOT_IMPLEMENTED or "not yet implemented" in message(exc).lower()):
            return Action("vCPU quota", name, "unchecked",
                          f"{REHEARSAL_ENV}=1: the local AWS emulator has no Service Quotas; needs {needed}")
        raise LabError(f"cannot read the On-Demand vCPU quota ({name}: {code(exc)}: {message(exc)}); allow "
                       "servicequotas:GetServiceQuota for your user, or check it in the Service Quotas console, "
                       "then run again; nothing was created") from None
    if value < needed:
        raise LabError(f"your account may run {value:g} vCPUs of On-Demand standard instances in {acct.region} "
                       f"(Service Quotas {quota}), the EMR cluster needs {needed} ({nodes} x {spec.EMR_INSTANCE_TYPE}): "
                       "request an increase in the Service Quotas console (it can take a day) and run again; "
                       "nothing was created")
    return Action("vCPU quota", name, "ok", f"{value:g} vCPUs allowed, the EMR cluster needs {needed}")


def public_subnet(subnet: dict) -> Action:
    """Refuses (LabError) when the EMR subnet does not map a public IPv4 address to new instances."""
    sid = subnet["SubnetId"]
    if not subnet.get("MapPublicIpOnLaunch"):
        raise LabError(f"subnet {sid} does not give new instances a public IPv4 address (MapPublicIpOnLaunch is "
                       "false), so EMR nodes there cannot reach EMR or S3 (the default VPC has no NAT gateway): run "
                       f"`aws ec2 modify-subnet-attribute --subnet-id {sid} --map-public-ip-on-launch` or choose "
                       "another default subnet (LAB_SUBNET_ID); nothing was created")
    return Action("subnet", sid, "ok", "MapPublicIpOnLaunch: EMR nodes get a public address")
