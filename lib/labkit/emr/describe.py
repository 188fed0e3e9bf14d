"""The read-only EMR operations: what the endpoint answers about its clusters, in EMR's own shapes.

Each is `op(engine, region, request) -> response` and runs under the engine's lock (see `api`). The
shapes are botocore's output shapes for EMR (checked by tests/test_emr_api_shapes.py): DescribeCluster,
ListClusters, DescribeStep, ListSteps, GetAutoTerminationPolicy, ListInstanceGroups, ListInstanceFleets,
ListInstances, ListBootstrapActions and the deprecated DescribeJobFlows (which some clients still call).
"""
from __future__ import annotations

import math
import time

from labkit.emr import instances
from labkit.emr.engine import Engine
from labkit.emr.records import ApiError, public

PAGE = 50
TWO_WEEKS, TWO_MONTHS = 14 * 86400, 61 * 86400
MIXED = ("Instance fleets and instance groups are mutually exclusive. The EMR cluster specified in the request "
         "uses instance {uses}. The {op} operation does not support clusters that use instance {uses}. "
         "Use the {other} operation instead.")


def page(items: list, marker: str | None, key: str) -> dict:
    start = int(marker) if marker and marker.isdigit() else 0
    out = {key: items[start:start + PAGE]}
    if start + PAGE < len(items):
        out["Marker"] = str(start + PAGE)
    return out


def instance_hours(cluster: dict) -> int:
    timeline = cluster["Status"]["Timeline"]
    if "ReadyDateTime" not in timeline:
        return 0
    hours = ((timeline.get("EndDateTime") or time.time()) - timeline["ReadyDateTime"]) / 3600
    return len(cluster["_machines"]) * max(1, math.ceil(hours))


def describe_cluster(engine: Engine, region: str, req: dict) -> dict:
    cluster = engine.cluster(req.get("ClusterId"))
    out = public(cluster)
    out["NormalizedInstanceHours"] = instance_hours(cluster)
    return {"Cluster": out}


def list_clusters(engine: Engine, region: str, req: dict) -> dict:
    states = set(req.get("ClusterStates") or [])
    after, before = req.get("CreatedAfter"), req.get("CreatedBefore")
    found = []
    for c in sorted(engine.clusters.values(), key=lambda c: -c["Status"]["Timeline"]["CreationDateTime"]):
        created = c["Status"]["Timeline"]["CreationDateTime"]
        if c["_region"] != region or (states and c["Status"]["State"] not in states):
            continue
        if (after is not None and created < after) or (before is not None and created > before):
            continue
        found.append({"Id": c["Id"], "Name": c["Name"], "Status": c["Status"],
                      "NormalizedInstanceHours": instance_hours(c), "ClusterArn": c["ClusterArn"]})
    return page(found, req.get("Marker"), "Clusters")


def _step_view(engine: Engine, cluster: dict, step: dict) -> dict:
    out = public(step)
    if cluster.get("LogUri"):
        out["LogUri"] = engine.step_log_uri(cluster, step)
    return out


def describe_step(engine: Engine, region: str, req: dict) -> dict:
    cluster = engine.cluster(req.get("ClusterId"))
    return {"Step": _step_view(engine, cluster, engine.step(cluster, req.get("StepId")))}


def list_steps(engine: Engine, region: str, req: dict) -> dict:
    states = set(req.get("StepStates") or [])
    ids = set(req.get("StepIds") or [])
    cluster = engine.cluster(req.get("ClusterId"))
    found = [_step_view(engine, cluster, s) for s in reversed(cluster["_steps"])   # newest first, as EMR
             if (not states or s["Status"]["State"] in states) and (not ids or s["Id"] in ids)]
    return page(found, req.get("Marker"), "Steps")


def get_auto_termination_policy(engine: Engine, region: str, req: dict) -> dict:
    policy = engine.cluster(req.get("ClusterId"))["_auto_termination"]
    return {"AutoTerminationPolicy": policy} if policy else {}


def list_instance_groups(engine: Engine, region: str, req: dict) -> dict:
    cluster = engine.cluster(req.get("ClusterId"))
    if cluster["InstanceCollectionType"] != "INSTANCE_GROUP":
        raise ApiError("InvalidRequestException", MIXED.format(uses="fleets", op="ListInstanceGroups",
                                                               other="ListInstanceFleets"))
    groups = [instances.group_view(cluster, g) for g in cluster["_groups"]]
    return page(groups, req.get("Marker"), "InstanceGroups")


