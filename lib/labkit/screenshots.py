"""Screenshots of the lab's Airflow UI, taken by a real headless browser (Debian's Chromium via Playwright).

`take(cfg, out_dir, dags=[...], run=(dag_id, run_id))` logs in as admin and saves: the DAG list, the
connections page (passwords are never shown there), and, when given, a finished run's page. Each page is
checked for what it must show, so a UI that did not render fails loudly instead of saving a blank image.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from labkit import services
from labkit.config import Config
from labkit.errors import LabError

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise LabError("Chromium not found: install Debian's `chromium` package (make setup does it)")


def take(cfg: Config, out_dir: Path, dags: list[str] = (), run: tuple[str, str] | None = None,
         timeout_ms: int = 30_000) -> list[Path]:
    """Log in and save the screenshots; returns their paths."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _take(cfg, out_dir, dags, run, timeout_ms)
    # In a notebook an asyncio loop is running, where Playwright's sync API refuses to work: use a thread.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_take, cfg, out_dir, dags, run, timeout_ms).result()


def _take(cfg: Config, out_dir: Path, dags, run, timeout_ms: int) -> list[Path]:
    from playwright.sync_api import sync_playwright

    airflow = services.get(cfg, "airflow")
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            page.set_default_timeout(timeout_ms)
            page.goto(f"{airflow.url}/", wait_until="networkidle")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", airflow.admin_password())
            page.click("button[type=submit]")
            page.wait_for_url(f"{airflow.url}/", timeout=timeout_ms)

            def shoot(path: str, name: str, must_show: list[str]) -> None:
                page.goto(f"{airflow.url}{path}", wait_until="networkidle")
                for text in must_show:
                    page.get_by_text(text, exact=False).first.wait_for(state="visible")
                page.wait_for_timeout(500)   # let charts finish drawing
                target = out_dir / name
                page.screenshot(path=str(target))
                saved.append(target)

            shoot("/dags", "airflow_dag_list.png", list(dags))
            shoot("/connections", "airflow_connections.png", ["postgres_default", "mysql_default", "aws_default"])
            if run:
                dag_id, run_id = run
                shoot(f"/dags/{dag_id}/runs/{run_id}", f"airflow_run_{dag_id}.png", [dag_id])
        finally:
            browser.close()
    return saved
