"""Faults further down the pipeline, on the session's lab: a truncated landed file under the Spark
aggregation, MariaDB killed during the EMR step's write, Airflow's api-server killed during a run, the scheduler
and PostgreSQL killed during a task."""
import pytest

import scenarios
from test_data_faults import check

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def cfg(lab):
    return lab[0]


def test_a_truncated_landed_file_stops_the_aggregation_in_one_line(cfg, tmp_path):
    """A parquet part cut in half: the job says which file and what to do; the day's earlier aggregates are
    untouched (no partial partition); landing it again and rerunning counts every row once."""
    check(scenarios.truncated_input(cfg, tmp_path),
          "labkit: error: spark-submit aggregate_dummy failed", "is not a whole parquet file", "land the table again",
          "is unchanged")


def test_mariadb_killed_during_the_steps_write_keeps_the_dates_row(cfg, tmp_path):
    """The kill lands inside the step's write (a trigger holds its INSERT): the step is FAILED with the driver's
    real error, the date keeps its earlier row (DELETE and INSERT are one transaction), the rerun leaves one."""
    check(scenarios.mariadb_during_step_write(cfg, tmp_path), "step FAILED: java.sql.SQL", "Connection")


def test_the_api_server_killed_during_a_run(cfg, tmp_path):
    """What notebook 07's follow shows is one line (was a requests ConnectionError traceback); `labkit up`
    brings Airflow back (its supervisor stops every component when one dies) and answers for the run. The
    run's end after the recovery (cleared: PostgreSQL = landed = aggregated) costs one more DAG run: the
    bench (bench/faults.py) does it."""
    outcome = scenarios.api_server_during_run(cfg, tmp_path, finish=False)
    assert outcome.one_line, outcome.line
    for word in ("labkit: error: Airflow's api-server at", "refused the connection", "`labkit up`"):
        assert word in outcome.line, (word, outcome.line)
    assert outcome.recovered, outcome           # Airflow healthy again, and it answers for the run's tasks
    assert not outcome.counted and not outcome.survived, outcome    # no rows counted: not claimed as survived


# -- a crash during a task, `labkit up`, and the task's own retry (what notebook 07 teaches) --------------------
def test_the_scheduler_killed_during_a_task_recovers_by_the_tasks_retry(cfg, tmp_path):
    """`kill -9` of the scheduler while the workshop DAG's Spark task runs: Airflow stops, taking every process
    it had with it (its other components, the LocalExecutor's workers, which ignore SIGTERM, and the task they
    ran), `labkit up`, and the run ends green with nothing cleared: the interrupted task's next try succeeds
    (before, the new scheduler re-queued it before the api-server listened and the retry failed with only "Pre
    Execute" in its log). The day's rows are the same in PostgreSQL, the landed parquet and the aggregates.
    (The supervisor itself killed: tests/faults/test_process_hygiene.py.)"""
    outcome = scenarios.scheduler_during_task(cfg, tmp_path)
    # the tree was taken with two workers or more and the task under one (else the scenario refuses to kill)
    assert outcome.left == {}, outcome.detail          # the supervisor took everything with it
    assert outcome.one_line and "`labkit up`" in outcome.line, outcome
    assert outcome.recovered and (outcome.lost, outcome.doubled) == (0, 0), outcome
    assert "'spark_aggregate_dummy': 1" not in outcome.detail, outcome.detail    # it ran again, no clear needed


def test_postgres_killed_during_a_task_recovers_by_labkit_up_and_the_tasks_retry(cfg, tmp_path):
    """PostgreSQL (the day's rows and Airflow's metadata) killed while the DAG's import runs: one `labkit up` brings
    back both, and the interrupted task's retry lands the day once (PostgreSQL = landed = aggregated)."""
    outcome = scenarios.postgres_during_task(cfg, tmp_path)
    assert outcome.one_line, outcome
    assert outcome.recovered and (outcome.lost, outcome.doubled) == (0, 0), outcome
