"""Each fault as one scenario: a good state first, the fault injected (inject.py) at one moment of the real
code, what the learner is shown, the documented recovery, and the rows lost or doubled afterwards.

The tests in tests/faults/ assert on an `Outcome`; bench/faults.py prints them as a table. A scenario takes
a running lab (`cfg`) and a scratch folder of its own, and leaves the lab healthy.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import inject
import psutil

from labkit import connections, emr_client, procs, services
from labkit.emr_client import retail
from labkit.errors import LabError
from labkit.workshop import aggregates, crosschecks, daily_runs, dummy, landing, spark_aggregation, sqoop
from labkit.workshop.sqoop import engine as sqoop_engine

LABKIT = str(Path(sys.executable).with_name("labkit"))
DAY = "2021-01-01"                      # in both scales' date range; the DAG's runs use their own days


@dataclass
class Outcome:
    fault: str
    line: str                 # what the learner is shown: the one error line ("" when nothing failed)
    lost: int | None          # rows missing from the final state (after the recovery); None: not counted
    doubled: int | None       # rows present twice in it; None: not counted
    recovery: str             # what was done to recover (what the notebooks teach)
    recovered: bool           # the recovery left the correct state
    kept: bool = True         # the good state from before the fault survived the fault itself
    detail: str = ""
    holds_rows: bool = True   # False: a fault of the lab's processes on a lab with no rows (nothing to count)
    left: dict[int, str] | None = None   # processes of the crashed tree still alive after it stopped (None: not looked)

    @property
    def one_line(self) -> bool:
        return bool(self.line) and "\n" not in self.line and "Traceback" not in self.line

    @property
    def counted(self) -> bool:
        """Whether the rows were counted after the recovery (a scenario that counts none proves nothing of them)."""
        return self.lost is not None and self.doubled is not None

    @property
    def survived(self) -> bool:
        rows_whole = self.counted and self.lost == 0 and self.doubled == 0 if self.holds_rows else not self.counted
        return self.one_line and rows_whole and self.recovered and self.kept and not self.left


def error_line(call) -> str:
    """What a learner is shown when `call` fails: `labkit: error: <line>` for a LabError (as the CLI prints
    it), the whole traceback for anything else; "" when it did not fail."""
    try:
        call()
    except LabError as exc:
        return f"labkit: error: {exc}"
    except Exception:  # noqa: BLE001 - a raw exception is the finding
        return traceback.format_exc(limit=3)
    return ""


def cli_line(argv: list[str]) -> tuple[int, str]:
    """Run a labkit command as a learner would (a terminal, a notebook's `!`); its exit status and stderr."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stderr.strip()


# -- counting -----------------------------------------------------------------------------------------------
def pg_counts(cfg, table: str, where: str = "true") -> tuple[int, int]:
    """(rows, distinct ids) of a table in airline_db (0, 0 when it does not exist)."""
    frame = dummy.query(cfg, "select to_regclass(%s) is not null as present", (table,))
    if not frame.present[0]:
        return 0, 0
    frame = dummy.query(cfg, f"select count(*) as n, count(distinct id) as ids from {table} where {where}")
    return int(frame.n[0]), int(frame.ids[0])


def landed_counts(folder: Path) -> tuple[int, int]:
    """(rows, distinct ids) of a finished landing (its parquet parts, _SUCCESS present), else (0, 0)."""
    import duckdb

    folder = Path(folder)
    if not (folder / "_SUCCESS").exists() or not list(folder.glob("part-m-*.parquet")):
        return 0, 0
    with duckdb.connect() as con:
        return con.execute(f"select count(*), count(distinct id) from read_parquet('{folder}/part-m-*.parquet')"
                           ).fetchone()


def lost_doubled(counts: tuple[int, int], expected: int) -> tuple[int, int]:
    rows, ids = counts
    return max(0, expected - ids), rows - ids


def leftovers(target: Path) -> list[str]:
    """An import's staging or old folders left beside its target (its lock file stays, by design)."""
    name = Path(target).name
    return sorted(p.name for p in Path(target).parent.glob(f".{name}.sqoop-*") if p.name != f".{name}.sqoop-lock")


# -- the DAG's day, as its tasks do it ----------------------------------------------------------------------
def day_where(ds: str = DAY) -> str:
    return sqoop.interval_where(*daily_runs.day_interval(ds))


def generate_day(cfg, ds: str = DAY, crash_after: str | None = None) -> int:
    """The DAG's first task for day `ds`: its SQL file, one statement at a time in one transaction, committed
    at the end (what SQLExecuteQueryOperator with split_statements does). Returns the day's count (its XCom).
    `crash_after`: kill PostgreSQL right after the statement that starts with these words, before the commit."""
    conn = dummy.connect(cfg)
    try:
        with conn.cursor() as cur:
            for statement in dummy.statements(daily_runs.generate_sql(cfg, ds)):
                cur.execute(statement)
                if crash_after and statement.lower().startswith(crash_after):
                    inject.crash(cfg, "postgres")
            count = cur.fetchone()[0]
        conn.commit()
        return count
    finally:
        conn.close()


def import_day(cfg, target: Path, ds: str = DAY, expect_rows: int | None = None):
    """The DAG's second task for day `ds`, called as a function (the same flags)."""
    pg = connections.get(cfg, "postgres")
    return sqoop.import_table(pg.jdbc_url, username=pg.login, password=pg.password, table=daily_runs.TABLE,
                              where=day_where(ds), split_by="id", num_mappers=2, expect_rows=expect_rows,
                              target_dir=target, as_parquetfile=True, delete_target_dir=True, progress=False,
                              log=lambda *_: None)


def day_rows() -> int:
    return dummy.LINES * 24 * 60


# -- the lab's processes ------------------------------------------------------------------------------------
def still_alive(pids) -> dict[int, str]:
    """Those of `pids` still running (a zombie has ended): pid -> the start of its command line."""
    alive = {}
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive[pid] = " ".join(proc.cmdline())[:120]
        except psutil.Error:
            continue
    return alive


def airflow_tree_running_a_task(cfg, timeout: float = 180) -> tuple[list[psutil.Process], psutil.Process]:
    """Airflow's supervisor and every process under it, taken once a LocalExecutor worker runs a task (the
    worker with the task's processes under it); and the scheduler. Refuses a tree without two workers or without
    the task: a kill then would prove nothing of them."""
    supervisor = psutil.Process(services.get(cfg, "airflow").pid())
    [scheduler] = [c for c in supervisor.children() if "scheduler" in inject.title(c)]

    def busy_worker():
        for proc in scheduler.children():
            title = inject.title(proc)
            if "LocalExecutor" in title and "<idle>" not in title and proc.children():
                return proc
        return None

    worker = procs.wait_for(busy_worker, timeout=timeout, what="a LocalExecutor worker running a task", interval=0.2)
    tree = [supervisor, *supervisor.children(recursive=True)]
    if len(scheduler.children()) < 2 or not worker.children():
        raise RuntimeError(f"no workers and task to kill under the scheduler: {still_alive(p.pid for p in tree)}")
    return tree, scheduler


# -- PostgreSQL -----------------------------------------------------------------------------------------------
def postgres_during_generation(cfg, work: Path) -> Outcome:
    """PostgreSQL killed while the fast path streams the dummy table (a third of its lines sent)."""
    dummy.ensure_table(cfg, progress=False)
    real = dummy.line_rows

    def streaming(line, created):
        if line == dummy.LINES // 3:
            inject.crash(cfg, "postgres")
        return real(line, created)

    with inject.patched(dummy, "line_rows", streaming):
        line = error_line(lambda: dummy.create_table(cfg, progress=False))
    inject.recover(cfg, "postgres")
    emptied = not dummy.table_is_complete(cfg)               # UNLOGGED: the crash emptied the old table
    said = dummy.ensure_table(cfg, progress=False)           # the notebook's cell, run again
    lost, doubled = lost_doubled(pg_counts(cfg, dummy.TABLE), dummy.expected_rows(cfg))
    leftover = pg_counts(cfg, f"{dummy.TABLE}__new") != (0, 0)
    return Outcome("postgres killed during the generation (fast path COPY)", line, lost, doubled,
                   "labkit up; run the cell again (ensure_table)", dummy.table_is_complete(cfg) and not leftover,
                   detail=f"old table emptied by the crash: {emptied}; then {said}")


def postgres_during_seed_ctas(cfg, work: Path) -> Outcome:
    """PostgreSQL killed inside the seed CTAS's transaction, after the CTAS wrote its rows, before the commit."""
    real = dummy.statements

    def then_wait(script):                # the CTAS, then a pause that holds its transaction open
        return [*real(script), "select pg_sleep(60)"]

    import threading

    killer = threading.Thread(target=lambda: (inject.wait_for_statement(cfg, "pg_sleep(60)"),
                                              inject.crash(cfg, "postgres")))
    with inject.patched(dummy, "statements", then_wait):
        killer.start()
        line = error_line(lambda: dummy.create_table(cfg, variant="seed", progress=False))
        killer.join()
    inject.recover(cfg, "postgres")
    said = dummy.ensure_table(cfg, progress=False)           # back to the fixed table the series uses
    lost, doubled = lost_doubled(pg_counts(cfg, dummy.TABLE), dummy.expected_rows(cfg))
    return Outcome("postgres killed during the seed CTAS", line, lost, doubled,
                   "labkit up; build the table again", dummy.table_is_complete(cfg), detail=said)


def postgres_during_daily_generation(cfg, work: Path) -> Outcome:
    """The DAG's per-day generation killed after its insert, before its commit (a rerun of a day that exists)."""
    other = "2021-01-02"
    generate_day(cfg, DAY)
    generate_day(cfg, other)
    line = ""
    try:
        generate_day(cfg, DAY, crash_after="insert")
    except Exception as exc:  # noqa: BLE001 - what Airflow's SQL operator shows: the driver's exception line
        line = f"{type(exc).__module__}.{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    inject.recover(cfg, "postgres")
    kept = pg_counts(cfg, daily_runs.TABLE, day_where(DAY)) == (day_rows(), day_rows()) and \
        pg_counts(cfg, daily_runs.TABLE, day_where(other)) == (day_rows(), day_rows())   # rolled back, logged
    count = generate_day(cfg, DAY)                          # the task's retry
    lost, doubled = lost_doubled(pg_counts(cfg, daily_runs.TABLE, day_where(DAY)), day_rows())
    return Outcome("postgres killed during the DAG's generation", line, lost, doubled,
                   "labkit up; the task's retry (or clear it)", count == day_rows() and
                   pg_counts(cfg, daily_runs.TABLE, day_where(other)) == (day_rows(), day_rows()), kept=kept)


def postgres_during_import(cfg, work: Path) -> Outcome:
    """PostgreSQL killed once the mappers are connected, as their COPY starts; a good landing of the day exists."""
    target = work / "import" / f"ds={DAY}"
    expected = generate_day(cfg, DAY)
    import_day(cfg, target, expect_rows=expected)
    real = sqoop_engine._progress_bars

    def crash_then_bars(splits, progress):
        inject.crash(cfg, "postgres")
        return real(splits, progress)

    with inject.patched(sqoop_engine, "_progress_bars", crash_then_bars):
        line = error_line(lambda: import_day(cfg, target, expect_rows=expected))
    kept = landed_counts(target) == (expected, expected) and not leftovers(target)
    inject.recover(cfg, "postgres")
    import_day(cfg, target, expect_rows=expected)           # the task's retry
    lost, doubled = lost_doubled(landed_counts(target), expected)
    return Outcome("postgres killed during the import", line, lost, doubled, "labkit up; import again (retry)",
                   landed_counts(target) == (expected, expected) and not leftovers(target), kept=kept)


def postgres_between_unlogged(cfg, work: Path) -> Outcome:
    """PostgreSQL killed between notebook 04's table and notebook 05's import: the UNLOGGED table comes back
    empty, and the import (the CLI, as 05 runs it) must not replace the good landing with nothing."""
    landing.ensure_landed(cfg, progress=False)
    expected, target = dummy.expected_rows(cfg), landing.input_dir(cfg)
    inject.crash(cfg, "postgres")
    inject.recover(cfg, "postgres")
    emptied = pg_counts(cfg, dummy.TABLE) == (0, 0) and not dummy.table_is_complete(cfg)
    status = subprocess.run([LABKIT, "status"], capture_output=True, text=True, timeout=120).stdout  # where one looks
    noted = [ln for ln in status.splitlines() if ln.startswith("note: ")]
    status, line = cli_line([LABKIT, *landing.lab_command(cfg, dummy.TABLE, target, "-m", "2", "--as-parquetfile",
                                                      "--delete-target-dir", "--no-progress")[1:]])
    kept = status != 0 and landed_counts(target) == (expected, expected)
    said = landing.ensure_landed(cfg, progress=False)    # 06's cell (and `labkit prepare 06`): rebuild, import
    lost, doubled = lost_doubled(landed_counts(target), expected)
    return Outcome("postgres killed between generation and import (UNLOGGED table)", line, lost, doubled,
                   "labkit up; build the table again, import again (ensure_landed)",
                   dummy.table_is_complete(cfg) and landed_counts(target) == (expected, expected), kept=kept,
                   detail=f"table emptied: {emptied}; labkit status said {noted}; then {said}")


def postgres_between_daily(cfg, work: Path) -> Outcome:
    """The DAG's retry path: the day generated and committed, PostgreSQL killed, the import tried while it is
    down (the first try), `labkit up`, the import again with --expect-rows (the retry)."""
    target = work / "between" / f"ds={DAY}"
    expected = generate_day(cfg, DAY)
    inject.crash(cfg, "postgres")
    line = error_line(lambda: import_day(cfg, target, expect_rows=expected))
    kept = not target.exists() and not leftovers(target)
    inject.recover(cfg, "postgres")
    import_day(cfg, target, expect_rows=expected)
    lost, doubled = lost_doubled(landed_counts(target), expected)
    return Outcome("postgres killed between the DAG's generation and import", line, lost, doubled,
                   "labkit up; the task's retry", landed_counts(target) == (expected, expected), kept=kept)


# -- the landing zone ---------------------------------------------------------------------------------------
def landing_disk_full(cfg, work: Path) -> Outcome:
    """The day's landing on a small file system (tmpfs) with room for one landing and not two: the retry of
    the import (which stages beside the target) fills it."""
    expected = generate_day(cfg, DAY)
    probe = work / "probe" / f"ds={DAY}"
    import_day(cfg, probe, expect_rows=expected)
    size = inject.folder_bytes(probe) / 2**20
    shutil.rmtree(probe.parent)
    disk = work / "small-disk"
    with inject.small_disk(disk, mib=size * 1.5 + 0.1):
        target = disk / f"ds={DAY}"
        import_day(cfg, target, expect_rows=expected)
        line = error_line(lambda: import_day(cfg, target, expect_rows=expected))
        kept = landed_counts(target) == (expected, expected) and not leftovers(target)
        inject.resize(disk, size * 3 + 1)                  # "free space there", then the retry
        import_day(cfg, target, expect_rows=expected)
        counts = landed_counts(target)
        clean = not leftovers(target)
    lost, doubled = lost_doubled(counts, expected)
    return Outcome("landing zone's disk full during the import", line, lost, doubled,
                   "free space; import again (retry)", counts == (expected, expected) and clean, kept=kept,
                   detail=f"tmpfs of {size * 1.5 + 0.1:.1f} MiB for a {size:.1f} MiB landing")


# -- the aggregation's input ------------------------------------------------------------------------------
def files_of(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def truncated_input(cfg, work: Path) -> Outcome:
    """A landed parquet part cut in half (a copy that stopped), then the aggregation of that day; the day's
    aggregates from an earlier run exist and must stay as they were."""
    expected = generate_day(cfg, DAY)
    landed, output = work / "truncated" / f"ds={DAY}", work / "truncated" / "aggregates"
    import_day(cfg, landed, expect_rows=expected)
    previous = work / "truncated" / "previous"
    crosschecks.duckdb_aggregate(landed, previous)         # "an earlier run's" aggregates of the day, in place
    for table in (aggregates.HOURLY, aggregates.DAILY):
        part = aggregates.partition_dir(output, table, DAY)
        part.mkdir(parents=True)
        shutil.copy(previous / f"{table}.parquet", part / "part-00000.parquet")
    before = files_of(output)
    inject.truncate(sorted(landed.glob("part-m-*.parquet"))[0], keep=0.5)
    line = error_line(lambda: spark_aggregation.run(cfg, DAY, input=landed, output=output))
    kept = files_of(output) == before
    import_day(cfg, landed, expect_rows=expected)           # land it again, then run the aggregation again
    spark_aggregation.run(cfg, DAY, input=landed, output=output)
    total = int(aggregates.read(output, aggregates.DAILY, DAY)["rows"].sum())
    hourly = int(aggregates.read(output, aggregates.HOURLY, DAY)["rows"].sum())
    return Outcome("a truncated landed parquet file, then the aggregation", line, max(0, expected - total),
                   max(0, total - expected), "import again, run the aggregation again", total == hourly == expected,
                   kept=kept)


# -- MariaDB during the EMR step's write --------------------------------------------------------------------
def emr_step(cfg, ds: str) -> dict:
    """The DAG's step (its own Args, with the lab's variables) as an EMR API StepConfig for day `ds`."""
    import re

    values = {**connections.variables(cfg)}
    args = ["spark-submit", "--deploy-mode", "cluster", "--jars", values["JDBC_JAR_PATH"],
            f"{values['SPARK_JOBS_PATH']}/retail_quantity.py", "--input", values["RAW_DATA_PATH"],
            "--jdbc-url", f"jdbc:mysql://{values['AURORA_ENDPOINT']}/airflow{values['MYSQL_JDBC_PARAMETERS']}",
            "--table", "emr_table",
            "--credentials", values["EMR_JDBC_CREDENTIALS"], "--run-date", ds]
    assert not any(re.search(r"{{|}}", a) for a in args)
    return {"Name": f"retail_quantity {ds}", "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args}}


def run_step(cfg, ds: str, while_running=None) -> dict:
    """A one-step cluster that ends after its step (what the DAG's tasks do); the step's final status."""
    import time

    client = emr_client.client(cfg)
    values = connections.variables(cfg)
    cid = client.run_job_flow(
        Name=f"faults {ds}", ReleaseLabel=values["EMR_RELEASE_LABEL"], LogUri=values["EMR_LOG_URI"],
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": False},
        Steps=[emr_step(cfg, ds)], JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole")["JobFlowId"]
    [sid] = [s["Id"] for s in client.list_steps(ClusterId=cid)["Steps"]]
    if while_running is not None:
        while_running()
    deadline = time.monotonic() + 600
    while (status := client.describe_step(ClusterId=cid, StepId=sid)["Step"]["Status"])["State"] \
            not in ("COMPLETED", "FAILED", "CANCELLED"):
        assert time.monotonic() < deadline, f"step {sid} still {status['State']}"
        time.sleep(1)
    client.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return status


def mariadb_root(cfg):
    return services.get(cfg, "mariadb").connect(user="root", database="airflow")


PAUSE = "SET @paused = SLEEP(120)"


def mariadb_during_step_write(cfg, work: Path) -> Outcome:
    """MariaDB killed while the EMR step writes the date's row (its INSERT held by a trigger that sleeps, so
    the kill lands inside the write); the date's row from an earlier run exists and must stay whole."""
    ds = "2024-05-31"
    retail.generate(cfg, progress=False)
    emr_client.stage_job(cfg)
    expected = retail.expected_quantity_sum(retail.rows_for(cfg))
    with mariadb_root(cfg) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS emr_table (date VARCHAR(255), value BIGINT)")
        cur.execute("DELETE FROM emr_table WHERE date = %s", (ds,))
        cur.execute("INSERT INTO emr_table VALUES (%s, %s)", (ds, expected))      # the earlier run's row
        cur.execute("DROP TRIGGER IF EXISTS faults_pause")
        cur.execute(f"CREATE TRIGGER faults_pause BEFORE INSERT ON emr_table FOR EACH ROW {PAUSE}")
        conn.commit()

    def crash_during_insert():
        def inserting():
            with mariadb_root(cfg) as conn, conn.cursor() as cur:
                # inside the trigger the session shows the trigger's statement, as its definer (root)
                cur.execute("SELECT count(*) FROM information_schema.processlist WHERE state = 'User sleep' "
                            "AND info = %s AND id <> connection_id()", (PAUSE,))
                return cur.fetchone()[0] > 0 or None
        procs.wait_for(inserting, timeout=240, what="the step's INSERT into emr_table", interval=0.5)
        inject.crash(cfg, "mariadb")

    try:
        status = run_step(cfg, ds, while_running=crash_during_insert)
    finally:
        inject.recover(cfg, "mariadb")
        with mariadb_root(cfg) as conn, conn.cursor() as cur:
            cur.execute("DROP TRIGGER IF EXISTS faults_pause")
            conn.commit()
    reason = status.get("FailureDetails", {}).get("Reason", "")
    line = f"step {status['State']}: {reason}" if status["State"] != "COMPLETED" else ""
    kept = emr_client.results(cfg, ds) == [(ds, expected)]
    again = run_step(cfg, ds)                                 # the recovery: the step (the DAG run) again
    rows = emr_client.results(cfg, ds)
    return Outcome("mariadb killed during the EMR step's write", line, 0 if rows else 1, max(0, len(rows) - 1),
                   "labkit up; run the step again (clear the DAG run)",
                   again["State"] == "COMPLETED" and rows == [(ds, expected)], kept=kept)


# -- Airflow's api-server during a run -------------------------------------------------------------------------
def task_states(api, run_id: str) -> dict[str, str]:
    return {ti["task_id"]: ti["state"] for ti in api.task_instances(daily_runs.DAG_ID, run_id)}


def api_server_during_run(cfg, work: Path, logical_date: str = "2021-02-21T00:00:00Z", finish: bool = True) -> Outcome:
    """`kill -9` of Airflow's api-server while the workshop DAG's first task runs: what `follow` (notebook 07)
    shows, then `labkit up`, the run followed again (and cleared, the UI's Clear, if it failed), and the day's
    rows counted three ways."""
    import time

    airflow = services.get(cfg, "airflow")
    api = airflow.api()
    api.wait_for_dag(daily_runs.DAG_ID, timeout=180)
    api.unpause(daily_runs.DAG_ID)
    run_id = api.run_for_date(daily_runs.DAG_ID, logical_date)
    ds = api.dag_run(daily_runs.DAG_ID, run_id)["data_interval_start"][:10]
    try:
        procs.wait_for(lambda: "running" in task_states(api, run_id).values() or None,
                       timeout=300, what="a task of the run to run", interval=0.5)
        killed_during = [t for t, state in task_states(api, run_id).items() if state == "running"]
        inject.kill_airflow_component(cfg, "api-server")
        line = error_line(lambda: api.follow(daily_runs.DAG_ID, run_id, timeout=120, progress=False))
        procs.wait_for(lambda: airflow.pid() is None, timeout=90, what="Airflow's supervisor to stop")
        said = inject.recover(cfg)                            # `labkit up`
        api = airflow.api()
        after_up = task_states(api, run_id)
        if not finish:          # the tests stop here (the run's end costs a DAG run; the bench goes on)
            api.request("PATCH", f"dags/{daily_runs.DAG_ID}/dagRuns/{run_id}", json={"state": "failed"},
                        allow=(409,))
            # the tests share one lab: leave the DAG with no run of ours (test_dags follows its own runs)
            api.request("DELETE", f"dags/{daily_runs.DAG_ID}/dagRuns/{run_id}", allow=(404,))
            return Outcome("airflow api-server killed during a run (rows not counted)", line, None, None, "labkit up",
                           services.get(cfg, "airflow").status().healthy and bool(after_up),
                           detail=f"killed during {killed_during}; after `labkit up`: {after_up}")
        t0 = time.monotonic()
        final = api.follow(daily_runs.DAG_ID, run_id, timeout=600, progress=False)["state"]
        recovery = "labkit up (the run went on)"
        if final != "success":
            api.clear_run(daily_runs.DAG_ID, run_id)        # what the UI's Clear does (notebook 07)
            final = api.follow(daily_runs.DAG_ID, run_id, timeout=600, progress=False)["state"]
            recovery = "labkit up; clear the run"
        seconds = time.monotonic() - t0
    finally:
        api = airflow.api() if airflow.pid() else api
        if airflow.pid():
            api.pause(daily_runs.DAG_ID)
    source = daily_runs.source_rows(cfg, ds)
    landed = daily_runs.landed_rows(cfg, ds) if final == "success" else 0
    aggregated = daily_runs.aggregated_rows(cfg, ds) if final == "success" else 0
    return Outcome("airflow api-server killed during a run", line, max(0, source - min(landed, aggregated)),
                   max(0, max(landed, aggregated) - source), recovery,
                   final == "success" and source == landed == aggregated == day_rows(),
                   detail=f"killed during {killed_during}; after `labkit up`: {after_up}; the run then took "
                          f"{seconds:.0f} s more; up said {said[-1]}")


# -- a crash during a DAG run, `labkit up`, and the interrupted task's own retry --------------------------------
def wait_for_task(api, dag_id: str, run_id: str, task_id: str, states: tuple[str, ...], timeout: float = 600):
    """Poll the run until `task_id` is in one of `states` (0.3 s: a task of a few seconds is seen running)."""
    def there():
        return next((ti for ti in api.task_instances(dag_id, run_id)
                     if ti["task_id"] == task_id and ti["state"] in states), None)
    return procs.wait_for(there, timeout=timeout, what=f"{dag_id}.{task_id} {'/'.join(states)}", interval=0.3)


def follow_through(api, dag_id: str, run_id: str, timeout: float = 900) -> str:
    """The run's final state, followed as notebook 07 does; a moment the busy api-server did not answer in time
    (the recovery is being judged, not the machine's load) is waited out."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return api.follow(dag_id, run_id, timeout=max(1.0, deadline - time.monotonic()), progress=False)["state"]
        except LabError as exc:
            if "did not answer in time" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(5)


def crash_then_retry(cfg, fault: str, logical_date: str, task_id: str, kill) -> Outcome:
    """The workshop DAG's run for one day; while `task_id` runs, `kill()`; what the learner's `follow` shows;
    `labkit up`; the run followed to its end with nothing cleared (the interrupted task's retry is Airflow's
    own); the day's rows counted in PostgreSQL, the landed parquet and the aggregates."""
    airflow = services.get(cfg, "airflow")
    api = airflow.api()
    api.wait_for_dag(daily_runs.DAG_ID, timeout=180)
    api.unpause(daily_runs.DAG_ID)
    run_id = api.run_for_date(daily_runs.DAG_ID, logical_date)
    ds = api.dag_run(daily_runs.DAG_ID, run_id)["data_interval_start"][:10]
    final, tries, said, line = "not followed", {}, [], ""
    try:
        wait_for_task(api, daily_runs.DAG_ID, run_id, task_id, ("running",))
        kill()
        line = error_line(lambda: api.follow(daily_runs.DAG_ID, run_id, timeout=120, progress=False,
                                             interval=0.5))
        said = inject.recover(cfg)                            # `labkit up`, nothing else
        api = airflow.api()
        final = follow_through(api, daily_runs.DAG_ID, run_id)
        tries = {ti["task_id"]: ti["try_number"] for ti in api.task_instances(daily_runs.DAG_ID, run_id)}
    finally:
        if airflow.pid():
            airflow.api().pause(daily_runs.DAG_ID)
    source = daily_runs.source_rows(cfg, ds)
    landed = daily_runs.landed_rows(cfg, ds) if final == "success" else 0
    aggregated = daily_runs.aggregated_rows(cfg, ds) if final == "success" else 0
    retried = tries.get(task_id, 0) >= 2
    return Outcome(fault, line, max(0, source - min(landed, aggregated)), max(0, max(landed, aggregated) - source),
                   "labkit up (the interrupted task's automatic retry)",
                   final == "success" and retried and source == landed == aggregated == day_rows(),
                   detail=f"run {final}; tries {tries}; PostgreSQL {source:,}, landed {landed:,}, aggregated "
                          f"{aggregated:,}; up said {said}")


def airflow_gone(cfg) -> None:
    """Airflow's supervisor stopped (it stops every component when one dies, or when its database went away)."""
    procs.wait_for(lambda: services.get(cfg, "airflow").pid() is None, timeout=180,
                   what="Airflow's supervisor to stop")


def scheduler_during_task(cfg, work: Path) -> Outcome:
    """`kill -9` of Airflow's scheduler while the workshop DAG's Spark task runs; `labkit up`; the task's retry.
    Airflow stops: its supervisor ends the other components and every descendant (the LocalExecutor's workers
    ignore SIGTERM): `left` is what of the tree at the kill still ran once the supervisor had stopped."""
    tree, left = [], {}

    def kill():
        found, _ = airflow_tree_running_a_task(cfg)
        tree.extend(found)
        inject.kill_airflow_component(cfg, "scheduler")
        airflow_gone(cfg)
        left.update(still_alive(p.pid for p in found))
    outcome = crash_then_retry(cfg, "airflow scheduler killed during a task", "2021-03-11T00:00:00Z",
                               "spark_aggregate_dummy", kill)
    return replace(outcome, left=left if tree else None,
                   detail=f"{outcome.detail}; the tree at the kill: {len(tree)} processes; left after the stop: {left}")


def postgres_during_task(cfg, work: Path) -> Outcome:
    """PostgreSQL (the day's rows and Airflow's metadata) killed while the DAG's import runs; `labkit up`."""
    def kill():
        inject.crash(cfg, "postgres")
    return crash_then_retry(cfg, "postgres killed during a DAG task (Airflow's metadata too)", "2021-03-12T00:00:00Z",
                            "sqoop_import_interval", kill)


EMR_DAG = "emr_ephemeral_job"


def emr_endpoint_at_teardown(cfg, work: Path, logical_date: str = "2024-03-13T00:00:00Z",
                             down_for: float = 150.0) -> Outcome:
    """The EMR endpoint killed as emr_ephemeral_job's step has COMPLETED and its teardown (terminate_cluster) is
    due, and left down `down_for` seconds (a learner who notices late); `labkit up`; the teardown's backed-off
    retry terminates the cluster. The date's row in MariaDB counted once. (An endpoint killed while a step runs
    loses the step, its Spark dies with it: the recovery is then clearing the run, as for MariaDB's crash.)"""
    import time

    ds = logical_date[:10]
    retail.generate(cfg, progress=False)
    emr_client.stage_job(cfg)
    expected = retail.expected_quantity_sum(retail.rows_for(cfg))
    airflow = services.get(cfg, "airflow")
    api = airflow.api()
    api.wait_for_dag(EMR_DAG, timeout=180)
    api.unpause(EMR_DAG)
    run_id = api.run_for_date(EMR_DAG, logical_date)
    final, tries, said, line, cluster = "not followed", {}, [], "", {}
    try:
        wait_for_task(api, EMR_DAG, run_id, "monitor_emr_step", ("success", "failed"), timeout=900)
        inject.crash(cfg, "emr")
        crashed = time.monotonic()
        failed_try = wait_for_task(api, EMR_DAG, run_id, "terminate_cluster", ("up_for_retry", "failed"),
                                   timeout=300)
        log = api.task_log(EMR_DAG, run_id, "terminate_cluster", failed_try["try_number"])
        errors = [ln for ln in log.splitlines() if "Error" in ln or "error" in ln]
        line = errors[-1].strip() if errors else ""
        time.sleep(max(0.0, down_for - (time.monotonic() - crashed)))
        said = inject.recover(cfg)                            # `labkit up`
        final = follow_through(api, EMR_DAG, run_id)
        tis = api.task_instances(EMR_DAG, run_id)
        tries = {ti["task_id"]: ti["try_number"] for ti in tis}
        cid = api.get(f"dags/{EMR_DAG}/dagRuns/{run_id}/taskInstances/create_emr_cluster/xcomEntries/return_value"
                      )["value"]
        cluster = emr_client.client(cfg).describe_cluster(ClusterId=cid.strip('"'))["Cluster"]["Status"]
    finally:
        if airflow.pid():
            api.pause(EMR_DAG)
    rows = emr_client.results(cfg, ds)
    return Outcome("emr endpoint killed as the cluster's teardown is due", line.split(" - ")[-1][:300],
                   0 if rows else 1, max(0, len(rows) - 1), "labkit up (terminate_cluster's retry)",
                   final == "success" and tries.get("terminate_cluster", 0) >= 2 and rows == [(ds, expected)]
                   and cluster.get("State") == "TERMINATED",
                   detail=f"run {final}; tries {tries}; cluster {cluster.get('State')}; rows {rows}; up said {said}")


# -- the lab's processes ------------------------------------------------------------------------------------
def stale_pid_file(cfg, work: Path) -> Outcome:
    """PostgreSQL stopped, its pid file left naming an unrelated live program (a reused pid): `labkit up` must
    neither trust nor signal it, and start the real server; its tables are all there."""
    expected = generate_day(cfg, DAY)
    pg = services.get(cfg, "postgres")
    pg.stop()
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        pg.pid_file.write_text(f"{bystander.pid}\n")         # what an older labkit wrote: a bare pid
        said = inject.recover(cfg, "postgres")
        alive = bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
    line = next((s for s in said if s.startswith("postgres:")), "")
    lost, doubled = lost_doubled(pg_counts(cfg, daily_runs.TABLE, day_where(DAY)), expected)
    return Outcome("a stale pid file naming an unrelated live process", line, lost, doubled, "labkit up",
                   pg.pid() not in (None, bystander.pid) and "starting on" in line, kept=alive)


def two_ups_at_once(cfg, work: Path) -> Outcome:
    """Two `labkit up postgres mariadb` at once on a fresh lab of their own: the second waits for the first
    (saying so) and reuses what it started; no server is started twice or restarted."""
    env = {**os.environ, "LAB_STATE_DIR": str(work / "two-ups")}
    for key in ("POSTGRES", "MARIADB", "AIRFLOW", "EMR"):
        env[f"LAB_PORT_{key}"] = str(procs.free_port())
    argv = [LABKIT, "up", "postgres", "mariadb"]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]
    try:
        outputs = [run.communicate(timeout=300) for run in runs]
    finally:
        subprocess.run([LABKIT, "down"], env=env, capture_output=True, timeout=300)
    said = "".join(out for out, _ in outputs)
    once = all(said.count(f"{name}: starting on") == 1 and said.count(f"{name}: already running") == 1
               for name in ("postgres", "mariadb"))
    line = next((ln for ln in said.splitlines() if "waiting for `labkit up`" in ln), "")
    return Outcome("two `labkit up` at once", line, None, None, "none needed (the second waits)",
                   [r.returncode for r in runs] == [0, 0] and once and "restarting" not in said, holds_rows=False)


SCENARIOS = {
    "postgres_during_generation": postgres_during_generation,
    "postgres_during_seed_ctas": postgres_during_seed_ctas,
    "postgres_during_daily_generation": postgres_during_daily_generation,
    "postgres_during_import": postgres_during_import,
    "postgres_between_unlogged": postgres_between_unlogged,
    "postgres_between_daily": postgres_between_daily,
    "landing_disk_full": landing_disk_full,
    "truncated_input": truncated_input,
    "mariadb_during_step_write": mariadb_during_step_write,
    "api_server_during_run": api_server_during_run,
    "scheduler_during_task": scheduler_during_task,
    "postgres_during_task": postgres_during_task,
    "emr_endpoint_at_teardown": emr_endpoint_at_teardown,
    "stale_pid_file": stale_pid_file,
    "two_ups_at_once": two_ups_at_once,
}
