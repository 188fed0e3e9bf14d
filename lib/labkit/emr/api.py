"""The EMR operations the local endpoint implements, by name, and how a request reaches one.

`OPERATIONS` is the one list of what the endpoint answers (tests/test_emr_api_shapes.py checks every one
against botocore's EMR model); any other action answers `UnknownOperationException`, as EMR does.
"""
from __future__ import annotations

import copy

from labkit.emr import describe, modify
from labkit.emr.engine import Engine
from labkit.emr.records import ApiError

OPERATIONS = {
    # the lifecycle (engine)
    "RunJobFlow": Engine.run_job_flow,
    "AddJobFlowSteps": Engine.add_job_flow_steps,
    "CancelSteps": Engine.cancel_steps,
    "TerminateJobFlows": Engine.terminate_job_flows,
    # what the endpoint answers about its clusters (describe)
    "DescribeCluster": describe.describe_cluster,
    "ListClusters": describe.list_clusters,
    "DescribeStep": describe.describe_step,
    "ListSteps": describe.list_steps,
    "GetAutoTerminationPolicy": describe.get_auto_termination_policy,
    "ListInstanceGroups": describe.list_instance_groups,
    "ListInstanceFleets": describe.list_instance_fleets,
    "ListInstances": describe.list_instances,
    "ListBootstrapActions": describe.list_bootstrap_actions,
    "DescribeJobFlows": describe.describe_job_flows,
    # a cluster's settings (modify)
    "SetTerminationProtection": modify.set_termination_protection,
    "SetKeepJobFlowAliveWhenNoSteps": modify.set_keep_job_flow_alive_when_no_steps,
    "PutAutoTerminationPolicy": modify.put_auto_termination_policy,
    "RemoveAutoTerminationPolicy": modify.remove_auto_termination_policy,
    "AddTags": modify.add_tags,
    "RemoveTags": modify.remove_tags,
    "ModifyCluster": modify.modify_cluster,
}


def dispatch(engine: Engine, action: str, region: str, request: dict) -> dict:
    """The answer of `action` to `request` (ApiError for EMR's errors, and for an action it does not know)."""
    operation = OPERATIONS.get(action)
    if operation is None:
        raise ApiError("UnknownOperationException",
                       f"The local EMR endpoint does not implement {action}; it implements "
                       f"{', '.join(sorted(OPERATIONS))}.")
    if not isinstance(request, dict):
        raise ApiError("SerializationException", f"The body of {action} must be a JSON object.")
    with engine.lock:   # a deep copy: the ticker changes these records while the answer is being sent
        return copy.deepcopy(operation(engine, region, request))
