"""labkit's REST client of the lab's Airflow: what it reads from logs and runs."""
import pytest

from labkit.airflow_api import command_output


def test_command_output_keeps_what_the_command_printed_blank_lines_included():
    log = "\n".join([
        "[2026-11-22T07:43:38Z] INFO Running command: ['/usr/bin/bash', '-c', 'labkit sqoop import ...']",
        "[2026-11-22T07:43:38Z] INFO Output:",
        "[2026-11-22T07:43:39Z] INFO importing tbl_airflow_dummy ...",
        "[2026-11-22T07:43:39Z] INFO",                      # an empty line the command printed
        "[2026-11-22T07:43:40Z] WARNING warning: no index starts with 'id'",
        "[2026-11-22T07:43:41Z] INFO Command exited with return code 0",
        "[2026-11-22T07:43:41Z] INFO Task instance in success state",
    ])
    assert command_output(log) == ["importing tbl_airflow_dummy ...", "", "warning: no index starts with 'id'"]


class _Parsed:
    """An AirflowAPI whose `GET dags/<id>` and `GET dagSources/<id>` answer with (last_parsed_time, source) in turn."""

    def __init__(self, *answers):
        from labkit.airflow_api import AirflowAPI

        self.api = AirflowAPI("http://127.0.0.1:1", "admin", "unused")
        self.answers = list(answers)
        self.asked = []                  # the parses asked for (PUT parseDagFile/<token>)
        self.api.request = self.request
        self.api.get = lambda path, **params: {"import_errors": []}

    def request(self, method, path, allow=(), **kwargs):
        import json

        import requests

        resp = requests.Response()
        resp.status_code = 200
        if path.startswith("dagSources/"):
            resp._content = json.dumps({"content": self.answers.pop(0)[1]}).encode()
        elif method == "PUT":
            self.asked.append(path)
        else:
            resp._content = json.dumps({"dag_id": "d", "last_parsed_time": self.answers[0][0],
                                        "file_token": "tok"}).encode()
        return resp


def test_wait_for_dag_waits_for_the_dag_as_the_file_is_now(monkeypatch, tmp_path, capsys):
    import os
    import time
    from datetime import datetime

    import pytest

    from labkit.errors import LabError

    monkeypatch.setattr(time, "sleep", lambda s: None)
    file = tmp_path / "d.py"
    file.write_text("new")
    edited = datetime.fromisoformat("2026-12-01T18:27:00+00:00").timestamp()
    os.utime(file, (edited, edited))
    # parsed after the edit but from the text before it (the parse began before the save): not yet
    fake = _Parsed(("2026-12-01T18:27:01Z", "old"), ("2026-12-01T18:27:03Z", "new"))
    assert fake.api.wait_for_dag("d", file=file)["last_parsed_time"] == "2026-12-01T18:27:03Z" and not fake.answers
    assert "waiting for Airflow's DAG processor to parse d as d.py is now" in capsys.readouterr().out
    # an edit that changed no DAG keeps the older source: two parses after the edit are enough, and it asks for
    # the second once (the lab parses an unchanged file only every few minutes)
    comment = _Parsed(("2026-12-01T18:26:59Z", "old"), ("2026-12-01T18:27:01Z", "old"), ("2026-12-01T18:27:31Z", "old"))
    assert comment.api.wait_for_dag("d", file=file)["last_parsed_time"] == "2026-12-01T18:27:31Z"
    assert comment.asked == ["parseDagFile/tok"] and fake.asked == ["parseDagFile/tok"]
    stale = _Parsed(*[("2026-12-01T18:26:59Z", "old")] * 3)
    with pytest.raises(LabError, match="has not parsed the latest version of DAG 'd' after 0 s"):
        stale.api.wait_for_dag("d", timeout=0, file=file)
    capsys.readouterr()
    first = _Parsed(("2026-12-01T18:26:59Z", "new"))
    assert first.api.wait_for_dag("d", file=file) and capsys.readouterr().out == ""    # no wait, no line


class _Run:
    """An AirflowAPI whose run goes through the given (run state, task states) steps, one per poll."""

    def __init__(self, *steps, paused=False):
        from labkit.airflow_api import AirflowAPI

        self.api = AirflowAPI("http://127.0.0.1:1", "admin", "unused")
        self.steps, self.paused = list(steps), paused
        self.api.dag_run = self.dag_run
        self.api.task_instances = lambda dag_id, run_id: [{"task_id": t, "state": s, "try_number": 1}
                                                         for t, s in self.steps[0][1].items()]
        self.api.get = self.get
        self.api.task_log = lambda *a, **k: "[t] ERROR the task's own error"

    def dag_run(self, dag_id, run_id):
        return {"dag_run_id": run_id, "state": self.steps[0][0]}

    def get(self, path, **params):
        if path == "dags/d":
            return {"is_paused": self.paused}
        assert params == {"state": "running"}
        return {"dag_runs": [{"dag_run_id": "ahead"}, {"dag_run_id": "r"}]}


