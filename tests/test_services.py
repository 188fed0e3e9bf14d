"""The local stack against the real servers: up, health, idempotent up, connections, down/up keeps data."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from labkit import LabError, connections, services

from helpers import isolated_lab

pytestmark = pytest.mark.services
LABKIT = [str(Path(sys.executable).with_name("labkit"))]


def test_every_service_is_healthy_on_loopback(lab):
    cfg, _ = lab
    rows = services.status(cfg)   # now: other tests may have restarted a service since the lab came up
    assert [r.name for r in rows] == ["postgres", "mariadb", "emr", "airflow"]
    for r in rows:
        assert r.healthy, r
        assert r.pid and psutil.pid_exists(r.pid)
        assert "127.0.0.1" in r.address
        assert r.memory_bytes > 0
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port in cfg.ports.values():
            assert conn.laddr.ip == "127.0.0.1", conn


def test_status_cli_text_and_json(lab):
    cfg, _ = lab
    out = subprocess.run(LABKIT + ["status"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("healthy") == 4 and "http://127.0.0.1:" in out.stdout
    rows = json.loads(subprocess.run(LABKIT + ["status", "--json"], capture_output=True, text=True).stdout)
    assert {r["name"]: r["healthy"] for r in rows} == {"postgres": True, "mariadb": True, "emr": True,
                                                           "airflow": True}


def test_second_up_reuses_every_service(lab):
    cfg, _ = lab
    before = {r.name: r.pid for r in services.status(cfg)}
    messages = []
    again = services.up(cfg, report=messages.append)
    assert {r.name: r.pid for r in again} == before
    assert all("reused" in m for m in messages), messages


def test_up_restarts_a_server_whose_settings_changed(lab, monkeypatch):
    """A lab started at one scale and `up` at another: the EMR endpoint's Spark flags follow the scale, so the
    running endpoint is restarted (said so), not silently reused; and back again."""
    import labkit

    cfg, _ = lab
    emr = services.get(cfg, "emr")
    first = emr.pid()
    assert emr.changed_launch_settings() == []
    monkeypatch.setenv("LAB_SCALE", "full")
    full = labkit.load()
    assert services.get(full, "emr").changed_launch_settings() == ["args"]
    messages = []
    services.up(full, only=["emr"], report=messages.append)
    assert messages[0] == "emr: running with other settings (args changed), restarting", messages
    second = services.get(full, "emr").pid()
    assert second != first and not psutil.pid_exists(first)
    monkeypatch.setenv("LAB_SCALE", "smoke")
    services.up(labkit.load(), only=["emr"], report=lambda _: None)
    assert emr.pid() not in (first, second) and emr.changed_launch_settings() == []
    assert services.get(full, "airflow").changed_launch_settings() == ["env"]   # its tasks would see LAB_SCALE=smoke


def test_airflow_holds_the_generated_connections_and_variables(lab):
    cfg, _ = lab
    api = services.get(cfg, "airflow").api()
    stored = {c["connection_id"]: c for c in api.get("connections")["connections"]}
    assert stored["postgres_default"]["login"] == "airline"
    assert stored["postgres_default"]["port"] == cfg.ports["postgres"]
    assert stored["mysql_default"]["schema"] == "airflow"
    assert json.loads(stored["aws_default"]["extra"])["service_config"]["emr"]["endpoint_url"].endswith(
        str(cfg.ports["emr"]))
    variables = {v["key"]: v["value"] for v in api.get("variables")["variables"]}
    assert variables == connections.variables(cfg)


def test_the_generated_credentials_work_and_wrong_ones_are_explained(lab):
    cfg, _ = lab
    pg = services.get(cfg, "postgres")
    with pg.connect("airline_db", "airline", (cfg.secrets_dir / "postgres_airline").read_text().strip()) as conn:
        with conn.cursor() as cur:
            cur.execute("select current_user")
            assert cur.fetchone() == ("airline",)
    with pytest.raises(LabError, match="rejected the password for 'airline'"):
        pg.connect("airline_db", "airline", "wrong-password")
    maria = services.get(cfg, "mariadb")
    with maria.connect("emr", database="airflow") as conn, conn.cursor() as cur:
        cur.execute("select @@character_set_server")
        assert cur.fetchone() == ("utf8mb4",)
    with pytest.raises(LabError, match="rejected the password for 'emr'"):
        maria.connect("emr", "wrong-password")
    from labkit.airflow_api import AirflowAPI
    with pytest.raises(LabError, match="rejected the password of user 'admin'"):
        AirflowAPI(services.get(cfg, "airflow").url, "admin", "wrong-password").login()


def test_status_exits_nonzero_when_a_service_is_down(lab):
    cfg, _ = lab
    services.get(cfg, "mariadb").stop()
    try:
        out = subprocess.run(LABKIT + ["status"], capture_output=True, text=True)
        assert out.returncode == 1
        assert "mariadb    stopped" in out.stdout
    finally:
        services.up(cfg, only=["mariadb"], report=lambda _: None)


def test_down_stops_everything_and_up_finds_the_data(lab):
    cfg, rows = lab
    pg = services.get(cfg, "postgres")
    with pg.connect("airline_db") as conn, conn.cursor() as cur:
        cur.execute("create table if not exists survives_restart (n int); insert into survives_restart values (42)")
    pids = [r.pid for r in services.status(cfg)]
    services.down(cfg, report=lambda _: None)
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid
    assert not list(cfg.state_dir.glob("*/*.pid"))
    rows = services.up(cfg, report=lambda _: None)
    assert all(r.healthy for r in rows)
    with pg.connect("airline_db") as conn, conn.cursor() as cur:
        cur.execute("select n from survives_restart")
        assert cur.fetchall() == [(42,)]
        cur.execute("drop table survives_restart")


def test_stale_pid_file_is_cleaned_up(lab):
    cfg, _ = lab
    maria = services.get(cfg, "mariadb")
    real = maria.pid_file.read_text()
    maria.pid_file.write_text("999999\n")     # a pid that no process has
    assert maria.pid() is None and not maria.pid_file.exists()
    maria.pid_file.write_text(real)


def test_secrets_are_private_and_not_in_airflow_logs(lab):
    cfg, _ = lab
    assert oct(cfg.secrets_dir.stat().st_mode & 0o777) == "0o700"
    for f in cfg.secrets_dir.iterdir():
        assert oct(f.stat().st_mode & 0o777) == "0o600", f
    admin = (cfg.secrets_dir / "airflow_admin").read_text().strip()
    assert admin not in services.get(cfg, "airflow").log_file.read_text()
    assert os.stat(services.get(cfg, "airflow").config_file).st_mode & 0o077 == 0


def mariadb_accounts(maria) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(user, host) -> (password hash, "true" if locked), from MariaDB's grant table."""
    with maria.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT User, Host, JSON_VALUE(Priv, '$.authentication_string'), "
                    "JSON_EXTRACT(Priv, '$.account_locked') FROM mysql.global_priv")
        return {(user, host): (secret, locked) for user, host, secret, locked in cur.fetchall()}