def list_instance_fleets(engine: Engine, region: str, req: dict) -> dict:
    cluster = engine.cluster(req.get("ClusterId"))
    if cluster["InstanceCollectionType"] != "INSTANCE_FLEET":
        raise ApiError("InvalidRequestException", MIXED.format(uses="groups", op="ListInstanceFleets",
                                                               other="ListInstanceGroups"))
    fleets = [instances.fleet_view(cluster, f) for f in cluster["_fleets"]]
    return page(fleets, req.get("Marker"), "InstanceFleets")


def list_instances(engine: Engine, region: str, req: dict) -> dict:
    cluster = engine.cluster(req.get("ClusterId"))
    roles = {g["Id"]: g["InstanceGroupType"] for g in cluster["_groups"]}
    roles.update({f["Id"]: f["InstanceFleetType"] for f in cluster["_fleets"]})
    wanted_types = set(req.get("InstanceGroupTypes") or [])
    wanted_states = set(req.get("InstanceStates") or [])
    found = []
    for machine in cluster["_machines"]:
        view = instances.instance_view(cluster, machine)
        owner = machine.get("InstanceGroupId") or machine.get("InstanceFleetId")
        if req.get("InstanceGroupId") and machine.get("InstanceGroupId") != req["InstanceGroupId"]:
            continue
        if req.get("InstanceFleetId") and machine.get("InstanceFleetId") != req["InstanceFleetId"]:
            continue
        if (wanted_types and roles[owner] not in wanted_types) or (
                req.get("InstanceFleetType") and roles[owner] != req["InstanceFleetType"]):
            continue
        if wanted_states and view["Status"]["State"] not in wanted_states:
            continue
        found.append(view)
    return page(found, req.get("Marker"), "Instances")


def list_bootstrap_actions(engine: Engine, region: str, req: dict) -> dict:
    cluster = engine.cluster(req.get("ClusterId"))
    commands = [{"Name": b["Name"], "ScriptPath": b["ScriptBootstrapAction"]["Path"],
                 "Args": list(b["ScriptBootstrapAction"].get("Args", []))} for b in cluster["_bootstrap"]]
    return page(commands, req.get("Marker"), "BootstrapActions")


# -- DescribeJobFlows: the pre-2013 view of the same records -------------------------------------------------
def _job_flow_state(cluster: dict) -> str:
    status = cluster["Status"]
    state = status["State"]
    if state == "TERMINATING":
        return "SHUTTING_DOWN"
    if state == "TERMINATED_WITH_ERRORS":
        return "FAILED"
    if state == "TERMINATED":
        return "COMPLETED" if status["StateChangeReason"].get("Code") == "ALL_STEPS_COMPLETED" else "TERMINATED"
    return state


def _reason(status: dict) -> dict:
    message = status.get("StateChangeReason", {}).get("Message")
    return {"LastStateChangeReason": message} if message else {}


def _times(timeline: dict, *names: str) -> dict:
    return {name: timeline[name] for name in names if name in timeline}


def _group_detail(cluster: dict, group: dict) -> dict:
    view = instances.group_view(cluster, group)
    status = view["Status"]
    ended = status["State"] == "TERMINATED"
    timeline = status["Timeline"]
    return {"InstanceGroupId": group["Id"], "Name": group["Name"], "Market": group["Market"],
            "InstanceRole": group["InstanceGroupType"], "InstanceType": group["InstanceType"],
            "InstanceRequestCount": group["RequestedInstanceCount"],
            "InstanceRunningCount": view["RunningInstanceCount"], "State": "ENDED" if ended else status["State"],
            **({"LastStateChangeReason": "Job flow terminated"} if ended else {}),
            **_times(timeline, "CreationDateTime", "ReadyDateTime", "EndDateTime"),
            **({"StartDateTime": timeline["ReadyDateTime"]} if "ReadyDateTime" in timeline else {}),
            **({"BidPrice": group["BidPrice"]} if "BidPrice" in group else {})}


def _step_detail(step: dict) -> dict:
    status, config = step["Status"], step["Config"]
    state = "RUNNING" if status["State"] == "CANCEL_PENDING" else status["State"]
    jar = {"Jar": config["Jar"], "Args": config["Args"],
           "Properties": [{"Key": k, "Value": v} for k, v in config["Properties"].items()],
           **({"MainClass": config["MainClass"]} if "MainClass" in config else {})}
    return {"StepConfig": {"Name": step["Name"], "ActionOnFailure": step["ActionOnFailure"], "HadoopJarStep": jar},
            "ExecutionStatusDetail": {"State": state, **_reason(status),
                                      **_times(status["Timeline"], "CreationDateTime", "StartDateTime",
                                               "EndDateTime")}}


