"""A local cluster's instances: the groups or fleets RunJobFlow asked for, and the "machines" in them.

Every instance is this machine (127.0.0.1); what the endpoint keeps is what EMR would answer about them.
`Instances` takes one of three forms, as on EMR: `InstanceGroups`, `InstanceFleets`, or the simple
`MasterInstanceType` / `SlaveInstanceType` / `InstanceCount` (one master, InstanceCount - 1 core nodes).
Their states follow the cluster's: PROVISIONING while it starts, BOOTSTRAPPING, RUNNING while it is
ready, TERMINATING, then TERMINATED (reason CLUSTER_TERMINATED).
"""
from __future__ import annotations

import math
import random
import string

from labkit.config import LOOPBACK

ROLES = ("MASTER", "CORE", "TASK")
MARKETS = ("ON_DEMAND", "SPOT")
# the cluster's state -> the state of its groups/fleets and instances
PHASE = {"STARTING": "PROVISIONING", "BOOTSTRAPPING": "BOOTSTRAPPING", "RUNNING": "RUNNING", "WAITING": "RUNNING",
         "TERMINATING": "TERMINATING", "TERMINATED": "TERMINATED", "TERMINATED_WITH_ERRORS": "TERMINATED"}


class SpecError(ValueError):
    """The Instances of a RunJobFlow request cannot describe a cluster (a ValidationException)."""


