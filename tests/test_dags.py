"""Every DAG file: parses without errors, has tags/owner/retries, and does no work at parse time.

Plus the workshop DAG end to end on the real local stack (smoke scale): scheduled run green, outputs
checked, a rerun of the same logical date gives the same result, a failing import is visible, a backfill
lands one day per date (reconciled against PostgreSQL), and a run without a data interval stops in one line.
"""
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import airflow_api, services
from labkit.connections import connections
from labkit.workshop import daily_runs
from labkit.workshop.daily_runs import aggregated_rows, landed_rows, landed_span, source_rows
from labkit.workshop.sqoop.interval import interval_where

ROOT = Path(__file__).resolve().parents[1]
# The reference DAGs of both profiles: dags/ (local) and dags/aws/ (aws; its other files are links to dags/)
DAG_FILES = sorted(p for p in [*(ROOT / "dags").glob("*.py"), *(ROOT / "dags" / "aws").glob("*.py")]
                   if not p.is_symlink())
# logging: a task's own log lines (the interval guard's one line), as Airflow's example DAGs log
ALLOWED_IMPORTS = ("airflow", "pendulum", "datetime", "__future__", "json", "textwrap", "logging")


def parse_dags(home: Path, folder: Path = ROOT / "dags") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "dagbag_report.py"), str(folder)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    return parse_dags(tmp_path_factory.mktemp("airflow-home"))


def test_dag_files_exist():
    assert {str(p.relative_to(ROOT)) for p in DAG_FILES} == {
        "dags/airflow_workshop_job.py", "dags/emr_ephemeral_job.py", "dags/aws/airflow_workshop_job.py"}


def test_no_import_errors(dagbag):
    assert dagbag["import_errors"] == {}
    # dags/.airflowignore skips dags/aws/: the local Airflow parses one airflow_workshop_job, the client one
    assert {d: Path(dag["fileloc"]).relative_to(ROOT).as_posix() for d, dag in dagbag["dags"].items()} == {
        "airflow_workshop_job": "dags/airflow_workshop_job.py", "emr_ephemeral_job": "dags/emr_ephemeral_job.py"}


@pytest.fixture(scope="module")
def aws_dagbag(tmp_path_factory):
    return parse_dags(tmp_path_factory.mktemp("airflow-home"), ROOT / "dags" / "aws")


def test_the_aws_folder_has_both_dags_the_workshop_job_on_emr(aws_dagbag):
    assert aws_dagbag["import_errors"] == {}
    assert sorted(aws_dagbag["dags"]) == ["airflow_workshop_job", "emr_ephemeral_job"]
    assert aws_dagbag["dags"]["airflow_workshop_job"]["fileloc"].endswith("dags/aws/airflow_workshop_job.py")


def test_every_dag_has_tags_owner_and_retries(dagbag, aws_dagbag):
    for dag_id, dag in [*dagbag["dags"].items(), *aws_dagbag["dags"].items()]:
        assert dag["tags"], f"{dag_id} has no tags"
        for task_id, task in dag["tasks"].items():
            assert task["owner"] not in ("", "airflow"), f"{dag_id}.{task_id}: set an owner"
            assert task["retries"] >= 1, f"{dag_id}.{task_id}: set retries"


def test_the_workshop_dag_on_emr_has_the_cluster_and_its_steps_as_setups_of_one_teardown(aws_dagbag):
    tasks = aws_dagbag["dags"]["airflow_workshop_job"]["tasks"]
    # the step ids reach the sensors as XComArgs (name_steps), and task 1's count the import step (add_steps):
    # each XComArg sets an order by itself
    assert {t: task["downstream"] for t, task in tasks.items()} == {
        "generate_interval_rows": ["add_steps", "create_cluster"],
        "create_cluster": ["add_steps", "terminate_cluster", "watch_aggregate", "watch_import"],
        "add_steps": ["name_steps", "terminate_cluster"],
        "name_steps": ["terminate_cluster", "watch_aggregate", "watch_import"],
        "watch_import": ["watch_aggregate"],
        "watch_aggregate": ["terminate_cluster"],
        "terminate_cluster": []}
    assert tasks["terminate_cluster"]["trigger_rule"] == "TriggerRule.ALL_DONE_SETUP_SUCCESS"      # a teardown
    # clearing a sensor clears its setups: a rerun gets a new cluster, adds its steps and names their new ids
    assert {t for t, task in tasks.items() if task["setup"]} == {"create_cluster", "add_steps", "name_steps"}
    assert all(task["owner"] == "lab" and task["retries"] >= 1 for task in tasks.values())


