"""Test settings for the whole run (tests/ and the nbval run over notebooks/).

Tests use their own state folder and ports, so a learner's running lab (`.lab/`, default ports) is never
touched, and they run at smoke scale. The lab started for the tests is stopped when the run ends.
"""
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
# LAB_TEST_SLOT=N (0-9) gives a second test run on the same machine its own folder and ports.
SLOT = int(os.environ.get("LAB_TEST_SLOT", "0"))
TEST_STATE_DIR = ROOT / (".lab-test" if SLOT == 0 else f".lab-test{SLOT}")
# The learner's workspace of the tests: beside the state folder, not in it (files written there before the
# lab's first start would make the state folder look foreign); emptied when the run starts.
TEST_WORKSPACE_DIR = TEST_STATE_DIR.with_name(TEST_STATE_DIR.name + "-workspace")
_SLOT_LOCK = None
TEST_PORTS = {name: port + 10 * SLOT for name, port in
              {"POSTGRES": 54420, "MARIADB": 33406, "AIRFLOW": 18180, "EMR": 18600}.items()}


def pytest_configure(config):
    os.environ["LAB_STATE_DIR"] = str(TEST_STATE_DIR)
    for name, port in TEST_PORTS.items():
        os.environ[f"LAB_PORT_{name}"] = str(port)
    os.environ["LAB_SCALE"] = "smoke"
    os.environ["LAB_PROFILE"] = "local"
    os.environ["LAB_WORKSPACE_DIR"] = str(TEST_WORKSPACE_DIR)
    os.environ["LAB_SOLUTIONS"] = "1"      # nbval runs the notebooks' exercises with their solutions applied
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from labkit import procs
    os.environ["PATH"] = procs.venv_path(os.environ.get("PATH"))   # this .venv's tools, and make setup's AWS CLI


def pytest_sessionstart(session):
    """Every run starts from an empty test state folder (the previous run's data never leaks in).

    Our own leftovers are stopped by the purge; a test port still taken after it belongs to someone else
    (another checkout's test lab, a learner's program), so the run moves that service to a free port
    instead of failing on it.
    """
    import fcntl

    import labkit
    from labkit import procs, services, state

    # One pytest session per slot: a second one would purge this one's folder under its feet.
    global _SLOT_LOCK
    _SLOT_LOCK = open(ROOT / f".lab-test-slot{SLOT}.lock", "w")
    try:
        fcntl.flock(_SLOT_LOCK, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pytest.exit(f"another pytest session is using test slot {SLOT} ({TEST_STATE_DIR}); wait for it, or give "
                    "this one its own folder and ports with LAB_TEST_SLOT=<1-9>", returncode=3)
    if TEST_STATE_DIR.exists() and not state.is_state_dir(TEST_STATE_DIR):
        # This slot's own folder (conftest names it), left without its marker by an interrupted purge: a
        # learner's folder is never at this path, so it is deleted instead of stopping every later run.
        shutil.rmtree(TEST_STATE_DIR)
    services.down(labkit.load(), purge=True, report=lambda _: None)
    shutil.rmtree(TEST_WORKSPACE_DIR, ignore_errors=True)
    for name, port in TEST_PORTS.items():
        if not procs.port_is_free(port):
            moved = procs.free_port()
            os.environ[f"LAB_PORT_{name}"] = str(moved)
            print(f"\nconftest: test port {port} for {name.lower()} is taken by {procs.who_listens(port)}; "
                  f"this run uses {moved}")


def pytest_collection_modifyitems(config, items):
    """A test that needs the session's lab (the `lab` fixture, itself or through another fixture) is a `services`
    test whether or not its module says so: `-m "not services"` leaves out every one of them."""
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def lab():
    """The whole local stack, up once for the run; tests that need only part of it may call services.up(only=...)."""
    import labkit
    from labkit import services

    cfg = labkit.load()
    rows = services.up(cfg, report=lambda _: None)
    return cfg, rows


@pytest.fixture(scope="session")
def moto_server():
    """ONE local moto server for the whole run (tests/aws_server.py); tests/ modules use it by name."""
    import sys

    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from aws_server import serve

    yield from serve()


def pytest_sessionfinish(session, exitstatus):
    # py4j says "Closing down clientserver connection" (INFO) when an in-process Spark's gateway is collected
    # at exit, after pytest has closed the stream its log handler writes to: a harmless but alarming
    # "--- Logging error ---" traceback at the end of every run. Its warnings and errors still show.
    import logging

    logging.getLogger("py4j").setLevel(logging.WARNING)
    if os.environ.get("LAB_STATE_DIR") != str(TEST_STATE_DIR) or not TEST_STATE_DIR.exists():
        return
    import labkit
    from labkit import services

    services.down(labkit.load(), report=lambda _: None)
