"""The UI screenshots are taken by a real browser that logs in and finds every DAG of dags/ on the page."""
import ast
from pathlib import Path

import pytest
from PIL import Image

from labkit import screenshots, services
from labkit.errors import LabError

ROOT = Path(__file__).resolve().parents[1]


def dag_ids() -> list[str]:
    ids = []
    for path in sorted((ROOT / "dags").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "dag_id" and isinstance(node.value, ast.Constant):
                ids.append(node.value.value)
    return ids


def test_screenshots_show_the_dags_and_the_connections(lab, tmp_path):
    cfg, _ = lab
    api = services.get(cfg, "airflow").api()
    ids = dag_ids()
    for dag_id in ids:
        api.wait_for_dag(dag_id)
    saved = screenshots.take(cfg, tmp_path, dags=ids)
    assert [p.name for p in saved] == ["airflow_dag_list.png", "airflow_connections.png"]
    for path in saved:
        image = Image.open(path).convert("L")
        assert image.size == (1400, 860)
        lo, hi = image.getextrema()
        assert hi - lo > 100, f"{path.name} looks blank"


def test_screenshots_work_inside_a_running_event_loop(lab, tmp_path):
    """Jupyter runs cells inside an asyncio loop, where Playwright's sync API refuses to start."""
    import asyncio

    cfg, _ = lab

    async def in_loop():
        return screenshots.take(cfg, tmp_path)

    # no DAGs named: no DAG list, only the connections page
    assert [p.name for p in asyncio.run(in_loop())] == ["airflow_connections.png"]


def test_make_screenshots_shows_a_dags_latest_successful_run(lab, tmp_path, capsys):
    """`python -m labkit.screenshots` (make screenshots): the DAG list, the connections and a DAG's latest
    successful run. The test gives the workshop DAG one, marked success while the DAG is paused (none of its tasks
    runs), as a finished notebook would leave it, and deletes it again."""
    cfg, _ = lab
    api = services.get(cfg, "airflow").api()
    dag_id = "airflow_workshop_job"
    api.wait_for_dag(dag_id)
    was_paused = api.get(f"dags/{dag_id}")["is_paused"]
    api.pause(dag_id)
    run_id = api.request("POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None}).json()["dag_run_id"]
    try:
        assert api.request("PATCH", f"dags/{dag_id}/dagRuns/{run_id}", json={"state": "success"}).json()["state"] == "success"
        code = screenshots.main([str(tmp_path), "--run-of", dag_id])
        out = capsys.readouterr().out
        assert code == 0, out
        assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
            ["airflow_dag_list.png", "airflow_connections.png", f"airflow_run_{dag_id}.png"])
    finally:
        api.request("DELETE", f"dags/{dag_id}/dagRuns/{run_id}", allow=(404,))
        if not was_paused:
            api.unpause(dag_id)


def test_a_dag_without_a_successful_run_is_one_line_saying_what_to_run(lab):
    cfg, _ = lab
    api = services.get(cfg, "airflow").api()
    probe = cfg.workspace_dags_dir / "screenshot_probe.py"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text('import pendulum\nfrom airflow.sdk import DAG\n\nwith DAG(dag_id="screenshot_probe", schedule=None, '
                     'start_date=pendulum.datetime(2021, 1, 1, tz="UTC")):\n    pass\n')
    try:
        api.wait_for_dag("screenshot_probe", timeout=180)
        with pytest.raises(LabError, match="^screenshot_probe has no successful run to show; run its notebook first"):
            screenshots.latest_successful_runs(cfg, ["screenshot_probe"])
    finally:
        probe.unlink()


def test_without_chromium_the_saved_picture_is_shown_with_one_line(monkeypatch, tmp_path, capsys):
    import labkit

    monkeypatch.setenv("PATH", str(tmp_path))          # no chromium on this PATH
    cfg = labkit.load()
    picture = screenshots.run_picture(cfg, "airflow_workshop_job", "any-run")
    said = capsys.readouterr().out.strip()
    assert "\n" not in said and said.startswith("Chromium not found")
    assert "images/airflow_run_airflow_workshop_job.png" in said
    assert picture.filename == str(ROOT / "images" / "airflow_run_airflow_workshop_job.png")
