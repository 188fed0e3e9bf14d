"""Parse dags/ with Airflow's own DagBag and print what the DAG tests check, as JSON.

Run in a subprocess with a throwaway AIRFLOW_HOME, so parsing never touches a lab's metadata database.
"""
import json
import logging
import sys
from datetime import datetime, timezone
from types import SimpleNamespace

from airflow.dag_processing.dagbag import DagBag

from airflow.models.taskinstance import TaskInstance

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def retry_delays(dag, task) -> list[float]:
    """The seconds Airflow waits before each retry of `task` after a quick failure: its own next_retry_datetime
    (exponential backoff, jitter, max_retry_delay) for try 1..retries, on a stand-in with just what it reads."""
    out = []
    for try_number in range(1, task.retries + 1):
        ti = SimpleNamespace(task=task, try_number=try_number, end_date=START, retry_delay_override=None,
                             dag_id=dag.dag_id, task_id=task.task_id, logical_date=START, log=logging.getLogger())
        out.append((TaskInstance.next_retry_datetime(ti) - START).total_seconds())
    return out


bag = DagBag(dag_folder=sys.argv[1])
report = {
    "import_errors": {k: v for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "fileloc": dag.fileloc,
            "tags": sorted(dag.tags),
            "schedule": str(dag.schedule) if hasattr(dag, "schedule") else None,
            "tasks": {t.task_id: {"owner": t.owner, "retries": t.retries, "trigger_rule": str(t.trigger_rule),
                                  "setup": t.is_setup, "downstream": sorted(t.downstream_task_ids),
                                  "retry_delays": retry_delays(dag, t)} for t in dag.tasks},
        }
        for dag_id, dag in bag.dags.items()
    },
}
print(json.dumps(report))
