"""An EMR DAG run drawn state by state: `plot` takes a table of changes (seconds, kind, name, state) of the run's
tasks, its cluster and steps, and an Airflow pool's slots, and draws one lane per task, cluster and step,
coloured by state.

Notebook 08 makes that table itself: a lesson shows Airflow's own interfaces, so its cells poll the run with the
official client (`apache-airflow-client`) and the cluster with boto3.
"""
from __future__ import annotations

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
ENDED = {"TERMINATED", "TERMINATED_WITH_ERRORS", "COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED", "success", "failed", "upstream_failed",
                 "skipped"}


def plot(changes, title: str = "", ax=None):
    """A table of changes as a timeline: one lane per task/cluster/step, a bar per state
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
