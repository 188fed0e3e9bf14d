"""Do a notebook as a learner would, in JupyterLab in headless Chromium: run each cell with Ctrl+Enter, and
before each exercise check, write one's own answer (answers.py, not the solutions) into the DAG file in
JupyterLab's editor (File > Open from Path...) and save it (Ctrl+S).

A maintainer's tool, not a test (it takes as long as the notebook): with the lab up and
`JUPYTER_TOKEN=t .venv/bin/labkit jupyter` running,

  .venv/bin/python scripts/learner_trial/drive.py http://127.0.0.1:8888 t notebooks/07_workshop_dag.ipynb \
      workspace/dags/my_workshop_job.py notebooks/skeletons/my_workshop_job.py 07 /tmp/trial06

usage: drive.py BASE_URL TOKEN NB_API_PATH DAG_API_PATH SKELETON {07|08|grow} OUTDIR

`07` fills the skeleton's TODO blocks (answers.W); `08` puts the learner's tasks in place of the starting file's
`pass` (answers.E, whole DAG bodies); `grow` (notebooks 04-06, whose exercises grow the learner's own file):
before a check, each attempt of answers.G (plausible mistakes first, the working answer last) is written as the
whole file and the check cell run once per attempt; SKELETON is then unused (give -).
Writes OUTDIR/<nb>.jsonl (one line per cell: index, seconds to first output, seconds, error?, last output lines)
and screenshots.
"""
import json
import re
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import answers  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

base, token, nb_path, dag_path, skeleton, which, outdir = sys.argv[1:8]
out = Path(outdir); out.mkdir(parents=True, exist_ok=True)
blocks = {"07": answers.W, "grow": answers.G}.get(which, answers.E)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def nb_cells():
    req = urllib.request.Request(f"{base}/api/contents/{nb_path}?content=1", headers={"Authorization": f"token {token}"})
    return json.load(urllib.request.urlopen(req))["content"]["cells"]


def stages(cells):
    """cell index -> which exercise blocks must be written before it runs (cumulative)."""
    done, plan = [], {}
    for i, c in enumerate(cells):
        if c["cell_type"] != "code":
            continue
        ids = re.findall(r'check(?:_all)?\(([^)]*)\)', c["source"])
        if ids:
            keys = re.findall(r'"(\d\d\.\d)"', ids[0])
            keys = [k for k in keys if k in blocks]
            if keys:
                done = done + [k for k in keys if k not in done]
                plan[i] = list(done)
    return plan


def write_in_editor(page, text):
    page.click("text=File", timeout=20000)
    page.click("text=Open from Path…", timeout=20000)
    page.fill(".jp-Dialog input", dag_path)
    page.keyboard.press("Enter")
    page.wait_for_selector(".jp-FileEditor .cm-content", timeout=30000)
    time.sleep(1)
    editor = page.locator(".jp-FileEditor:visible .cm-content").first
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)
    page.keyboard.press("Control+s")
    time.sleep(2)
    page.screenshot(path=str(out / f"{which}-editor-{int(time.time())}.png"))
    # back to the notebook tab
    page.locator(".lm-TabBar-tab", has_text=Path(nb_path).name).first.click()
    time.sleep(1)


def run_cell(page, log, i, cell, attempt=None):
    node = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(i)
    node.scroll_into_view_if_needed()
    node.locator(".jp-InputPrompt").click()
    t0 = time.monotonic()
    page.keyboard.press("Control+Enter")     # run this cell, stay on it
    first = None
    while True:
        prompt = node.locator(".jp-InputPrompt").inner_text()
        txt = node.locator(".jp-OutputArea").inner_text() if node.locator(".jp-OutputArea").count() else ""
        if first is None and txt.strip():
            first = time.monotonic() - t0
        if "*" not in prompt and time.monotonic() - t0 > 0.5:
            break
        if time.monotonic() - t0 > 1800:
            break
        time.sleep(0.25)
    secs = time.monotonic() - t0
    txt = node.locator(".jp-OutputArea").inner_text() if node.locator(".jp-OutputArea").count() else ""
    err = bool(node.locator("[data-mime-type='application/vnd.jupyter.stderr']").count()
               and re.search(r"Traceback|Error", txt)) or "Traceback (most recent call last)" in txt
    rec = {"cell": i, "attempt": attempt, "first_output_s": None if first is None else round(first, 1), "seconds": round(secs, 1),
           "error": err, "source": cell["source"][:80], "tail": txt.strip().splitlines()[-6:]}
    log.write(json.dumps(rec) + "\n"); log.flush()
    print(json.dumps(rec)[:300], flush=True)
    if secs > 3:
        page.screenshot(path=str(out / f"{which}-cell{i:02d}{'' if attempt is None else f'-{attempt}'}.png"))


def main():
    cells = nb_cells()
    plan = stages(cells)
    skel = Path(skeleton).read_text() if which != "grow" else ""
    log = open(out / f"{which}.jsonl", "w")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(f"{base}/lab/tree/{nb_path}?reset&token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120000)
        time.sleep(5)
        for i, cell in enumerate(cells):
            if cell["cell_type"] != "code":
                continue
            if i in plan and which != "grow":
                write_in_editor(page, answers.fill(skel, blocks, plan[i]) if which == "07" else
                                answers.grow(skel, blocks[plan[i][-1]]))
            if which == "grow" and i in plan:
                for n, attempt in enumerate(blocks[plan[i][-1]]):
                    write_in_editor(page, attempt)
                    run_cell(page, log, i, cell, attempt=n)
            else:
                run_cell(page, log, i, cell)
        page.keyboard.press("Control+s")
        time.sleep(2)
        browser.close()


main()
