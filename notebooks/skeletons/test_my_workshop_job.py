"""The tests of my workshop DAG, run with pytest (notebook 07's cell: `!pytest -v {TESTS}`), as a CI would run them.

Two kinds, as in Airflow's own best practices: a DagBag integrity test (the folder imports, the DAG has the
tasks it must have, in order) and a run of one data interval with `dag.test()` (every task, in this process,
against the lab's Airflow: its connections and variables). A test that cannot fail proves nothing: the check
runs these tests on copies of your DAG that are broken, and they must fail there.
"""
from __future__ import annotations

from pathlib import Path

import pendulum
import pytest
from airflow.dag_processing.dagbag import DagBag

DAG_FOLDER = Path(__file__).resolve().parents[1] / "dags"     # the workspace's DAG folder, beside tests/
DAG_ID = "my_workshop_job"


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=DAG_FOLDER)


# [TODO 07.8] the tests: the folder imports, the DAG has its tasks in order, and one day runs through dag.test()
# [END TODO 07.8]
