"""Run the notebook series headlessly with papermill: in order, stop at the first failure, summarise.

Executed copies and `summary.csv` go to an output folder (default `output/`); the summary table has one
row per notebook: status, seconds, and peak memory of the kernel with everything it started (Spark's JVM).

Outputs policy: notebooks are committed without outputs, except the cells marked `# NBVAL_CHECK_OUTPUT`,
small cells that print deterministic facts (row counts, sums) at smoke scale. Their saved output is what
nbval compares under `make test`; `store_expected` copies it from a green smoke run (`labkit run --store-expected`).
"""
from __future__ import annotations

import contextlib
import csv
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from labkit import exercises, progress, services
from labkit.config import Config
from labkit.errors import LabError


@dataclass
class NotebookResult:
    notebook: str
    status: str          # ok | failed | not run
    seconds: float = 0.0
    peak_memory_mib: float = 0.0
    error: str = ""


def series(cfg: Config, only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks (NN_name.ipynb) in order, optionally only those whose names start with `only`."""
    found = sorted(cfg.notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [nb for nb in found if any(nb.name.startswith(prefix) for prefix in only)]
        if not found:
            raise LabError(f"no notebook in {cfg.notebooks_dir} starts with {', '.join(only)}")
    return found


class PeakMemory:
    """Samples the memory of this process's descendants (the kernel and its JVMs) in a thread."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for child in psutil.Process().children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_series(cfg: Config, only: list[str] | None = None, output: Path | None = None,
               report=print) -> list[NotebookResult]:
    output = Path(output or cfg.root / "output")
    output.mkdir(parents=True, exist_ok=True)
    notebooks = series(cfg, only)
    results = [NotebookResult(nb.name, "not run") for nb in notebooks]
    # No browser draws widgets here: text bars, saved at 100%. No learner writes the exercises: their solutions
    # are applied (a learner's own attempt is kept aside first, see exercises.solve).
    with _environ(**{progress.ENV: "text", exercises.ENV: "1"}):
        _run_each(cfg, notebooks, results, output, report)
    write_summary(results, output / "summary.csv")
    return results


