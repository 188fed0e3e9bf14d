"""watch.plot, the timeline notebook 08 draws of an EMR DAG run: a lane per task, cluster and step, a bar per state."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from labkit.emr_client import watch  # noqa: E402

CHANGES = pd.DataFrame([
    (0.0, "task", "create_cluster", "running"), (3.0, "task", "create_cluster", "success"),
    (3.5, "cluster", "j-1", "WAITING"), (4.0, "task", "monitor_step", "running"),
    (5.0, "pool", "default_pool", "0 running, 1 deferred"), (5.0, "task", "monitor_step", "deferred"),
    (5.5, "step", "retail_quantity", "RUNNING"), (20.0, "step", "retail_quantity", "COMPLETED"),
    (21.0, "task", "monitor_step", "success"), (22.0, "cluster", "j-1", "TERMINATED"), (22.5, "run", "r", "success"),
], columns=["seconds", "kind", "name", "state"])


def test_a_lane_per_task_cluster_and_step_and_a_bar_per_state():
    ax = watch.plot(CHANGES, title="r")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["create_cluster", "cluster: j-1", "monitor_step",
                                                            "step: retail_quantity"]
    bars = [(round(b.get_x(), 1), round(b.get_width(), 1)) for b in ax.patches]
    # monitor_step: running 4.0 -> 5.0, deferred 5.0 -> 21.0, then success as a short mark
    assert (4.0, 1.0) in bars and (5.0, 16.0) in bars and (21.0, 0.8) in bars
    # a state that is not final lasts to the end of the watch (the cluster WAITING until TERMINATED)
    assert (3.5, 18.5) in bars
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"deferred", "COMPLETED", "TERMINATED", "success"}
