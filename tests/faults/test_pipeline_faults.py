"""Faults further down the pipeline, on the session's lab: a truncated landed file under the Spark
aggregation, MariaDB killed during the EMR step's write, Airflow's api-server killed during a run."""
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
    check(scenarios.api_server_during_run(cfg, tmp_path, finish=False),
          "labkit: error: Airflow's api-server at", "refused the connection", "`labkit up`")
