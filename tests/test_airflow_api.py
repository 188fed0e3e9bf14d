"""The REST client's tables: runs and task instances, finished or still running."""
from labkit.airflow_api import command_output, gantt_frame, runs_frame

TIS = [
    {"task_id": "b", "state": "running", "start_date": "2021-01-01T00:00:05Z", "end_date": None},
    {"task_id": "a", "state": "success", "start_date": "2021-01-01T00:00:00Z", "end_date": "2021-01-01T00:00:04.5Z"},
    {"task_id": "c", "state": None, "start_date": None, "end_date": None},
]


def test_gantt_frame_orders_by_start_and_measures_finished_tasks():
    frame = gantt_frame(TIS)
    assert list(frame["task_id"][:2]) == ["a", "b"]
    assert frame.loc[0, "seconds"] == 4.5
    assert frame["seconds"].isna().sum() == 2


def test_runs_frame_mixes_finished_and_running_runs():
    runs = [{"dag_run_id": "r1", "run_type": "manual", "logical_date": "2021-01-02T00:00:00Z", "state": "success",
             "start_date": "2021-01-02T00:00:00Z", "end_date": "2021-01-02T00:01:00Z"},
            {"dag_run_id": "r2", "run_type": "backfill", "logical_date": None, "state": "queued",
             "start_date": None, "end_date": None}]
    frame = runs_frame(runs)
    assert list(frame["seconds"][:1]) == [60.0]
    assert frame.loc[1, "logical date"] == "" and frame["seconds"].isna().tolist() == [False, True]


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
    """An AirflowAPI whose `GET dags/<id>` answers with last_parsed_time values in turn."""

    def __init__(self, *stamps):
        from labkit.airflow_api import AirflowAPI

        self.api = AirflowAPI("http://127.0.0.1:1", "admin", "unused")
        self.stamps = list(stamps)
        self.api.request = self.request
        self.api.get = lambda path, **params: {"import_errors": []}

    def request(self, method, path, allow=(), **kwargs):
        import requests

        resp = requests.Response()
        resp.status_code = 200
        resp._content = ('{"dag_id": "d", "last_parsed_time": "%s"}' % self.stamps.pop(0)).encode()
        return resp


def test_wait_for_dag_waits_for_the_version_parsed_after_an_edit(monkeypatch):
    import time
    from datetime import datetime

    import pytest

    from labkit.errors import LabError

    monkeypatch.setattr(time, "sleep", lambda s: None)
    edited = datetime.fromisoformat("2026-12-01T18:27:00+00:00").timestamp()
    fake = _Parsed("2026-12-01T18:26:59.866297Z", "2026-12-01T18:27:01.000000Z")
    assert fake.api.wait_for_dag("d", parsed_after=edited)["last_parsed_time"].startswith("2026-12-01T18:27:01")
    assert fake.stamps == []                                   # it asked again after the older parse
    stale = _Parsed(*["2026-12-01T18:26:59Z"] * 3)
    with pytest.raises(LabError, match="has not parsed the latest version of DAG 'd' after 0 s"):
        stale.api.wait_for_dag("d", timeout=0, parsed_after=edited)
