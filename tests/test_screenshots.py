"""The UI screenshots are taken by a real browser that logs in and finds every DAG of dags/ on the page."""
import ast
from pathlib import Path

from PIL import Image

from labkit import screenshots, services

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


def test_make_screenshots_shows_each_dags_latest_successful_run(lab, tmp_path, capsys):
    """`python -m labkit.screenshots` (make screenshots): both DAGs' run pages, or a message saying what to run."""
    cfg, _ = lab
    api = services.get(cfg, "airflow").api()
    ran = {d: any(r["state"] == "success" for r in api.dag_runs(d)) for d in dag_ids() if api.wait_for_dag(d)}
    code = screenshots.main([str(tmp_path)])
    out = capsys.readouterr().out
    if all(ran.values()):
        assert code == 0
        assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
            ["airflow_dag_list.png", "airflow_connections.png"] + [f"airflow_run_{d}.png" for d in ran])
    else:
        missing = next(d for d, ok in ran.items() if not ok)
        assert code == 1 and f"{missing} has no successful run to show; run its notebook first" in out


def test_without_chromium_the_saved_picture_is_shown_with_one_line(monkeypatch, tmp_path, capsys):
    import labkit

    monkeypatch.setenv("PATH", str(tmp_path))          # no chromium on this PATH
    cfg = labkit.load()
    picture = screenshots.run_picture(cfg, "airflow_workshop_job", "any-run")
    said = capsys.readouterr().out.strip()
    assert "\n" not in said and said.startswith("Chromium not found")
    assert "images/airflow_run_airflow_workshop_job.png" in said
    assert picture.filename == str(ROOT / "images" / "airflow_run_airflow_workshop_job.png")
