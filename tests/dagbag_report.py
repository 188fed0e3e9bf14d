"""Parse dags/ with Airflow's own DagBag and print what the DAG tests check, as JSON.

Run in a subprocess with a throwaway AIRFLOW_HOME, so parsing never touches a lab's metadata database.
"""
import json
import sys

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
report = {
    "import_errors": {k: v for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "fileloc": dag.fileloc,
            "tags": sorted(dag.tags),
            "schedule": str(dag.schedule) if hasattr(dag, "schedule") else None,
            "tasks": {t.task_id: {"owner": t.owner, "retries": t.retries, "trigger_rule": str(t.trigger_rule),
                                  "setup": t.is_setup, "downstream": sorted(t.downstream_task_ids)} for t in dag.tasks},
        }
        for dag_id, dag in bag.dags.items()
    },
}
print(json.dumps(report))
