"""The state machine behind the local EMR endpoint: clusters, steps, their processes, persisted as JSON.

Clusters go STARTING -> BOOTSTRAPPING -> WAITING/RUNNING -> TERMINATING -> TERMINATED (or
TERMINATED_WITH_ERRORS); steps PENDING -> RUNNING -> COMPLETED/FAILED/CANCELLED, in the order they were
added, `StepConcurrencyLevel` at a time (1 unless RunJobFlow or ModifyCluster says otherwise). What EMR
decides, this decides the same way: `ActionOnFailure` (CONTINUE, CANCEL_AND_WAIT,
TERMINATE_CLUSTER/TERMINATE_JOB_FLOW), `KeepJobFlowAliveWhenNoSteps` (default false: the cluster ends when
its steps are done), `AutoTerminationPolicy.IdleTimeout`, and terminating a cluster kills its running steps.
The operations that only read or change settings live in `describe` and `modify`; `api` lists them all.

Every change is written to `<state>/emr/state.json`, so DescribeCluster answers after a restart. A clean
stop (`labkit down`) ends every live cluster (TERMINATED_WITH_ERRORS) and cancels its steps. A step's process
cannot outlive the endpoint (`steprun`), so after a crash each step that was running is FAILED on restart,
with that reason, and its ActionOnFailure applies; the clusters go on from where they were.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from labkit import hadoop_client, procs
from labkit.emr import bucket, records, steplogs, steprun
from labkit.emr.records import ApiError
from labkit.emr.steps import StepError, local_command, step_env

LIVE = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING")
TERMINAL = ("TERMINATED", "TERMINATED_WITH_ERRORS")
LOST = "The local EMR endpoint stopped (it was killed or crashed) while this step ran; its process died with it"



# A hung step stops billing on EMR when YARN ends its application (the cluster's capacity-scheduler configuration,
# which the DAGs set: EMR_STEP_LIFETIME_SECONDS); the endpoint ends the step's process likewise, and it FAILED.
LIFETIME_PROPERTY = "yarn.scheduler.capacity.root.default.maximum-application-lifetime"


def application_lifetime(configurations) -> float | None:
    """Seconds YARN lets an application of the default queue run on this cluster (None: no limit)."""
    for item in configurations or []:
        if item.get("Classification") == "capacity-scheduler":
            try:
                value = float((item.get("Properties") or {}).get(LIFETIME_PROPERTY, 0))
            except ValueError:
                return None
            return value if value > 0 else None
    return None

class Engine:
    def __init__(self, state_dir: Path, *, cores: int = 2, transition_seconds: float = 1.0,
                 idle_timeout_factor: float = 1.0, spark_defaults: dict[str, str] | None = None):
        self.state_dir = Path(state_dir)
        self.file = self.state_dir / "emr" / "state.json"
        self.s3_dir = self.state_dir / "s3"
        self.cores = cores
        self.spark_defaults = dict(spark_defaults or {})   # the "cluster's" spark-defaults for every step
        self.transition = transition_seconds
        self.idle_factor = idle_timeout_factor
        self.lock = threading.RLock()
        self.clusters: dict[str, dict] = {}
        self.procs: dict[str, subprocess.Popen] = {}       # step id -> its running process group
        self._logs: dict[str, tuple] = {}                  # step id -> (stdout file, stderr file)
        self._load()

    # -- persistence --------------------------------------------------------------------------------
    def _load(self) -> None:
        if self.file.exists():
            data = json.loads(self.file.read_text())
            self.clusters = {c["Id"]: c for c in data.get("clusters", [])}
        for cluster in self.clusters.values():
            if "_machines" not in cluster:    # a record of an older endpoint: one master, as many nodes as it had
                cluster.update(records.machines_of_old_record(cluster))
        with self.lock:
            for cluster in self.clusters.values():
                for step in self._running(cluster):      # the endpoint died (a clean stop leaves none running)
                    self._recover(cluster, step)
            self.save()

    def _recover(self, cluster: dict, step: dict) -> None:
        """A step that was running when the endpoint died: its process died with it (steprun); if a part of it
        is somehow left, it is killed now. The step FAILED, and its ActionOnFailure applies as on EMR."""
        pid = step.get("_pid")
        try:
            alive = pid is not None and abs(psutil.Process(pid).create_time() - step.get("_pid_started", 0)) < 1
        except psutil.Error:
            alive = False
        if alive:
            procs.stop(pid, sig=signal.SIGKILL, timeout=5.0)
        self._finish_step(cluster, step, None, time.time(), reason=LOST, detail=LOST)

    def save(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": 1, "clusters": list(self.clusters.values())}, indent=1))
        tmp.replace(self.file)

    # -- lookups --------------------------------------------------------------------------------------
    def cluster(self, cluster_id: str | None) -> dict:
        cluster = self.clusters.get(cluster_id or "")
        if cluster is None:
            raise ApiError("InvalidRequestException", f"Cluster id '{cluster_id}' is not valid.")
        return cluster

    def step(self, cluster: dict, step_id: str | None) -> dict:
        for step in cluster["_steps"]:
            if step["Id"] == step_id:
                return step
        raise ApiError("InvalidRequestException", f"Step id '{step_id}' is not valid.")

    # -- the API ----------------------------------------------------------------------------------------
    def run_job_flow(self, region: str, req: dict) -> dict:
        cluster = records.new_cluster(region, req, time.time())
        cluster["_next"] += self.transition
        with self.lock:
            self.clusters[cluster["Id"]] = cluster
            self.save()
        return {"JobFlowId": cluster["Id"], "ClusterArn": cluster["ClusterArn"]}

    def add_job_flow_steps(self, region: str, req: dict) -> dict:
        with self.lock:
            cluster = self.cluster(req.get("JobFlowId"))
            if cluster["Status"]["State"] not in ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"):
                raise ApiError("ValidationException",
                               "A job flow that is shutting down, terminated, or finished may not be modified.")
            steps = [records.new_step(s) for s in req.get("Steps") or []]
            cluster["_steps"] += steps
            self.save()
            return {"StepIds": [s["Id"] for s in steps]}

    def terminate_job_flows(self, region: str, req: dict) -> dict:
        ids = req.get("JobFlowIds") or []
        with self.lock:
            clusters = []
            for cluster_id in ids:
                cluster = self.clusters.get(cluster_id)
                if cluster is None:
                    raise ApiError("ValidationException", f"Specified job flow ID not valid: {cluster_id}")
                clusters.append(cluster)
            protected = [c["Id"] for c in clusters if c["TerminationProtected"] and c["Status"]["State"] in LIVE]
            if protected:
                raise ApiError("ValidationException", "Could not shut down one or more job flows since they are "
                                                      f"termination protected: {', '.join(protected)}")
            for cluster in clusters:
                if cluster["Status"]["State"] in LIVE and cluster["Status"]["State"] != "TERMINATING":
                    self._begin_termination(cluster, "TERMINATED", "USER_REQUEST", "Terminated by user request")
            self.save()
        return {}

    def cancel_steps(self, region: str, req: dict) -> dict:
        with self.lock:
            cluster = self.cluster(req.get("ClusterId"))
            infos = []
            for step_id in req.get("StepIds") or []:
                step = next((s for s in cluster["_steps"] if s["Id"] == step_id), None)
                state = step["Status"]["State"] if step else None
                if state == "PENDING":
                    self._set_step(step, "CANCELLED", "Cancelled by user request")
                    infos.append({"StepId": step_id, "Status": "SUBMITTED", "Reason": ""})
                elif state == "RUNNING":
                    self._kill_step(step, "Cancelled by user request")
                    infos.append({"StepId": step_id, "Status": "SUBMITTED", "Reason": ""})
                else:
                    infos.append({"StepId": step_id, "Status": "FAILED",
                                  "Reason": "Step not found" if step is None else f"Step is {state}"})
            self.save()
        return {"CancelStepsInfoList": infos}

    # -- the lifecycle (called by the ticker thread and on shutdown) -------------------------------------
    def tick(self) -> None:
        with self.lock:
            changed = False
            for cluster in self.clusters.values():
                if cluster["Status"]["State"] in LIVE:
                    changed |= self._advance(cluster, time.time())
            if changed:
                self.save()

    def _set_state(self, cluster: dict, state: str, code: str | None = None, message: str = "") -> None:
        status = cluster["Status"]
        status["State"] = state
        status["StateChangeReason"] = {"Code": code, "Message": message} if code else (
            {"Message": message} if message else {})

    def _advance(self, cluster: dict, now: float) -> bool:
        state = cluster["Status"]["State"]
        if state in ("STARTING", "BOOTSTRAPPING"):
            if now < cluster["_next"]:
                return False
            if state == "STARTING":
                self._set_state(cluster, "BOOTSTRAPPING", message="Running bootstrap actions")
                cluster["_next"] = now + self.transition
            else:
                self._set_state(cluster, "WAITING", message="Cluster ready to run steps.")
                cluster["Status"]["Timeline"]["ReadyDateTime"] = now
                cluster["_idle_since"] = now
            return True
        if state == "TERMINATING":
            ended = False
            for step in self._running(cluster):
                code = self._reap(step)
                if code is not None:
                    self._finish_step(cluster, step, code, now)
                    ended = True
            if now < cluster["_next"] or self._running(cluster):
                return ended
            final, code, message = cluster["_final"]
            self._set_state(cluster, final, code, message)
            cluster["Status"]["Timeline"]["EndDateTime"] = now
            return True
        # RUNNING or WAITING: end the steps past YARN's application lifetime, reap the steps that ended, start
        # pending ones up to StepConcurrencyLevel
        changed = False
        lifetime = application_lifetime(cluster.get("Configurations"))
        for step in self._running(cluster):
            started = step["Status"]["Timeline"].get("StartDateTime") or now
            if lifetime and "_lifetime" not in step and step["Status"]["State"] == "RUNNING" \
                    and now - started >= lifetime:
                step["_lifetime"] = (f"YARN ended the step's application after its lifetime of {lifetime:g} s "
                                     f"(capacity-scheduler {LIFETIME_PROPERTY})")
                proc = self.procs.get(step["Id"])
                if proc is not None and proc.poll() is None:
                    threading.Thread(target=procs.stop, args=(proc.pid,), kwargs={"timeout": 10.0},
                                     daemon=True).start()
            code = self._reap(step)
            if code is not None:
                self._finish_step(cluster, step, code, now)
                changed = True
        for step in cluster["_steps"]:
            busy = len(self._running(cluster))
            if cluster["Status"]["State"] == "TERMINATING" or busy >= cluster["StepConcurrencyLevel"]:
                break
            if step["Status"]["State"] == "PENDING":
                self._start_step(cluster, step, now)
                changed = True
        if cluster["Status"]["State"] == "TERMINATING" or self._running(cluster):
            return changed
        if cluster["AutoTerminate"]:
            failed = any(s["Status"]["State"] == "FAILED" for s in cluster["_steps"])
            self._begin_termination(cluster, "TERMINATED", "ALL_STEPS_COMPLETED",
                                    "Steps completed with errors" if failed else "Steps completed")
            return True
        policy = cluster["_auto_termination"]
        if policy and now - cluster["_idle_since"] >= policy["IdleTimeout"] * self.idle_factor:
            self._begin_termination(cluster, "TERMINATED", "ALL_STEPS_COMPLETED",
                                    f"Cluster was idle for {policy['IdleTimeout']} s (auto-termination policy)")
            return True
        if state != "WAITING":
            self._set_state(cluster, "WAITING", message="Cluster ready after last step completed.")
            return True
        return False

    @staticmethod
    def _running(cluster: dict) -> list[dict]:
        return [s for s in cluster["_steps"] if s["Status"]["State"] in ("RUNNING", "CANCEL_PENDING")]

    def _reap(self, step: dict) -> int | None:
        """The exit code of the step's process, or None while it runs."""
        proc = self.procs.get(step["Id"])
        if proc is None:
            return -1          # no process (the endpoint restarted): treat as gone
        return proc.poll()

    def _set_step(self, step: dict, state: str, message: str = "") -> None:
        status = step["Status"]
        status["State"] = state
        status["StateChangeReason"] = {"Message": message} if message else {}
        now = time.time()
        if state == "RUNNING":
            status["Timeline"]["StartDateTime"] = now
        elif state in ("COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED"):
            status["Timeline"]["EndDateTime"] = now

    # -- steps ----------------------------------------------------------------------------------------------
    def step_log_uri(self, cluster: dict, step: dict) -> str:
        return f"{cluster['LogUri'].rstrip('/')}/{cluster['Id']}/steps/{step['Id']}/"

    def step_log_dir(self, cluster: dict, step: dict) -> Path:
        """Where a step's stdout/stderr go: under LogUri (as EMR), else the endpoint's own folder."""
        if cluster.get("LogUri"):
            return bucket.local_path(self.s3_dir, self.step_log_uri(cluster, step))
        return self.state_dir / "emr" / "steps" / cluster["Id"] / step["Id"]

    def step_spark_defaults(self) -> dict[str, str]:
        """The cluster's spark-defaults, with the lab's class-data archive once it is built (hadoop_client: Spark's
        jars first on the class path, then the archive's flag): a step's JVM starts on half the CPU."""
        defaults = {"spark.driver.extraClassPath": hadoop_client.class_path_first(), **self.spark_defaults}
        if (flag := hadoop_client.archive_option()):
            java = defaults.get("spark.driver.extraJavaOptions", "")
            defaults["spark.driver.extraJavaOptions"] = f"{java} {flag}".strip()
        return defaults

    def _start_step(self, cluster: dict, step: dict, now: float) -> None:
        self._set_state(cluster, "RUNNING", message="Running step")
        self._set_step(step, "RUNNING")
        log_dir = self.step_log_dir(cluster, step)
        log_dir.mkdir(parents=True, exist_ok=True)
        try:
            argv = local_command(step["Config"], s3_dir=self.s3_dir, cores=self.cores,
                                 defaults=self.step_spark_defaults())
        except StepError as exc:
            (log_dir / "stderr").write_text(f"{exc}\n")
            self._finish_step(cluster, step, None, now, reason=str(exc))
            return
        (log_dir / "controller").write_text(
            f"{time.strftime('%Y-%m-%dT%H:%M:%S')} INFO Step {step['Id']} ({step['Name']}) on cluster "
            f"{cluster['Id']}\nINFO EMR args: {json.dumps(step['Config']['Args'])}\n"
            f"INFO local command: {' '.join(argv)}\n")
        out, err = open(log_dir / "stdout", "wb"), open(log_dir / "stderr", "wb")
        work = self.state_dir / "emr" / "work" / step["Id"]
        work.mkdir(parents=True, exist_ok=True)
        try:
            proc = subprocess.Popen([sys.executable, steprun.__file__, str(os.getpid()), "--", *argv],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=step_env(), cwd=work,
                                    start_new_session=True)
        except OSError as exc:
            out.close(), err.close()
            self._finish_step(cluster, step, None, now, reason=f"cannot start {argv[0]}: {exc}")
            return
        self.procs[step["Id"]], self._logs[step["Id"]] = proc, (out, err)
        step["_pid"], step["_pid_started"] = proc.pid, psutil.Process(proc.pid).create_time()

    def _finish_step(self, cluster: dict, step: dict, code: int | None, now: float, reason: str = "",
                     detail: str = "Step could not start.") -> None:
        log_dir = self.step_log_dir(cluster, step)
        for fh in self._logs.pop(step["Id"], ()):
            fh.close()
        self.procs.pop(step["Id"], None)
        shutil.rmtree(self.state_dir / "emr" / "work" / step["Id"], ignore_errors=True)
        cancelled = step.pop("_cancel", None)
        if (expired := step.pop("_lifetime", None)) and not cancelled:
            reason, code = expired, code if code else 137
        with open(log_dir / "controller", "a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} INFO Step ended: exit code {code}"
                     f"{', cancelled: ' + cancelled if cancelled else ''}\n")
        message = self._as_s3(reason or steplogs.failure_reason(log_dir))
        steplogs.compress(log_dir)
        cluster["_idle_since"] = now
        if cancelled:
            self._set_step(step, "CANCELLED", cancelled)
            return
        if code == 0:
            self._set_step(step, "COMPLETED")
            return
        self._set_step(step, "FAILED")
        log_file = (self.step_log_uri(cluster, step) + "stderr.gz") if cluster.get("LogUri") \
            else str(log_dir / "stderr.gz")
        step["Status"]["FailureDetails"] = {
            "Reason": message or "Unknown Error.",
            "Message": f"Step failed with exit code {code}." if code is not None else detail,
            "LogFile": log_file,
        }
        action = step["ActionOnFailure"]
        if action in ("CANCEL_AND_WAIT", "TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW"):
            for other in cluster["_steps"]:
                if other["Status"]["State"] == "PENDING":
                    self._set_step(other, "CANCELLED", f"Cancelled because step {step['Id']} failed ({action})")
        if action in ("TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW"):
            self._begin_termination(cluster, "TERMINATED_WITH_ERRORS", "STEP_FAILURE", "Shut down as step failed")

    def _as_s3(self, text: str) -> str:
        """Local bucket paths in an error message, written back as the s3:// URIs the step used."""
        root = str(self.s3_dir.resolve())
        for prefix in (f"file://{root}/", f"file:{root}/", f"{root}/"):
            text = text.replace(prefix, "s3://")
        return text

    def _kill_step(self, step: dict, reason: str) -> None:
        """Ask the step's process group to stop (SIGTERM, then SIGKILL); the ticker records the end."""
        step["_cancel"] = reason
        step["Status"]["State"] = "CANCEL_PENDING"
        proc = self.procs.get(step["Id"])
        if proc is not None and proc.poll() is None:
            threading.Thread(target=procs.stop, args=(proc.pid,), kwargs={"timeout": 10.0}, daemon=True).start()

    def _begin_termination(self, cluster: dict, final: str, code: str, message: str) -> None:
        self._set_state(cluster, "TERMINATING", code, message)
        cluster["_final"] = (final, code, message)
        cluster["_next"] = time.time() + self.transition
        for step in cluster["_steps"]:
            state = step["Status"]["State"]
            if state == "PENDING":
                self._set_step(step, "CANCELLED", "Job flow terminated")
            elif state == "RUNNING":
                self._kill_step(step, "Job flow terminated")

    def _abandon(self, cluster: dict, message: str) -> None:
        for step in cluster["_steps"]:
            if step["Status"]["State"] in ("PENDING", "RUNNING", "CANCEL_PENDING"):
                step.pop("_cancel", None)
                self._set_step(step, "CANCELLED", message)
        self._set_state(cluster, "TERMINATED_WITH_ERRORS", "INTERNAL_ERROR", message)
        cluster["Status"]["Timeline"]["EndDateTime"] = time.time()

    def shutdown(self) -> None:
        """Stop every running step and record every live cluster as ended (the lab is going down)."""
        message = "The local EMR endpoint was stopped (labkit down) while this cluster was running"
        with self.lock:
            for cluster in self.clusters.values():
                if cluster["Status"]["State"] not in LIVE:
                    continue
                for step in self._running(cluster):
                    proc = self.procs.get(step["Id"])
                    if proc is not None and proc.poll() is None:
                        procs.stop(proc.pid, timeout=10.0)
                    step["_cancel"] = message
                    self._finish_step(cluster, step, proc.poll() if proc else None, time.time())
                self._abandon(cluster, message)
            self.save()

    def run_ticker(self, stop: threading.Event, interval: float = 0.25) -> None:
        while not stop.wait(interval):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the ticker must survive one bad record
                print(f"emr: tick failed: {exc!r}", flush=True)