OURS = {("root", "127.0.0.1"), ("root", "localhost"), ("emr", "127.0.0.1"), ("emr", "localhost"),
        ("mariadb.sys", "localhost")}   # the last is MariaDB's own, locked


def passwordless(accounts) -> list:
    return [a for a, (secret, locked) in accounts.items() if not secret and locked != "true"]


def test_mariadb_bootstrap_makes_no_passwordless_account(monkeypatch):
    """Straight after mariadb-install-db and the first start, before labkit's own setup (`after_start`):
    no root@<hostname>, root@::1 or anonymous account, and root needs the lab's password."""
    with isolated_lab(monkeypatch, "maria-boot") as cfg:
        maria = services.get(cfg, "mariadb")
        maria.start()
        accounts = mariadb_accounts(maria)
        assert set(accounts) == OURS - {("emr", "127.0.0.1"), ("emr", "localhost")}, accounts
        assert passwordless(accounts) == []
        with pytest.raises(LabError, match="rejected the password for 'root'"):
            maria.connect(password="")


def test_mariadb_setup_drops_passwordless_accounts_of_older_labs(lab):
    """A lab bootstrapped before: `up` (after_start) drops such accounts; only ours are left, with passwords."""
    cfg, _ = lab
    maria = services.get(cfg, "mariadb")
    with maria.connect() as conn, conn.cursor() as cur:
        for account in ("'root'@'::1'", "''@'localhost'", f"'root'@'{socket.gethostname()}'"):
            cur.execute(f"CREATE USER IF NOT EXISTS {account}")
    maria.after_start()
    accounts = mariadb_accounts(maria)
    assert set(accounts) == OURS and passwordless(accounts) == [], accounts