def _follow(fake, monkeypatch):
    import time

    def sleep(seconds):          # each poll moves the fake run one step on
        fake.steps.pop(0)
    monkeypatch.setattr(time, "sleep", sleep)
    return fake.api.follow("d", "r", interval=0)


def test_follow_says_a_queued_run_is_queued_and_behind_what(monkeypatch, capsys):
    fake = _Run(("queued", {}), ("running", {"a": "running", "b": None}), ("success", {"a": "success", "b": "success"}))
    assert _follow(fake, monkeypatch)["state"] == "success"
    err = capsys.readouterr().err
    assert "queued behind ahead" in err and "failed" not in err
    paused = _Run(("queued", {"a": None}), ("success", {"a": "success"}), paused=True)
    _follow(paused, monkeypatch)
    assert "queued: the DAG is paused" in capsys.readouterr().err


def test_follow_shows_a_failed_run_as_failed_not_as_a_full_green_bar(monkeypatch, capsys):
    fake = _Run(("running", {"a": "running", "b": None}), ("failed", {"a": "failed", "b": "upstream_failed"}))
    assert _follow(fake, monkeypatch)["state"] == "failed"
    captured = capsys.readouterr()
    last = captured.err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("d r: failed") and "2/2" in last and last.rstrip().endswith("a]"), last
    assert "--- a failed; end of its log ---" in captured.out


EDITED_DAG = '''from airflow.sdk import DAG, task

with DAG(dag_id="lab_test_edited_dag", schedule=None, tags=["test"], default_args={"owner": "test", "retries": 0}):
    @task
    def first():
        return 1
{more}
    first()
'''


@pytest.mark.services
def test_wait_for_dag_gives_the_tasks_of_the_dag_as_the_file_is_now(lab):
    """A learner saves a task, the notebook shows the DAG's tasks, the learner saves one more (notebook 08's
    sections 3 and 4): the version has no run yet, so Airflow updates it in place, and the API server served its
    cached copy of it for `min_serialized_dag_update_interval` (30 s by default): the table missed the new task."""
    from labkit import services, workspace

    cfg = lab[0]
    api = services.get(cfg, "airflow").api()
    path = workspace.ensure(cfg) / "lab_test_edited_dag.py"
    try:
        path.write_text(EDITED_DAG.replace("{more}", ""))
        api.wait_for_dag("lab_test_edited_dag", timeout=180, file=path)
        assert [t["task_id"] for t in api.get("dags/lab_test_edited_dag/tasks")["tasks"]] == ["first"]
        path.write_text(EDITED_DAG.replace("{more}", "    @task\n    def second():\n        return 2\n\n    second()\n"))
        api.wait_for_dag("lab_test_edited_dag", timeout=180, file=path)
        assert [t["task_id"] for t in api.get("dags/lab_test_edited_dag/tasks")["tasks"]] == ["first", "second"]
    finally:
        path.unlink(missing_ok=True)
        api.request("DELETE", "dags/lab_test_edited_dag", allow=(404, 409))


def test_a_metadata_database_that_went_away_is_one_line_naming_labkit_up():
    """PostgreSQL killed under a running lab: the api-server answers 500 "Database error" (the learner saw that JSON);
    the line says what stopped and the one command that brings back PostgreSQL and Airflow."""
    import json

    import pytest
    import requests

    from labkit.airflow_api import AirflowAPI
    from labkit.errors import LabError

    api = AirflowAPI("http://127.0.0.1:1", "admin", "unused")
    api._token = "t"
    resp = requests.Response()
    resp.status_code = 500
    resp._content = json.dumps({"detail": {"reason": "Database error", "statement": "hidden"}}).encode()
    api._call = lambda method, url, **kwargs: resp
    with pytest.raises(LabError) as raised:
        api.get("dags/d/dagRuns/r")
    assert str(raised.value) == (
        "Airflow's api-server at http://127.0.0.1:1 cannot reach its metadata database (PostgreSQL stopped?): start "
        "what stopped with `labkit up` (it starts postgres and airflow, which stopped with it); a run that was "
        "running then goes on (its interrupted task is tried again)")