def _id(prefix: str, size: int = 13, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return prefix + "".join(random.choices(alphabet, k=size))


def _count(value, what: str, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise SpecError(f"{what} must be a whole number >= {low}, got {value!r}.")
    return value


def _machines(group_key: str, group_id: str, instance_type: str, market: str, n: int) -> list[dict]:
    return [{"Id": _id("ci-"), "Ec2InstanceId": _id("i-", 17, "0123456789abcdef"), group_key: group_id,
             "Market": market, "InstanceType": instance_type} for _ in range(n)]


def from_spec(instances: dict) -> dict:
    """The groups (or fleets) and instances a RunJobFlow `Instances` asks for; SpecError when it cannot."""
    groups, fleets = instances.get("InstanceGroups"), instances.get("InstanceFleets")
    simple = instances.get("MasterInstanceType")
    if sum(bool(x) for x in (groups, fleets, simple)) != 1:
        raise SpecError("Instances must give exactly one of InstanceGroups, InstanceFleets or "
                        "MasterInstanceType (with SlaveInstanceType and InstanceCount).")
    if simple:
        total = _count(instances.get("InstanceCount", 1), "Instances.InstanceCount", 1)
        groups = [{"Name": "MASTER", "InstanceRole": "MASTER", "InstanceType": simple, "InstanceCount": 1}]
        if total > 1:
            groups.append({"Name": "CORE", "InstanceRole": "CORE", "InstanceCount": total - 1,
                           "InstanceType": instances.get("SlaveInstanceType") or simple})
    if groups:
        return _groups(groups)
    return _fleets(fleets)


def _groups(specs: list[dict]) -> dict:
    groups, machines = [], []
    for spec in specs:
        role, market = spec.get("InstanceRole"), spec.get("Market", "ON_DEMAND")
        if role not in ROLES:
            raise SpecError(f"InstanceRole {role!r} is not valid: use one of {', '.join(ROLES)}.")
        if market not in MARKETS:
            raise SpecError(f"Market {market!r} is not valid: use one of {', '.join(MARKETS)}.")
        if not spec.get("InstanceType"):
            raise SpecError(f"The {role} instance group needs an InstanceType.")
        count = _count(spec.get("InstanceCount"), f"InstanceCount of the {role} instance group")
        group = {"Id": _id("ig-"), "Name": spec.get("Name") or role, "Market": market, "InstanceGroupType": role,
                 "InstanceType": spec["InstanceType"], "RequestedInstanceCount": count,
                 "Configurations": list(spec.get("Configurations") or [])}
        if spec.get("BidPrice"):
            group["BidPrice"] = spec["BidPrice"]
        groups.append(group)
        machines += _machines("InstanceGroupId", group["Id"], group["InstanceType"], market, count)
    masters = [g for g in groups if g["InstanceGroupType"] == "MASTER"]
    if len(masters) != 1 or masters[0]["RequestedInstanceCount"] not in (1, 3):
        raise SpecError("A cluster needs exactly one MASTER instance group, with InstanceCount 1 (or 3).")
    return {"type": "INSTANCE_GROUP", "groups": groups, "fleets": [], "instances": machines}


def _fleets(specs: list[dict]) -> dict:
    fleets, machines = [], []
    for spec in specs:
        role = spec.get("InstanceFleetType")
        if role not in ROLES:
            raise SpecError(f"InstanceFleetType {role!r} is not valid: use one of {', '.join(ROLES)}.")
        types = spec.get("InstanceTypeConfigs") or []
        if not types or not all(t.get("InstanceType") for t in types):
            raise SpecError(f"The {role} instance fleet needs InstanceTypeConfigs, each with an InstanceType.")
        on_demand = _count(spec.get("TargetOnDemandCapacity", 0), f"TargetOnDemandCapacity of the {role} fleet")
        spot = _count(spec.get("TargetSpotCapacity", 0), f"TargetSpotCapacity of the {role} fleet")
        specs_out = [{"InstanceType": t["InstanceType"], "WeightedCapacity": t.get("WeightedCapacity", 1),
                      **({"BidPrice": t["BidPrice"]} if t.get("BidPrice") else {}),
                      **({"BidPriceAsPercentageOfOnDemandPrice": float(t["BidPriceAsPercentageOfOnDemandPrice"])}
                         if "BidPriceAsPercentageOfOnDemandPrice" in t else {}),
                      "Configurations": list(t.get("Configurations") or [])} for t in types]
        fleet = {"Id": _id("if-"), "Name": spec.get("Name") or role, "InstanceFleetType": role,
                 "TargetOnDemandCapacity": on_demand, "TargetSpotCapacity": spot,
                 "InstanceTypeSpecifications": specs_out}
        fleets.append(fleet)
        first = specs_out[0]
        weight = max(1, first["WeightedCapacity"])
        machines += _machines("InstanceFleetId", fleet["Id"], first["InstanceType"], "ON_DEMAND",
                              math.ceil(on_demand / weight))
        machines += _machines("InstanceFleetId", fleet["Id"], first["InstanceType"], "SPOT", math.ceil(spot / weight))
    masters = [f for f in fleets if f["InstanceFleetType"] == "MASTER"]
    if len(masters) != 1 or masters[0]["TargetOnDemandCapacity"] + masters[0]["TargetSpotCapacity"] != 1:
        raise SpecError("A cluster needs exactly one MASTER instance fleet, with a target capacity of 1.")
    return {"type": "INSTANCE_FLEET", "groups": [], "fleets": fleets, "instances": machines}


def phase(cluster: dict) -> tuple[str, dict, dict]:
    """(state, StateChangeReason, Timeline) of the cluster's groups, fleets and instances right now."""
    status = cluster["Status"]
    state = PHASE[status["State"]]
    timeline = {k: v for k, v in status["Timeline"].items() if k in ("CreationDateTime", "ReadyDateTime",
                                                                        "EndDateTime")}
    reason = {"Code": "CLUSTER_TERMINATED", "Message": "Job flow terminated"} if state == "TERMINATED" else {}
    return state, reason, timeline


def _up(state: str, requested: int) -> int:
    return requested if state == "RUNNING" else 0


def group_view(cluster: dict, group: dict) -> dict:
    state, reason, timeline = phase(cluster)
    return {**group, "RunningInstanceCount": _up(state, group["RequestedInstanceCount"]),
            "Status": {"State": state, "StateChangeReason": reason, "Timeline": timeline},
            "EbsBlockDevices": [], "ShrinkPolicy": {}}


def fleet_view(cluster: dict, fleet: dict) -> dict:
    state, reason, timeline = phase(cluster)
    return {**fleet, "Status": {"State": state, "StateChangeReason": reason, "Timeline": timeline},
            "ProvisionedOnDemandCapacity": _up(state, fleet["TargetOnDemandCapacity"]),
            "ProvisionedSpotCapacity": _up(state, fleet["TargetSpotCapacity"])}


def instance_view(cluster: dict, machine: dict) -> dict:
    state, reason, timeline = phase(cluster)
    if state == "TERMINATING":
        state = "RUNNING"                  # EMR instances stay RUNNING until the cluster is gone
    return {**machine, "PublicDnsName": "localhost", "PublicIpAddress": LOOPBACK,
            "PrivateDnsName": "localhost", "PrivateIpAddress": LOOPBACK,
            "Status": {"State": state, "StateChangeReason": reason, "Timeline": timeline}, "EbsVolumes": []}