def _job_flow(cluster: dict) -> dict:
    status, timeline = cluster["Status"], cluster["Status"]["Timeline"]
    by_role = {}
    for item in cluster["_groups"] or cluster["_fleets"]:
        role = item.get("InstanceGroupType") or item.get("InstanceFleetType")
        by_role.setdefault(role, item.get("InstanceType") or item["InstanceTypeSpecifications"][0]["InstanceType"])
    master_id = next(i["Id"] for i in cluster["_groups"] or cluster["_fleets"]
                     if "MASTER" in (i.get("InstanceGroupType"), i.get("InstanceFleetType")))
    master = next(m for m in cluster["_machines"] if master_id in (m.get("InstanceGroupId"), m.get("InstanceFleetId")))
    attrs = cluster["Ec2InstanceAttributes"]
    detail = {
        "MasterInstanceType": by_role["MASTER"], "SlaveInstanceType": by_role.get("CORE", by_role["MASTER"]),
        "InstanceCount": len(cluster["_machines"]), "MasterPublicDnsName": cluster["MasterPublicDnsName"],
        "MasterInstanceId": master["Ec2InstanceId"], "NormalizedInstanceHours": instance_hours(cluster),
        "Placement": {"AvailabilityZone": attrs["Ec2AvailabilityZone"]},
        "KeepJobFlowAliveWhenNoSteps": not cluster["AutoTerminate"],
        "TerminationProtected": cluster["TerminationProtected"],
        **({"Ec2KeyName": attrs["Ec2KeyName"]} if "Ec2KeyName" in attrs else {}),
        **({"Ec2SubnetId": attrs["Ec2SubnetId"]} if attrs.get("Ec2SubnetId") else {}),
        "InstanceGroups": [_group_detail(cluster, g) for g in cluster["_groups"]],
    }
    flow = {
        "JobFlowId": cluster["Id"], "Name": cluster["Name"],
        "ExecutionStatusDetail": {"State": _job_flow_state(cluster), **_reason(status),
                                  **_times(timeline, "CreationDateTime", "ReadyDateTime", "EndDateTime"),
                                  **({"StartDateTime": timeline["ReadyDateTime"]} if "ReadyDateTime" in timeline
                                     else {})},
        "Instances": detail,
        "Steps": [_step_detail(s) for s in cluster["_steps"]],
        "BootstrapActions": [{"BootstrapActionConfig": b} for b in cluster["_bootstrap"]],
        "VisibleToAllUsers": cluster["VisibleToAllUsers"],
        **({"LogUri": cluster["LogUri"]} if cluster.get("LogUri") else {}),
        **({"JobFlowRole": cluster["Ec2InstanceAttributes"]["IamInstanceProfile"]}
           if cluster["Ec2InstanceAttributes"].get("IamInstanceProfile") else {}),
        **({"ServiceRole": cluster["ServiceRole"]} if cluster.get("ServiceRole") else {}),
    }
    return flow


def describe_job_flows(engine: Engine, region: str, req: dict) -> dict:
    """Without filters, as EMR: the job flows of the last two weeks, and live ones of the last two months."""
    ids, states = set(req.get("JobFlowIds") or []), set(req.get("JobFlowStates") or [])
    after, before = req.get("CreatedAfter"), req.get("CreatedBefore")
    now = time.time()
    flows = []
    for cluster in sorted(engine.clusters.values(), key=lambda c: -c["Status"]["Timeline"]["CreationDateTime"]):
        created = cluster["Status"]["Timeline"]["CreationDateTime"]
        state = _job_flow_state(cluster)
        if cluster["_region"] != region or (ids and cluster["Id"] not in ids) or (states and state not in states):
            continue
        if (after is not None and created < after) or (before is not None and created > before):
            continue
        if not (ids or states or after is not None or before is not None):
            live = state in ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "SHUTTING_DOWN")
            if now - created > (TWO_MONTHS if live else TWO_WEEKS):
                continue
        flows.append(_job_flow(cluster))
    missing = [i for i in ids if i not in engine.clusters or engine.clusters[i]["_region"] != region]
    if missing:
        raise ApiError("ValidationException", f"Specified job flow ID not valid: {sorted(missing)[0]}")
    return {"JobFlows": flows[:2000]}
