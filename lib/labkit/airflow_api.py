"""A small client of the Airflow 3 REST API (v2): token login, connections, variables, health."""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import requests

from labkit.connections import POSTGRES_BACK
from labkit.errors import LabError
from labkit.progress import mark_failed, tqdm


# `[core] min_serialized_dag_update_interval` of the lab's Airflow (seconds; Airflow's default is 30). A DAG
# version with no run yet is updated in place when its file changes, at most this often: a parse within that time
# of the last write is dropped, and the API server serves its cached copy of a version that long before it checks
# the version's hash. At 30 s, a learner's second save within half a minute reached neither the scheduler nor
# `GET dags/<id>/tasks`; at 3 s, two saves 2 s apart left the DAG without the second one's tasks until the file's
# next parse (minutes: an unchanged file is parsed every [dag_processor] min_file_process_interval), which is how
# CI's run of notebook 08 ran a DAG without its teardown. At 0 every parse is compared by hash and written when the
# DAG changed (an unchanged DAG is never rewritten), and the API server checks the hash (one indexed row) per read.
SERIALIZED_DAG_MIN_INTERVAL = 0
# Seconds the import of one DAG file may take (Airflow's `[core] dagbag_import_timeout`, its default): the lab's DAG
# processor and `labkit check` (labkit.exercises.parsing) both stop a file's import after this long.
DAGBAG_IMPORT_TIMEOUT = 30


