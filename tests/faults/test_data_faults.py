"""Faults that hit the data on its way, injected against the real servers (scenarios.py, inject.py): PostgreSQL
killed during the generation, during the import and between them, the landing zone's disk full. Each ends in
one line naming the cause and the fix, loses and doubles no row, and the taught recovery leaves the right state.
"""
import sys
from pathlib import Path

import pytest

import scenarios

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # tests/helpers.py
from helpers import isolated_lab  # noqa: E402

from labkit import services  # noqa: E402

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def cfg():
    """A lab of its own with PostgreSQL alone: a crash of the session lab's PostgreSQL would also stop its
    Airflow (the metadata database lives there), and every later test would pay for Airflow's restart."""
    with pytest.MonkeyPatch.context() as monkeypatch, isolated_lab(monkeypatch, "faults-data") as cfg:
        services.up(cfg, only=["postgres"], report=lambda _: None)
        yield cfg


def check(outcome, *words):
    """The learner's line is one line with the cause and the fix; the good state survived; nothing lost or
    doubled after the recovery."""
    assert outcome.one_line, outcome.line
    for word in words:
        assert word in outcome.line, (word, outcome.line)
    assert outcome.kept, outcome
    assert (outcome.lost, outcome.doubled) == (0, 0), outcome
    assert outcome.recovered, outcome
    assert outcome.survived


def test_postgres_killed_during_the_generation(cfg, tmp_path):
    check(scenarios.postgres_during_generation(cfg, tmp_path),
          "labkit: error: building tbl_airflow_dummy", "PostgreSQL stopped answering", "`labkit up postgres`")


def test_postgres_killed_during_the_seed_ctas(cfg, tmp_path):
    check(scenarios.postgres_during_seed_ctas(cfg, tmp_path),
          "labkit: error: building tbl_airflow_dummy (seed SQL)", "PostgreSQL stopped answering", "`labkit up postgres`")


def test_postgres_killed_during_the_dags_generation_rolls_the_day_back(cfg, tmp_path):
    """Airflow's SQL operator shows the driver's own line; the day is one transaction, so its rows (and every
    other day's) are as before, and the retry writes them once."""
    check(scenarios.postgres_during_daily_generation(cfg, tmp_path),
          "OperationalError", "server closed the connection")


def test_postgres_killed_during_the_import(cfg, tmp_path):
    """The mappers' COPY loses its server: one line (was a psycopg2 traceback from the unguarded cancel()),
    the day's earlier landing is kept, no staging is left, the retry lands the day once."""
    check(scenarios.postgres_during_import(cfg, tmp_path),
          "labkit: error: PostgreSQL at", "stopped answering during the import", "what it held is kept",
          "`labkit up postgres`", "run the import again")


def test_postgres_killed_between_generation_and_import_empties_the_unlogged_table(cfg, tmp_path):
    """The crash empties UNLOGGED tbl_airflow_dummy; `labkit sqoop import` (notebook 05's command) refuses to
    replace the good landing with no rows (it wrote `_SUCCESS` over 0 rows before); ensure_landed rebuilds."""
    outcome = scenarios.postgres_between_unlogged(cfg, tmp_path)
    check(outcome, "labkit: error: tbl_airflow_dummy is UNLOGGED and holds no rows", "build the table again",
          "--expect-rows 0")
    assert "table emptied: True" in outcome.detail              # the fault really emptied it


def test_postgres_killed_between_the_dags_generation_and_import(cfg, tmp_path):
    """The DAG's daily table is logged: the committed day survives the crash, and the import's retry with
    --expect-rows lands it whole."""
    check(scenarios.postgres_between_daily(cfg, tmp_path),
          "labkit: error: cannot reach PostgreSQL", "`labkit up postgres`")


def test_the_landing_disk_full_keeps_the_previous_landing(cfg, tmp_path):
    """A tmpfs with room for one landing of the day: the retry (staged beside the target) fills it."""
    try:
        outcome = scenarios.landing_disk_full(cfg, tmp_path)
    except scenarios.inject.NoSmallDisk as exc:
        pytest.skip(f"no small file system here: {exc}")
    check(outcome, "labkit: error: no space left on the device of", "what it held is kept", "free space there")


def test_a_stale_pid_file_naming_an_unrelated_process(cfg, tmp_path):
    """tests/test_procs.py checks status and stop; here `labkit up` itself: the bystander is left alone and the
    real server starts with its data. (Two `labkit up` at once: tests/faults/test_process_hygiene.py.)"""
    check(scenarios.stale_pid_file(cfg, tmp_path), "postgres: starting on")
