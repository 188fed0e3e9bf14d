"""Screenshots of the lab's Airflow UI, taken by a real headless browser (Debian's Chromium via Playwright).

`take(cfg, out_dir, dags=[...], runs=[(dag_id, run_id), ...])` logs in as admin and saves: the DAG list,
the connections page (passwords are never shown there), and the page of each given run. Each page is
checked for what it must show, so a UI that did not render fails loudly instead of saving a blank image.

`python -m labkit.screenshots [OUT_DIR]` (`make screenshots`) saves the pictures the notebooks show from
`images/`: every DAG of dags/ and the latest successful run of each (run notebooks 07 and 08 first).
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from IPython.display import Image

from labkit import config, services
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


def run_picture(cfg: Config, dag_id: str, run_id: str, width: int = 900) -> Image:
    """The UI's page of one run, to display in a notebook: taken now by a headless Chromium in this lab, or,
    on a machine without Chromium (a Mac, say), the picture saved with the tutorial, with one line saying so."""
    try:
        chromium()
    except LabError as exc:
        saved = cfg.root / "images" / f"airflow_run_{dag_id}.png"
        print(f"{exc}; showing the picture saved with the tutorial ({saved.relative_to(cfg.root)}) instead")
        return Image(filename=str(saved), width=width)
    print(f"a headless Chromium opens the Airflow UI, logs in as admin and waits for the page of run {run_id} "
          "to draw ...", flush=True)
    started = time.monotonic()
    [shot] = take(cfg, cfg.state_dir / "screenshots", runs=[(dag_id, run_id)], connections=False)
    print(f"taken in {time.monotonic() - started:.0f} s: {shot}")
    return Image(filename=str(shot), width=width)


def take(cfg: Config, out_dir: Path, dags: list[str] = (), runs: list[tuple[str, str]] = (),
         connections: bool = True, timeout_ms: int = 30_000) -> list[Path]:
    """Log in and save the screenshots; returns their paths. The DAG list is shot when `dags` names the DAGs
    it must show, the connections page unless `connections=False`, and one page per run of `runs`."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _take(cfg, out_dir, dags, runs, connections, timeout_ms)
    # In a notebook an asyncio loop is running, where Playwright's sync API refuses to work: use a thread.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_take, cfg, out_dir, dags, runs, connections, timeout_ms).result()


def _take(cfg: Config, out_dir: Path, dags, runs, connections: bool, timeout_ms: int) -> list[Path]:
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

            if dags:
                shoot("/dags", "airflow_dag_list.png", list(dags))
            if connections:
                shoot("/connections", "airflow_connections.png", ["postgres_default", "mysql_default", "aws_default"])
            for dag_id, run_id in runs:
                shoot(f"/dags/{dag_id}/runs/{run_id}", f"airflow_run_{dag_id}.png", [dag_id])
        finally:
            browser.close()
    return saved


def latest_successful_runs(cfg: Config, dag_ids: list[str]) -> list[tuple[str, str]]:
    """(dag_id, run_id) of each DAG's latest successful run; a DAG without one is an error that says what to run."""
    api = services.get(cfg, "airflow").api()
    found = []
    for dag_id in dag_ids:
        api.wait_for_dag(dag_id)
        ok = [r for r in api.dag_runs(dag_id) if r["state"] == "success"]
        if not ok:
            raise LabError(f"{dag_id} has no successful run to show; run its notebook first "
                           "(07 for airflow_workshop_job, 08 for emr_ephemeral_job, or `make run`)")
        found.append((dag_id, ok[-1]["dag_run_id"]))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", help="where to save them (default: images/)")
    parser.add_argument("--run-of", action="append", metavar="DAG_ID",
                        help="show the latest successful run of this DAG only (repeatable; default: every DAG of dags/)")
    args = parser.parse_args(argv)
    cfg = config.load()
    dag_ids = [path.stem for path in sorted(cfg.dags_dir.glob("*.py"))]   # each file is named after its DAG
    try:
        saved = take(cfg, Path(args.out_dir) if args.out_dir else cfg.root / "images", dags=dag_ids,
                     runs=latest_successful_runs(cfg, args.run_of or dag_ids))
    except LabError as exc:
        print(f"labkit.screenshots: error: {exc}")
        return 1
    for path in saved:
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
