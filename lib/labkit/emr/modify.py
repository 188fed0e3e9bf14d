"""The EMR operations that change a cluster's settings (not its lifecycle): termination protection,
keep-alive, the auto-termination policy, tags and step concurrency.

Each is `op(engine, region, request) -> response`, runs under the engine's lock (see `api`) and saves the
state. What they change takes effect the way EMR's does: a cluster no longer kept alive ends when its
steps are done; an auto-termination policy counts idle time from the last step; StepConcurrencyLevel is
how many steps run at once.
"""
from __future__ import annotations

from labkit.emr.engine import LIVE, Engine
from labkit.emr.records import ApiError, check_policy

CONCURRENCY_RANGE = (1, 256)


def _job_flows(engine: Engine, ids) -> list[dict]:
    clusters = []
    for cluster_id in ids or []:
        cluster = engine.clusters.get(cluster_id)
        if cluster is None:
            raise ApiError("ValidationException", f"Specified job flow ID not valid: {cluster_id}")
        clusters.append(cluster)
    return clusters


def _live(engine: Engine, cluster_id: str | None) -> dict:
    cluster = engine.cluster(cluster_id)
    if cluster["Status"]["State"] not in LIVE or cluster["Status"]["State"] == "TERMINATING":
        raise ApiError("InvalidRequestException", f"Cluster {cluster['Id']} is {cluster['Status']['State']}: "
                                                  "a terminated cluster cannot be modified.")
    return cluster


def set_termination_protection(engine: Engine, region: str, req: dict) -> dict:
    for cluster in _job_flows(engine, req.get("JobFlowIds")):
        cluster["TerminationProtected"] = bool(req.get("TerminationProtected"))
    engine.save()
    return {}


def set_keep_job_flow_alive_when_no_steps(engine: Engine, region: str, req: dict) -> dict:
    for cluster in _job_flows(engine, req.get("JobFlowIds")):
        cluster["AutoTerminate"] = not req.get("KeepJobFlowAliveWhenNoSteps")
    engine.save()
    return {}


def put_auto_termination_policy(engine: Engine, region: str, req: dict) -> dict:
    cluster = _live(engine, req.get("ClusterId"))
    cluster["_auto_termination"] = check_policy(req.get("AutoTerminationPolicy"))
    engine.save()
    return {}


def remove_auto_termination_policy(engine: Engine, region: str, req: dict) -> dict:
    cluster = engine.cluster(req.get("ClusterId"))
    cluster["_auto_termination"] = None
    engine.save()
    return {}


def add_tags(engine: Engine, region: str, req: dict) -> dict:
    cluster = engine.cluster(req.get("ResourceId"))
    tags = req.get("Tags") or []
    if not tags or not all(isinstance(t, dict) and t.get("Key") for t in tags):
        raise ApiError("InvalidRequestException", "Tags must be a non-empty list of {Key, Value} pairs.")
    merged = {t["Key"]: t for t in cluster["Tags"]}
    merged.update({t["Key"]: {"Key": t["Key"], "Value": t.get("Value", "")} for t in tags})
    cluster["Tags"] = list(merged.values())
    engine.save()
    return {}


def remove_tags(engine: Engine, region: str, req: dict) -> dict:
    cluster = engine.cluster(req.get("ResourceId"))
    keys = set(req.get("TagKeys") or [])
    cluster["Tags"] = [t for t in cluster["Tags"] if t["Key"] not in keys]
    engine.save()
    return {}


def modify_cluster(engine: Engine, region: str, req: dict) -> dict:
    cluster = _live(engine, req.get("ClusterId"))
    level = req.get("StepConcurrencyLevel")
    if level is not None:
        low, high = CONCURRENCY_RANGE
        if not isinstance(level, int) or isinstance(level, bool) or not low <= level <= high:
            raise ApiError("ValidationException", f"StepConcurrencyLevel must be between {low} and {high}, "
                                                  f"got {level!r}.")
        cluster["StepConcurrencyLevel"] = level
    if req.get("ExtendedSupport") is not None:
        cluster["ExtendedSupport"] = bool(req["ExtendedSupport"])
    engine.save()
    out = {"StepConcurrencyLevel": cluster["StepConcurrencyLevel"]}
    if "ExtendedSupport" in cluster:
        out["ExtendedSupport"] = cluster["ExtendedSupport"]
    return out