def test_airflow_starts_its_api_server_before_the_scheduler(lab):
    """Every task talks to the API server (the Execution API): after a crash and `labkit up`, a scheduler started
    beside it re-queues the interrupted task before the API server listens, and the task's retry fails. So the
    supervisor starts the scheduler, the DAG processor and the triggerer only once the API server answers."""
    cfg = lab[0]
    airflow = services.get(cfg, "airflow")
    lines = airflow.log_file.read_text(errors="replace").splitlines()
    start = max(i for i, line in enumerate(lines) if "supervisor: migrating the metadata database" in line)
    this_start = lines[start:]
    answered = next(i for i, line in enumerate(this_start) if "supervisor: the api-server answers at" in line)
    assert "starting scheduler, dag-processor, triggerer" in this_start[answered]
    # its Execution API asked once first: it builds its routes on its first request (49-71 s under load), and a
    # task's start that met that gave up (a retry after a crash and `labkit up` failed with "Pre Execute" alone)
    assert "(its Execution API after " in this_start[answered], this_start[answered]
    first_scheduler = next((i for i, line in enumerate(this_start) if "Starting the scheduler" in line), None)
    assert first_scheduler is not None and first_scheduler > answered, this_start[:answered + 5]


def test_a_changed_airflow_cfg_restarts_airflow_at_the_next_up(lab, monkeypatch):
    """A setting labkit writes into airflow.cfg (an update of the project, e.g. min_serialized_dag_update_interval)
    is a launch setting: `labkit up` restarts a running Airflow that started with another one."""
    from labkit.services import airflow as airflow_service

    cfg = lab[0]
    airflow = services.get(cfg, "airflow")
    assert airflow.changed_launch_settings() == []
    monkeypatch.setattr(airflow_service, "SERIALIZED_DAG_MIN_INTERVAL", airflow_service.SERIALIZED_DAG_MIN_INTERVAL + 1)
    assert airflow.changed_launch_settings() == ["config_sha256"]
    assert "password" not in airflow.launch_file.read_text().lower()


def test_an_airflow_started_against_another_run_of_postgres_has_a_changed_launch_setting(lab):
    """Airflow records which run of PostgreSQL holds its metadata database. After a PostgreSQL crash its components
    exit on the lost connection and its supervisor stops the rest, but a `labkit up` within those seconds found it
    still answering and reused it (bench/faults.py: the next `up` then met a refused connection). An Airflow started
    against another run of PostgreSQL than the one now running has a changed launch setting, which `up` restarts
    (test_up_restarts_a_server_whose_settings_changed)."""
    cfg = lab[0]
    airflow = services.get(cfg, "airflow")
    assert airflow.changed_launch_settings() == []
    recorded = airflow.launch_file.read_text()
    started = json.loads(recorded)
    assert started["metadata_database"]["pid"] == services.get(cfg, "postgres").pid()
    try:
        started["metadata_database"]["start_ticks"] -= 1        # as if started against the run before the crash
        airflow.launch_file.write_text(json.dumps(started))
        assert airflow.changed_launch_settings() == ["metadata_database"]
    finally:
        airflow.launch_file.write_text(recorded)