class AirflowAPI:
    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self._session = requests.Session()
        self._token: str | None = None

    def health(self) -> dict:
        """`/api/v2/monitor/health` (no login needed): status of metadatabase, scheduler, dag_processor, triggerer."""
        resp = self._session.get(f"{self.base_url}/api/v2/monitor/health", timeout=self.timeout)
        resp.raise_for_status()
        return resp.json()

    def _call(self, method: str, url: str, **kwargs) -> requests.Response:
        """One HTTP call; an api-server that is gone (killed, stopped, restarting) is one line saying what to do."""
        try:
            return self._session.request(method, url, timeout=self.timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            why = "did not answer in time" if isinstance(exc, requests.Timeout) else "refused the connection"
            raise LabError(f"Airflow's api-server at {self.base_url} {why} (it stopped, or is starting): "
                           "`labkit status` shows it, `labkit up` starts it again; a run that was running then "
                           "may have failed tasks: clear them to run them again") from None

    def login(self) -> str:
        resp = self._call("POST", f"{self.base_url}/auth/token",
                          json={"username": self.username, "password": self.password})
        if resp.status_code in (401, 403):
            raise LabError(f"Airflow at {self.base_url} rejected the password of user {self.username!r}; "
                           "the generated one is in the lab's secrets folder (labkit status shows where)")
        resp.raise_for_status()
        self._token = resp.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, allow: tuple[int, ...] = (), headers_extra: dict | None = None,
                **kwargs) -> requests.Response:
        """One API call; an error status raises LabError unless it is in `allow`."""
        if self._token is None:
            self.login()
        url = f"{self.base_url}/api/v2/{path.lstrip('/')}"

        def send():
            headers = {"Authorization": f"Bearer {self._token}", **(headers_extra or {})}
            return self._call(method, url, headers=headers, **kwargs)

        resp = send()
        if resp.status_code == 401:  # token expired: log in again once
            self.login()
            resp = send()
        if resp.status_code >= 500 and "Database error" in resp.text:      # its metadata lives in PostgreSQL
            raise LabError(f"Airflow's api-server at {self.base_url} cannot reach its metadata database (PostgreSQL "
                           f"stopped?): start what stopped with {POSTGRES_BACK}; a run that was running then goes on "
                           "(its interrupted task is tried again)")
        if resp.status_code >= 400 and resp.status_code not in allow:
            raise LabError(f"Airflow API {method} {path} answered {resp.status_code}: {resp.text[:300]}")
        return resp

    def get(self, path: str, **params) -> dict:
        return self.request("GET", path, params=params).json()

    def upsert(self, collection: str, entities: list[dict]) -> dict:
        """Create or overwrite connections/variables in one bulk call (idempotent)."""
        body = {"actions": [{"action": "create", "entities": entities, "action_on_existence": "overwrite"}]}
        result = self.request("PATCH", collection, json=body).json()
        errors = result.get("create", {}).get("errors") or []
        if errors:
            raise LabError(f"Airflow refused some {collection}: {errors}")
        return result

    # -- DAGs and their runs ----------------------------------------------------------------------------
    def wait_for_dag(self, dag_id: str, timeout: float = 120.0, file: Path | None = None) -> dict:
        """Wait until the DAG processor has parsed `dag_id` (new files are picked up within ~20 s); with `file`, until
        it has the DAG as that file is now, and say at once what it waits for when it has to wait.

        "As the file is now": the source Airflow keeps with the DAG's latest version (`GET dagSources/<id>`) is the
        file's text. An edit that does not change the DAG (a comment) makes no new version, and the kept source stays
        older: then two parses finished after the file's last change (the second started after it) are enough; it asks
        the DAG processor for that second parse (`PUT parseDagFile`), as an unchanged file is parsed only every
        few minutes.
        Then it waits until SERIALIZED_DAG_MIN_INTERVAL seconds have passed since that parse: the API server may
        serve its cached copy of the version (updated in place when it has no run) that long, and
        `GET dags/<id>/tasks` would be the old DAG.
        """
        text, mtime = (file.read_text(), file.stat().st_mtime) if file is not None else (None, 0.0)
        deadline = time.monotonic() + timeout
        parses, said, asked = set(), False, False
        while True:
            resp = self.request("GET", f"dags/{dag_id}", allow=(404,))
            if resp.status_code == 200:
                if file is None:
                    return resp.json()
                parsed = _epoch(resp.json().get("last_parsed_time"))
                if parsed > mtime:
                    parses.add(parsed)
                same = self._source(dag_id) == text
                if parses and not same and not asked:          # a parse that may have begun before the change
                    asked = True
                    if (token := resp.json().get("file_token")):
                        self.request("PUT", f"parseDagFile/{token}", allow=(404, 409))
                if same or len(parses) >= 2:
                    if (settle := parsed + SERIALIZED_DAG_MIN_INTERVAL - time.time()) > 0:
                        if not said:
                            print(f"Airflow has parsed {file.name} as it is now; waiting {settle:.0f} s for its API "
                                  "to serve that version ...", flush=True)
                        time.sleep(settle)
                    return resp.json()
            if file is not None and not said:
                print(f"waiting for Airflow's DAG processor to parse {dag_id} as {file.name} is now (the workspace "
                      "is looked at every few seconds) ...", flush=True)
                said = True
            if time.monotonic() > deadline:
                errors = self.get("importErrors").get("import_errors", [])
                mine = [e["stack_trace"].strip().splitlines()[-1] for e in errors if dag_id in e.get("filename", "")
                        or dag_id in e.get("stack_trace", "")]
                what = "parsed the latest version of" if resp.status_code == 200 else "loaded"
                raise LabError(f"Airflow has not {what} DAG {dag_id!r} after {timeout:.0f} s"
                               + (f": import error {mine[0]}" if mine else
                                  "; is its file in dags/ or workspace/dags/? (labkit logs airflow)"))
            time.sleep(2)

    def _source(self, dag_id: str) -> str | None:
        """The source code Airflow keeps with the DAG's latest version."""
        resp = self.request("GET", f"dagSources/{dag_id}", allow=(404,), headers_extra={"Accept": "application/json"})
        return resp.json().get("content") if resp.status_code == 200 else None

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"dags/{dag_id}", json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.request("PATCH", f"dags/{dag_id}", json={"is_paused": True})

    def trigger(self, dag_id: str, logical_date: str | None = None, conf: dict | None = None,
                run_id: str | None = None) -> str:
        """Start a run; returns its dag_run_id. `logical_date` is ISO 8601 with a time zone (or None)."""
        body = {"logical_date": logical_date, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"dags/{dag_id}/dagRuns", json=body).json()["dag_run_id"]

    def run_for_date(self, dag_id: str, logical_date: str, conf: dict | None = None) -> str:
        """Run the DAG for one logical date: trigger it, or, when a run for that date exists (a notebook run
        a second time), clear that run so it runs again. Returns the dag_run_id either way."""
        same = self.get(f"dags/{dag_id}/dagRuns", logical_date_gte=logical_date, logical_date_lte=logical_date)
        if not same["dag_runs"]:
            return self.trigger(dag_id, logical_date=logical_date, conf=conf)
        run_id = same["dag_runs"][0]["dag_run_id"]
        self.clear_run(dag_id, run_id)
        return run_id

    def clear_run(self, dag_id: str, run_id: str) -> None:
        """Run an existing run again (all its tasks), as the UI's "Clear" does."""
        self.request("POST", f"dags/{dag_id}/dagRuns/{run_id}/clear", json={"dry_run": False})

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"dags/{dag_id}/dagRuns/{run_id}")

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.get(f"dags/{dag_id}/dagRuns", order_by="logical_date", limit=100)["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int | None = None) -> str:
        """The task's log as text lines (Airflow 3 returns structured events; we print them as lines).

        By default the latest try's: a cleared and rerun task keeps each try's log apart, numbered from 1.
        """
        if try_number is None:
            ti = self.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
            try_number = max(ti.get("try_number") or 1, 1)
        resp = self.request("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                            params={"full_content": "true"}, headers_extra={"Accept": "application/json"})
        lines = []
        for item in resp.json().get("content", []):
            if isinstance(item, str):
                lines.append(item)
            else:
                event = item.get("event", "")
                level = item.get("level", "")
                lines.append(f"[{item.get('timestamp', '')}] {level.upper() + ' ' if level else ''}{event}".rstrip())
                for error in item.get("error_detail") or []:     # the exception itself (the UI shows it too)
                    lines.append(f"{error.get('exc_type', 'Error')}: {error.get('exc_value', '')}")
        return "\n".join(lines)

    def backfill(self, dag_id: str, from_date: str, to_date: str, reprocess: str = "completed",
                 conf: dict | None = None) -> dict:
        """Runs for every logical date in [from_date, to_date] (reprocess: none | failed | completed), one at a
        time; `conf` is every run's conf (it sets the DAG's params). A DAG has one backfill at a time: an earlier
        one whose runs ended is marked complete by the scheduler within seconds, which this waits for."""
        deadline = time.monotonic() + 120
        while active := [b["id"] for b in self.get("backfills", dag_id=dag_id)["backfills"] if not b["completed_at"]]:
            if time.monotonic() > deadline:
                raise LabError(f"backfill {active[0]} of {dag_id} is still active: a DAG has one backfill at a time; "
                               "wait for its runs to end (the UI's Backfills) or cancel it")
            time.sleep(2)
        return self.request("POST", "backfills", json={"dag_id": dag_id, "from_date": from_date, "to_date": to_date,
                                                       "reprocess_behavior": reprocess, "max_active_runs": 1,
                                                       "dag_run_conf": conf or {}}).json()

    def follow(self, dag_id: str, run_id: str, timeout: float = 1800.0, progress: bool = True,
               interval: float = 1.0) -> dict:
        """Wait for a run to finish, with a progress bar over its tasks; returns the final dag run.

        The bar appears at once; while the run is queued it says so (and behind which run, or that the DAG is
        paused), while it runs it names the running tasks; a failed run's bar says `failed` (a red widget).
        On failure, the end of each failed task's log is printed: the one place to look.
        """

        deadline = time.monotonic() + timeout
        bar = None
        shown = None
        try:
            while True:
                run = self.dag_run(dag_id, run_id)
                tis = self.task_instances(dag_id, run_id)
                done = sum(1 for ti in tis if ti["state"] in FINISHED)
                if run["state"] == "queued":
                    note = self._why_queued(dag_id, run_id)
                else:
                    note = ", ".join(f"{ti['task_id']} {ti['state']}" if ti["state"] != "running" else ti["task_id"]
                                     for ti in tis if ti["state"] in ("running", "deferred", "up_for_retry",
                                                                       "up_for_reschedule", "queued"))
                if progress and (done, len(tis), note) != shown:   # redraw only on change: short logs
                    if bar is None:
                        bar = tqdm(total=len(tis) or None, desc=f"{dag_id} {run_id}", unit="task", mininterval=0)
                    bar.total = len(tis) or bar.total
                    bar.n = done
                    bar.set_postfix_str(note, refresh=False)
                    bar.refresh()
                    shown = (done, len(tis), note)
                if run["state"] in ("success", "failed"):
                    break
                if time.monotonic() > deadline:
                    raise LabError(f"run {run_id} of {dag_id} still {run['state']} after {timeout:.0f} s; "
                                   "look at the Airflow UI or `labkit logs airflow`")
                time.sleep(interval)
            if bar is not None and run["state"] == "failed":
                failed = [ti["task_id"] for ti in tis if ti["state"] == "failed"]
                bar.set_postfix_str(", ".join(failed), refresh=False)
                mark_failed(bar)
        finally:
            if bar is not None:
                bar.close()
        if run["state"] == "failed" and progress:
            for ti in self.task_instances(dag_id, run_id):
                if ti["state"] == "failed":
                    log = self.task_log(dag_id, run_id, ti["task_id"], max(ti.get("try_number") or 1, 1))
                    print(f"--- {ti['task_id']} failed; end of its log ---")
                    print("\n".join(log.splitlines()[-25:]))
        return run

    def _why_queued(self, dag_id: str, run_id: str) -> str:
        """Why a queued run waits, in a few words: the DAG is paused, or other runs of it are running."""
        if self.get(f"dags/{dag_id}")["is_paused"]:
            return "queued: the DAG is paused"
        ahead = [r["dag_run_id"] for r in self.get(f"dags/{dag_id}/dagRuns", state="running")["dag_runs"]
                 if r["dag_run_id"] != run_id]
        return f"queued behind {', '.join(ahead)}" if ahead else "queued"


FINISHED = {"success", "failed", "skipped", "upstream_failed", "removed"}


def _epoch(stamp: str | None) -> float:
    """An API timestamp ('2026-12-01T18:26:59.866297Z') as epoch seconds (0 for none)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else 0.0


def command_output(log: str) -> list[str]:
    """What a BashOperator's command printed, from its task log (`task_log`): the lines Airflow logged between
    its `Output:` and `Command exited with return code ...` lines, without timestamps."""
    out, inside = [], False
    for line in log.splitlines():
        text = line.split("] ", 1)[-1]
        level, _, rest = text.partition(" ")
        text = rest if level in ("INFO", "WARNING", "ERROR") else text
        if text == "Output:":
            inside = True
        elif text.startswith("Command exited with return code"):
            inside = False
        elif inside:
            out.append(text)
    return out
