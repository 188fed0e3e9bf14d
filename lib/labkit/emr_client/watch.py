"""Watching an EMR DAG run: the Airflow tasks, the cluster and its steps, state by state, as they change.

`follow` polls Airflow's REST API and the EMR API (the local endpoint or real EMR: the same calls) and
prints one line per state change; the result is a table of those changes that `plot` draws as a
timeline (one lane per task, cluster and step, coloured by state). With `pool=`, it also notes that Airflow
pool's running and deferred slots: a deferred sensor holds no running slot while it waits.

Notebook 08 does not call `follow`: a lesson shows Airflow's own interfaces, so its cells poll with a `follow` of
their own over the official client (`apache-airflow-client`) and boto3, and make the same table, which `plot` draws.
"""
from __future__ import annotations

import time

from labkit.errors import LabError

COLORS = {
    # EMR cluster and step states
    "STARTING": "#90a4ae", "BOOTSTRAPPING": "#b0bec5", "WAITING": "#aed581", "RUNNING": "#1565c0",
    "TERMINATING": "#ffb74d", "TERMINATED": "#616161", "TERMINATED_WITH_ERRORS": "#c62828",
    "PENDING": "#cfd8dc", "CANCEL_PENDING": "#ffb74d", "COMPLETED": "#2e7d32", "FAILED": "#c62828",
    "CANCELLED": "#9e9e9e", "INTERRUPTED": "#c62828",
    # Airflow task states
    "queued": "#cfd8dc", "scheduled": "#cfd8dc", "running": "#1565c0", "success": "#2e7d32",
    "failed": "#c62828", "upstream_failed": "#ef6c00", "up_for_retry": "#fdd835", "skipped": "#9e9e9e",
    "deferred": "#9575cd",
}
FINAL = {"TERMINATED", "TERMINATED_WITH_ERRORS"}
LEFT_RUNNING = 20.0      # seconds a cluster may stay alive (not TERMINATING) after its run ended: then nothing ends it
ENDED = FINAL | {"COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED", "success", "failed", "upstream_failed",
                 "skipped"}


def follow(api, emr_client, dag_id: str, run_id: str, *, interval: float = 1.0, timeout: float = 900.0,
           echo: bool = True, create_task: str = "create_emr_cluster", pool: str | None = None):
    """Follow a run of an EMR DAG until it ended and its cluster is terminated; returns the changes.

    `create_task` is the task that returns the cluster id; `pool` (e.g. "default_pool") adds that pool's
    slots, "<running> running, <deferred> deferred", as changes of kind "pool"."""
    import pandas as pd

    t0, last, changes, cluster_id, ended = time.monotonic(), {}, [], None, None
    if echo:
        print(f"following run {run_id} of {dag_id}: a line per change of the run, its tasks, the cluster and its "
              "steps, as it happens", flush=True)

    def note(kind: str, name: str, state: str) -> None:
        if last.get((kind, name)) == state:
            return
        last[(kind, name)] = state
        seconds = time.monotonic() - t0
        changes.append({"seconds": round(seconds, 1), "kind": kind, "name": name, "state": state})
        if echo:
            print(f"{seconds:6.1f} s  {kind:<8} {name:<26} {state}", flush=True)

    while True:
        tis = api.task_instances(dag_id, run_id)
        for ti in tis:
            if ti["state"]:
                note("task", ti["task_id"], ti["state"])
        if pool:
            slots = api.get(f"pools/{pool}")
            note("pool", pool, f"{slots['running_slots']} running, {slots['deferred_slots']} deferred")
        created = any(ti["task_id"] == create_task and ti["state"] == "success" for ti in tis)
        if cluster_id is None and created:
            cluster_id = _created_cluster(api, dag_id, run_id, create_task)
        cluster_state = None
        if cluster_id:
            cluster_state = emr_client.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]
            note("cluster", cluster_id, cluster_state)
            for step in reversed(emr_client.list_steps(ClusterId=cluster_id)["Steps"]):
                note("step", step["Name"], step["Status"]["State"])
        run_state = api.dag_run(dag_id, run_id)["state"]
        over = run_state in ("success", "failed")
        if not over or cluster_id is None or cluster_state in FINAL:   # an ended run's line comes last
            note("run", run_id, run_state)
        if over and (cluster_id is None or cluster_state in FINAL):
            break
        # A cluster that nothing terminates (a DAG without its terminate task): say so, do not wait for the timeout.
        ended = (ended or time.monotonic()) if over and cluster_state != "TERMINATING" else None
        if ended is not None and time.monotonic() - ended > LEFT_RUNNING:
            note("run", run_id, run_state)
            print(f"cluster {cluster_id} is still {cluster_state} after the run ended: no task terminated it "
                  f"(client.terminate_job_flows(JobFlowIds=[{cluster_id!r}]) does)", flush=True)
            break
        if time.monotonic() - t0 > timeout:
            raise LabError(f"run {run_id} of {dag_id} not finished after {timeout:.0f} s (cluster {cluster_id}: "
                           f"{cluster_state}); look at the Airflow UI")
        time.sleep(interval)
    frame = pd.DataFrame(changes, columns=["seconds", "kind", "name", "state"])
    frame.attrs["cluster_id"] = cluster_id
    return frame


def _created_cluster(api, dag_id: str, run_id: str, create_task: str) -> str | None:
    """The cluster id the create task pushed to XCom (None until it has run)."""
    resp = api.request("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{create_task}/xcomEntries/"
                              "return_value", allow=(404,), params={"deserialize": "true"})
    if resp.status_code == 404:
        return None
    value = resp.json().get("value")
    return value.strip('"') if isinstance(value, str) and value else None


def plot(changes, title: str = "", ax=None):
    """The changes from `follow` as a timeline: one lane per task/cluster/step, a bar per state
    (a final state such as success or TERMINATED is a short mark where it was reached)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    lanes = [(k, n) for k, n in dict.fromkeys(zip(changes["kind"], changes["name"])) if k not in ("run", "pool")]
    end = float(changes["seconds"].max()) + 1
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.42 * len(lanes) + 1.6))
    used = {}
    for i, (kind, name) in enumerate(lanes):
        rows = changes[(changes["kind"] == kind) & (changes["name"] == name)].reset_index(drop=True)
        for j, row in rows.iterrows():
            last = j + 1 == len(rows)
            stop = row["seconds"] + 0.8 if last and row["state"] in ENDED else (end if last else rows["seconds"][j + 1])
            color = COLORS.get(row["state"], "#607d8b")
            ax.barh(i, max(stop - row["seconds"], 0.3), left=row["seconds"], color=color, edgecolor="white")
            used[row["state"]] = color
    ax.set_yticks(range(len(lanes)), [f"{k}: {n}" if k != "task" else n for k, n in lanes])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the watch started")
    ax.set_title(title)
    ax.legend(handles=[Patch(color=c, label=s) for s, c in used.items()], fontsize=7,
              loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.figure.tight_layout()
    return ax
