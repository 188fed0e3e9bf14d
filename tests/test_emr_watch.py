"""watch.follow on scripted APIs: a deferred sensor shows in the pool's slots, and a cluster that nothing
terminates ends the watch with one line instead of the timeout."""
from __future__ import annotations

import pytest

from labkit.emr_client import watch


class Script:
    """Airflow's REST API and boto3's EMR client, answering one scripted poll after another."""

    def __init__(self, polls):
        self.polls, self.i = polls, -1

    def task_instances(self, dag_id, run_id):
        self.i = min(self.i + 1, len(self.polls) - 1)
        return [{"task_id": t, "state": s} for t, s in self.polls[self.i]["tasks"].items()]

    def get(self, path):
        running, deferred = self.polls[self.i]["pool"]
        return {"running_slots": running, "deferred_slots": deferred}

    def request(self, method, path, allow=(), params=None):
        class Resp:
            status_code = 200

            def json(self):
                return {"value": "j-1"}
        return Resp()

    def dag_run(self, dag_id, run_id):
        return {"state": self.polls[self.i]["run"]}

    def describe_cluster(self, ClusterId):
        return {"Cluster": {"Status": {"State": self.polls[self.i]["cluster"]}}}

    def list_steps(self, ClusterId):
        return {"Steps": [{"Name": "step", "Status": {"State": self.polls[self.i]["step"]}}]}


def poll(run, sensor, pool, cluster, step):
    return {"run": run, "tasks": {"create_cluster": "success", "monitor_step": sensor}, "pool": pool,
            "cluster": cluster, "step": step}


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(watch.time, "sleep", lambda s: None)


def test_the_pool_shows_the_deferred_sensor_holding_no_running_slot():
    api = Script([poll("running", "running", (1, 0), "RUNNING", "RUNNING"),
                  poll("running", "deferred", (0, 1), "RUNNING", "RUNNING"),
                  poll("success", "success", (0, 0), "TERMINATED", "COMPLETED")])
    changes = watch.follow(api, api, "d", "r", create_task="create_cluster", pool="default_pool", echo=False)
    pool = changes.query("kind == 'pool'")["state"].tolist()
    assert pool == ["1 running, 0 deferred", "0 running, 1 deferred", "0 running, 0 deferred"]
    assert "deferred" in changes.query("name == 'monitor_step'")["state"].tolist()
    assert changes.attrs["cluster_id"] == "j-1" and changes["state"].iloc[-1] == "success"


def test_a_cluster_nothing_terminates_ends_the_watch_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(watch, "LEFT_RUNNING", 0.0)
    api = Script([poll("success", "success", (0, 0), "WAITING", "COMPLETED")])
    changes = watch.follow(api, api, "d", "r", create_task="create_cluster", echo=False, timeout=5)
    assert changes["state"].iloc[-1] == "success"
    assert "cluster j-1 is still WAITING after the run ended: no task terminated it" in capsys.readouterr().out


def test_a_terminating_cluster_is_waited_for(monkeypatch):
    monkeypatch.setattr(watch, "LEFT_RUNNING", 0.0)
    api = Script([poll("failed", "failed", (0, 0), "TERMINATING", "FAILED")] * 3
                 + [poll("failed", "failed", (0, 0), "TERMINATED", "FAILED")])
    changes = watch.follow(api, api, "d", "r", create_task="create_cluster", echo=False, timeout=5)
    assert changes.query("kind == 'cluster'")["state"].tolist() == ["TERMINATING", "TERMINATED"]