def test_the_emr_job_passes_ids_as_xcomargs_and_its_teardown_redoes_cluster_and_step(dagbag):
    tasks = dagbag["dags"]["emr_ephemeral_job"]["tasks"]
    assert {t: task["downstream"] for t, task in tasks.items()} == {
        "start_job": ["create_emr_cluster"],
        "create_emr_cluster": ["add_emr_step", "monitor_emr_step", "terminate_cluster"],
        "add_emr_step": ["first_step", "terminate_cluster"],
        "first_step": ["monitor_emr_step", "terminate_cluster"],
        "monitor_emr_step": ["end_job", "terminate_cluster"],
        "terminate_cluster": ["end_job"], "end_job": []}
    assert {t for t, task in tasks.items() if task["setup"]} == {"create_emr_cluster", "add_emr_step", "first_step"}


def test_the_cluster_teardown_outlasts_an_emr_api_away_for_minutes(dagbag, aws_dagbag):
    """terminate_cluster is the cluster's only way out: its retries (Airflow's own retry schedule) span more than
    five minutes (an endpoint crashed and started again with `labkit up`; on AWS an outage), the first one soon.
    With one retry after 30 s the cluster stayed WAITING until its idle policy."""
    emr = aws_dagbag["dags"]["airflow_workshop_job"]["tasks"]["terminate_cluster"]
    for teardown in (dagbag["dags"]["emr_ephemeral_job"]["tasks"]["terminate_cluster"], emr):
        delays = teardown["retry_delays"]
        assert delays[0] <= 30 and sum(delays) >= 5 * 60, delays
        assert delays == sorted(delays), delays                   # backing off, never hammering the API


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: str(p.relative_to(ROOT / "dags")))
def test_dag_files_import_only_airflow_and_do_no_work_at_parse_time(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for name in names:
                assert name.split(".")[0] in ALLOWED_IMPORTS, f"{path.name} imports {name}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert not (node.func.attr == "get" and getattr(node.func.value, "id", "") == "Variable"), \
                f"{path.name}: Variable.get at parse time; use a template such as {{{{ var.value.X }}}}"


@pytest.mark.parametrize("path", sorted((ROOT / "dags").rglob("*.*")), ids=lambda p: p.name)
def test_no_hosts_paths_or_secrets_in_dags(path):
    text = path.read_text()
    assert not re.search(r"(/root|/home|/tmp|/work)/", text), f"{path.name}: absolute machine path"
    assert not re.search(r"127\.0\.0\.1|localhost|:\d{4,5}\b", text), f"{path.name}: a host or port"
    assert not re.search(r"password\s*=\s*['\"][^'\"{]", text, re.I), f"{path.name}: a password"


# -- the workshop DAG on the real lab ------------------------------------------------------------------------
DAG_ID = "airflow_workshop_job"


@pytest.fixture(scope="module")
def workshop_run(lab):
    """The DAG's first scheduled run: unpausing a daily DAG runs its latest interval (catchup is off,
    so no other run follows until the next midnight)."""
    cfg, _ = lab
    api = services.get(cfg, "airflow").api()
    api.wait_for_dag(DAG_ID)
    api.unpause(DAG_ID)
    import time
    deadline = time.monotonic() + 120
    while not (runs := [r for r in api.dag_runs(DAG_ID) if r["run_type"] == "scheduled"]):
        assert time.monotonic() < deadline, "the scheduler created no run after unpausing"
        time.sleep(0.5)
    run = api.follow(DAG_ID, runs[0]["dag_run_id"], timeout=900, progress=False)
    yield cfg, api, run   # stays unpaused: a paused DAG's runs (and cleared tasks) are never scheduled
    api.pause(DAG_ID)


@pytest.mark.services
def test_workshop_dag_runs_green_and_lands_every_row(workshop_run):
    cfg, api, run = workshop_run
    assert run["state"] == "success", api.task_instances(DAG_ID, run["dag_run_id"])
    ds = run["data_interval_start"][:10]
    assert run["data_interval_end"][:10] > ds       # a whole day, not Airflow 3's point-in-time "@daily"
    # one day of rows at any scale: 100 lines x 1,440 minutes, the same in PostgreSQL, landed and aggregated
    assert source_rows(cfg, ds) == landed_rows(cfg, ds) == aggregated_rows(cfg, ds) == 144_000
    assert landed_span(cfg, ds) == (f"{ds} 00:00", f"{ds} 23:59")


@pytest.mark.services
def test_the_import_tasks_output_can_be_read_from_its_log(workshop_run):
    cfg, api, run = workshop_run
    log = api.task_log(DAG_ID, run["dag_run_id"], "sqoop_import_interval")
    printed = airflow_api.command_output(log)
    assert printed[0].startswith("importing tbl_airflow_dummy_daily (4 columns) from 127.0.0.1:")
    assert "by --split-by id" in printed[0]
    assert any(line.startswith("Retrieved ") and " records (source: " in line for line in printed), printed
    assert not any("Running command" in line or line.startswith("[") for line in printed), printed


@pytest.mark.services
def test_the_aggregation_is_the_seeds_spark_submit_operator_on_spark_default(workshop_run):
    """SparkSubmitOperator (the provider installed with --no-deps, tests/test_spark_provider.py) ran the job:
    the run's aggregates are checked above; its log names the command built from the generated connection."""
    cfg, api, run = workshop_run
    log = api.task_log(DAG_ID, run["dag_run_id"], "spark_aggregate_dummy")
    command = next(line for line in log.splitlines() if "Spark-Submit cmd" in line)
    assert "spark-submit --master local[*] --name aggregate_dummy" in command, command
    assert "aggregate_dummy.py --input " in command and "--run-date " + run["data_interval_start"][:10] in command


@pytest.mark.services
def test_a_failing_import_is_visible_and_stops_the_run(workshop_run):
    """A wrong password on postgres_default: the import fails, is retried once (the DAG's retries: the retry is
    what lands a day after PostgreSQL came back, or after the connection was fixed in time), fails again, and the
    run stops with the aggregation not run. Each try's log names the cause and holds no password. The run stays
    failed: nothing later needs it green (notebook 07 runs its own DAG, on the first session's lab)."""
    cfg, api, run = workshop_run
    pg = next(c for c in connections(cfg) if c["connection_id"] == "postgres_default")
    cleared = next(ti["try_number"] for ti in api.task_instances(DAG_ID, run["dag_run_id"])
                   if ti["task_id"] == "sqoop_import_interval")
    api.upsert("connections", [dict(pg, password="wrong-password")])
    try:
        api.request("POST", f"dags/{DAG_ID}/clearTaskInstances", json={
            "dry_run": False, "dag_run_id": run["dag_run_id"], "task_ids": ["sqoop_import_interval"],
            "include_downstream": True, "only_failed": False, "reset_dag_runs": True})
        failed = api.follow(DAG_ID, run["dag_run_id"], timeout=900, progress=False)
    finally:
        api.upsert("connections", [pg])
    states = {ti["task_id"]: ti for ti in api.task_instances(DAG_ID, run["dag_run_id"])}
    assert failed["state"] == "failed"
    assert states["sqoop_import_interval"]["state"] == "failed"
    assert states["spark_aggregate_dummy"]["state"] == "upstream_failed"
    tries = states["sqoop_import_interval"]["try_number"]
    assert tries == cleared + 2, (cleared, tries)       # the cleared try and its one retry, then the run stopped
    for try_number in (cleared + 1, tries):
        log = api.task_log(DAG_ID, run["dag_run_id"], "sqoop_import_interval", try_number)
        assert "rejected the password" in log, try_number
        assert "wrong-password" not in log, try_number


# -- the workshop DAG's data interval --------------------------------------------------------------------------
INTERVAL_PROBE = """
import importlib.util, json, sys
from datetime import datetime, timezone
import jinja2
spec = importlib.util.spec_from_file_location("workshop_dag", sys.argv[1])
dag_file = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dag_file)
out = {"timetable": type(dag_file.dag.timetable).__name__, "refused": []}
day = (datetime(2021, 1, 2, tzinfo=timezone.utc), datetime(2021, 1, 3, tzinfo=timezone.utc))
out["where"] = jinja2.Template(dag_file.RUN + dag_file.WHERE).render(
    interval=dag_file.interval, data_interval_start=day[0], data_interval_end=day[1])
out["landed"] = jinja2.Template(dag_file.RUN + dag_file.LANDED).render(
    interval=dag_file.interval, data_interval_start=day[0], data_interval_end=day[1],
    var={"value": {"LANDING_ZONE": "LZ"}}, dag=dag_file.dag)
env = jinja2.Environment(undefined=jinja2.StrictUndefined)
for context in ({}, {"data_interval_start": day[0], "data_interval_end": day[0]}):
    try:      # a manual run without a logical date has neither name in its context; then an empty interval
        env.from_string(dag_file.RUN + dag_file.WHERE).render(interval=dag_file.interval, **context)
    except Exception as exc:      # AirflowFailException: the task fails without a retry
        out["refused"].append(f"{type(exc).__name__}: {exc}")
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def interval_probe(tmp_path_factory):
    """The workshop DAG file's templates rendered for a day, and for runs without a usable interval."""
    home = tmp_path_factory.mktemp("airflow-home-probe")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    out = subprocess.run([sys.executable, "-c", INTERVAL_PROBE, str(ROOT / "dags" / "airflow_workshop_job.py")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_workshop_dag_imports_its_data_interval(interval_probe):
    # a data-interval timetable: "@daily" alone is a point in time in Airflow 3 (an empty interval)
    assert interval_probe["timetable"] == "CronDataIntervalTimetable"
    # the DAG's --where is the one labkit writes for that day (the notebooks' PostgreSQL counts use labkit's)
    assert interval_probe["where"] == interval_where("2021-01-02", "2021-01-03")
    assert interval_probe["landed"] == "LZ/airflow_workshop_job/tbl_airflow_dummy_daily/ds=2021-01-02"


def test_a_run_without_a_data_interval_is_refused_in_one_line(interval_probe):
    no_date, empty = interval_probe["refused"]
    assert no_date == ("AirflowFailException: "
                       "this run has no data interval (a manual run without a logical date): run a day as a backfill of "
                       "its date, e.g. `airflow backfill create --dag-id airflow_workshop_job --from-date 2021-01-02 "
                       "--to-date 2021-01-02`, or trigger it in the UI with a logical date")
    assert empty == no_date          # an empty interval (a manual run of a DAG without a data-interval timetable)


@pytest.mark.services
def test_a_backfill_lands_each_day_once_and_a_rerun_of_a_date_changes_nothing(workshop_run):
    cfg, api, _ = workshop_run
    dates = ["2021-01-01", "2021-01-02"]
    api.backfill(DAG_ID, f"{dates[0]}T00:00:00Z", f"{dates[-1]}T00:00:00Z")
    import time
    deadline = time.monotonic() + 120
    while len(runs := [r for r in api.dag_runs(DAG_ID) if r["run_type"] == "backfill"]) < len(dates):
        assert time.monotonic() < deadline, "the backfill created no runs"
        time.sleep(0.5)
    for run in runs:
        assert api.follow(DAG_ID, run["dag_run_id"], timeout=900, progress=False)["state"] == "success"
    assert sorted(r["data_interval_start"][:10] for r in runs) == dates
    for ds in dates:        # each date: its own day, the same count in PostgreSQL, landed and aggregated
        assert source_rows(cfg, ds) == landed_rows(cfg, ds) == aggregated_rows(cfg, ds) == 144_000
        assert landed_span(cfg, ds) == (f"{ds} 00:00", f"{ds} 23:59")
    # a rerun of the second date (once a test of its own, rerunning the scheduled run: one DAG run fewer now):
    # the same counts, and the first date's files are not touched
    other = {p.name: p.stat().st_mtime_ns for p in daily_runs.landed_dir(cfg, dates[0]).iterdir()}
    before = (source_rows(cfg, dates[1]), landed_rows(cfg, dates[1]), aggregated_rows(cfg, dates[1]))
    again = next(r for r in runs if r["data_interval_start"].startswith(dates[1]))
    # run_for_date finds the date's run and clears it (a second trigger would be refused: one run per date)
    assert api.run_for_date(DAG_ID, again["logical_date"]) == again["dag_run_id"]
    assert api.follow(DAG_ID, again["dag_run_id"], timeout=900, progress=False)["state"] == "success"
    assert (source_rows(cfg, dates[1]), landed_rows(cfg, dates[1]), aggregated_rows(cfg, dates[1])) == before
    assert {p.name: p.stat().st_mtime_ns for p in daily_runs.landed_dir(cfg, dates[0]).iterdir()} == other
    # a task's log is by default its latest try's: the rerun's, not the first run's
    tries = {ti["task_id"]: ti["try_number"] for ti in api.task_instances(DAG_ID, again["dag_run_id"])}
    latest = api.task_log(DAG_ID, again["dag_run_id"], "sqoop_import_interval")
    assert tries["sqoop_import_interval"] >= 2
    assert latest == api.task_log(DAG_ID, again["dag_run_id"], "sqoop_import_interval", tries["sqoop_import_interval"])
    assert latest != api.task_log(DAG_ID, again["dag_run_id"], "sqoop_import_interval", 1)


@pytest.mark.services
def test_a_manual_run_without_a_logical_date_stops_at_its_first_task(workshop_run):
    cfg, api, _ = workshop_run
    folders = sorted(p.name for p in (daily_runs.dag_dir(cfg) / daily_runs.TABLE).iterdir())
    run_id = api.trigger(DAG_ID, logical_date=None)
    run = api.follow(DAG_ID, run_id, timeout=900, progress=False)
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, run_id)}
    assert run["state"] == "failed" and run["data_interval_start"] is None
    assert states == {"generate_interval_rows": "failed", "sqoop_import_interval": "upstream_failed",
                      "spark_aggregate_dummy": "upstream_failed"}
    first = api.task_instances(DAG_ID, run_id)
    assert [ti["try_number"] for ti in first if ti["task_id"] == "generate_interval_rows"] == [1]   # no retry
    # The log as the UI gets it: the first line outside a (collapsed) group is the missing interval's one line.
    events = api.request("GET", f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/generate_interval_rows/logs/1",
                         params={"full_content": "true"}, headers_extra={"Accept": "application/json"}).json()
    assert first_visible_line(events["content"]) == (
        "this run has no data interval (a manual run without a logical date): run a day as a backfill of "
        "its date, e.g. `airflow backfill create --dag-id airflow_workshop_job --from-date 2021-01-02 "
        "--to-date 2021-01-02`, or trigger it in the UI with a logical date")
    # it landed nothing: every folder there now was there before or is another run's day (the DAG stays unpaused,
    # so a test crossing midnight UTC gets the next scheduled run, which lands its own day)
    now = sorted(p.name for p in (daily_runs.dag_dir(cfg) / daily_runs.TABLE).iterdir())
    others = {f"ds={r['data_interval_start'][:10]}" for r in api.dag_runs(DAG_ID)
              if r["dag_run_id"] != run_id and r["data_interval_start"]}
    assert set(folders) <= set(now) and set(now) - set(folders) <= others, (folders, now)


def first_visible_line(content: list) -> str | None:
    """The first log line the Airflow UI shows outside a collapsed group (`::group::` ... `::endgroup::`)."""
    depth = 0
    for item in content:
        event = item if isinstance(item, str) else item.get("event", "")
        if "::group::" in event:
            depth += 1
        elif "::endgroup::" in event:
            depth = max(depth - 1, 0)
        elif depth == 0 and event.strip():
            return event
    return None