@contextlib.contextmanager
def _environ(**values: str):
    """Set environment variables for the kernels started inside the block (they inherit this process's)."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute(notebook: Path, output: Path, parameters: dict) -> Path:
    """Run one notebook headless in a fresh kernel (which inherits this process's environment) with these
    papermill parameters; the executed copy goes to `output`. A failing cell raises PapermillExecutionError."""
    import papermill
    from traitlets.config import Config as KernelConfig

    # the kernel talks to papermill over Unix sockets in Jupyter's private runtime folder (0700), not
    # over TCP ports on 127.0.0.1 (which ipykernel warns about, once per notebook, as unencrypted)
    kernel_config = KernelConfig({"KernelManager": {"transport": "ipc"}})
    papermill.execute_notebook(str(notebook), str(output), cwd=str(notebook.parent), kernel_name="python3",
                               parameters=parameters, progress_bar=False, config=kernel_config)
    return output


def _run_each(cfg: Config, notebooks: list[Path], results: list[NotebookResult], output: Path, report) -> None:
    from papermill.exceptions import PapermillExecutionError

    for nb, result in zip(notebooks, results):
        report(f"running {nb.name} (profile {cfg.profile}, scale {cfg.scale}) ...")
        start = time.perf_counter()
        try:
            with PeakMemory() as mem:
                execute(nb, output / nb.name, {"LAB_SCALE": cfg.scale, "LAB_PROFILE": cfg.profile})
            result.status = "ok"
        except PapermillExecutionError as exc:
            result.status = "failed"
            result.error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
        except Exception as exc:  # noqa: BLE001 - a kernel that dies is a failed notebook, not a crash
            result.status = "failed"
            result.error = f"{type(exc).__name__}: {exc}"
        result.seconds = time.perf_counter() - start
        result.peak_memory_mib = mem.peak / 2**20
        if (output / nb.name).exists():
            join_streams(output / nb.name)
            drop_solution_outputs(output / nb.name)
        if result.status == "failed":
            report(f"FAILED {nb.name} at {result.error}\n  executed copy with the traceback: {output / nb.name}")
            break


def join_streams(path: Path) -> None:
    """Merge a cell's consecutive stdout (or stderr) outputs into one, drop text a carriage return redrew and
    blank stream outputs.

    What a browser does when it shows them, done once in the file, so the executed notebook reads the same
    anywhere: a progress bar is one line at its last state, not every state it went through.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        merged = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and merged and merged[-1].output_type == "stream" \
                    and merged[-1].name == out.name:
                merged[-1].text += out.text
            else:
                merged.append(out)
        for out in merged:
            if out.output_type == "stream":
                out.text = _REDRAWN.sub("", out.text)
        if "outputs" in cell:       # a bar's closing newline, split from it by a print, is an empty output
            cell.outputs = [o for o in merged if o.output_type != "stream" or o.text.strip()]
    nbformat.write(nb, path)


def drop_solution_outputs(path: Path) -> None:
    """An executed notebook shows no solution's output under its exercise: the collapsed solution cells
    (`"jupyter": {"source_hidden": true}`) of the notebooks that keep them ran, but keep no output."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and is_solution(cell):
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)


def is_solution(cell) -> bool:
    return bool(cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"))


_REDRAWN = re.compile(r"[^\n]*\r(?=[^\n])")   # a line's text up to a \r that more text follows


def write_summary(results: list[NotebookResult], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["notebook", "status", "seconds", "peak_memory_mib", "error"])
        for r in results:
            writer.writerow([r.notebook, r.status, f"{r.seconds:.1f}", f"{r.peak_memory_mib:.0f}", r.error])


def format_summary(results: list[NotebookResult]) -> str:
    width = max([len(r.notebook) for r in results] + [8])
    lines = [f"{'notebook':<{width}}  {'status':<8} {'seconds':>8} {'peak MiB':>9}"]
    for r in results:
        lines.append(f"{r.notebook:<{width}}  {r.status:<8} {r.seconds:>8.1f} {r.peak_memory_mib:>9.0f}")
    lines.append(f"{'total':<{width}}  {'':<8} {sum(r.seconds for r in results):>8.1f} "
                 f"{max([r.peak_memory_mib for r in results] + [0]):>9.0f}")
    return "\n".join(lines)


CHECK_MARKER = "# NBVAL_CHECK_OUTPUT"


def is_checked(cell) -> bool:
    return cell.get("cell_type") == "code" and any(line.strip() == CHECK_MARKER for line in cell.source.splitlines())


def store_expected(cfg: Config, executed: Path) -> list[str]:
    """Copy the printed output of every `# NBVAL_CHECK_OUTPUT` cell from executed copies into notebooks/.

    Only a smoke-scale run may be stored (the tests run at smoke); only printed text is kept (stdout), so
    nbval compares exactly what the cell prints (and the cell is marked as run, execution count 1:
    nbval refuses saved outputs of a cell that never ran). Returns one line per stored cell.
    """
    import nbformat

    if cfg.scale != "smoke":
        raise LabError(f"--store-expected stores smoke-scale outputs (what the tests compare); this run's scale is "
                       f"{cfg.scale!r}: run with LAB_SCALE=smoke")
    stored = []
    for nb_path in series(cfg):
        copy_path = Path(executed) / nb_path.name
        nb = nbformat.read(nb_path, as_version=4)
        checked = [c for c in nb.cells if is_checked(c)]
        if not checked:
            continue
        if not copy_path.exists():
            raise LabError(f"{copy_path} missing: run the whole series first (labkit run) with the same --output")
        ran = {c.source: c for c in nbformat.read(copy_path, as_version=4).cells if is_checked(c)}
        for cell in checked:
            if cell.source not in ran:
                raise LabError(f"{nb_path.name}: a checked cell changed since {copy_path} ran; run the series again")
            outputs = [o for o in ran[cell.source].outputs if o.output_type == "stream" and o.name == "stdout"]
            if not outputs:
                raise LabError(f"{nb_path.name}: a checked cell printed nothing in {copy_path}")
            cell.outputs, cell.execution_count = outputs, 1   # nbval compares only cells marked as run
            stored.append(f"{nb_path.name}: {''.join(o.text for o in outputs).strip()}")
        nbformat.write(nb, nb_path)
    return stored


def main(cfg: Config, only: list[str] | None = None, output: str | None = None, store: bool = False) -> int:
    if store and (only or cfg.scale != "smoke"):
        raise LabError("--store-expected needs the whole series at smoke scale: LAB_SCALE=smoke labkit run --store-expected")
    results = run_series(cfg, only, Path(output) if output else None)
    print()
    print(format_summary(results))
    out = Path(output or cfg.root / "output")
    print(f"\nexecuted notebooks and summary.csv: {out}")
    ok = all(r.status == "ok" for r in results)
    if ok and store:
        print("\nstored the expected outputs of the checked cells:")
        for line in store_expected(cfg, out):
            print("  " + line.replace("\n", "\n    "))
    print("\n" + next_step(cfg, results))
    return 0 if ok else 1


def next_step(cfg: Config, results: list[NotebookResult]) -> str:
    """The run's last lines: how to open the notebooks yourself, and whether the lab is running now."""
    try:
        running = [row.name for row in services.status(cfg) if row.pid is not None]
    except LabError as exc:           # the run is over whatever the lab says: name the next step all the same
        lab = f"`labkit status` could not tell whether the lab runs: {exc}"
    else:
        if running:
            lab = f"the lab is running ({', '.join(running)}); `make down` stops it"
        else:
            teardown = any(r.notebook.startswith("08_") and r.status == "ok" for r in results)
            lab = "it starts the lab, which is stopped now" + (" (notebook 09 stopped it)" if teardown else "")
    failed = next((r.notebook for r in results if r.status == "failed"), None)
    what = f"open {failed} and run it yourself" if failed else "work through the notebooks yourself"
    return f"next: `make lab` opens JupyterLab to {what}; {lab}."
