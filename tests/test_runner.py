"""The papermill runner: order, stop at the first failure, summary with status/seconds/memory."""
import csv
import dataclasses
import os

import nbformat
import pytest

import labkit
from labkit import LabError, runner


def _notebook(path, source):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("LAB_SCALE = None\nLAB_PROFILE = None", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def series_cfg(tmp_path):
    (tmp_path / "notebooks").mkdir()
    return dataclasses.replace(labkit.load(), root=tmp_path)


def test_series_is_ordered_and_filterable(series_cfg):
    for name in ("03_b", "00_a", "01_x", "notes"):
        _notebook(series_cfg.notebooks_dir / f"{name}.ipynb", "1")
    assert [p.name for p in runner.series(series_cfg)] == ["00_a.ipynb", "01_x.ipynb", "03_b.ipynb"]
    assert [p.name for p in runner.series(series_cfg, ["01"])] == ["01_x.ipynb"]
    with pytest.raises(LabError, match="no notebook"):
        runner.series(series_cfg, ["99"])


def test_kernels_talk_over_unix_sockets_not_tcp(series_cfg, tmp_path):
    # TCP would open five ports per notebook on 127.0.0.1, unencrypted (ipykernel warns about it each time)
    _notebook(series_cfg.notebooks_dir / "00_transport.ipynb",
              "from ipykernel.kernelapp import IPKernelApp\nassert IPKernelApp.instance().transport == 'ipc'")
    results = runner.run_series(dataclasses.replace(series_cfg, scale="smoke"), output=tmp_path / "out",
                                report=lambda line: None)
    assert [(r.status, r.error) for r in results] == [("ok", "")]


def test_progress_bars_are_saved_finished_not_as_an_empty_widget(series_cfg, tmp_path):
    # in a kernel, tqdm.auto would draw a widget that the executed notebook keeps at "0%"
    _notebook(series_cfg.notebooks_dir / "00_bar.ipynb",
              "from labkit.progress import tqdm\nfor _ in tqdm(range(3), desc='steps'):\n    pass")
    results = runner.run_series(dataclasses.replace(series_cfg, scale="smoke"), output=tmp_path / "out",
                                report=lambda line: None)
    assert [r.status for r in results] == ["ok"]
    outputs = nbformat.read(tmp_path / "out" / "00_bar.ipynb", as_version=4).cells[-1].outputs
    assert [o.output_type for o in outputs] == ["stream"], outputs          # text, no widget
    assert outputs[0].text.startswith("steps: 100%") and "3/3" in outputs[0].text, outputs[0].text
    assert "LAB_PROGRESS" not in os.environ                                  # set for the kernels only


def test_an_executed_notebook_shows_no_solution_output_under_its_exercise(series_cfg, tmp_path):
    # the old form of an exercise: a collapsed solution cell after it; it runs (so CI proves it), keeps no output
    path = series_cfg.notebooks_dir / "00_exercise.ipynb"
    _notebook(path, "print('the story goes on')")
    nb = nbformat.read(path, as_version=4)
    nb.cells += [nbformat.v4.new_markdown_cell("### Exercise\nPrint the answer."),
                 nbformat.v4.new_code_cell("print('the answer is 42')", metadata={"jupyter": {"source_hidden": True}})]
    nbformat.write(nb, path)
    results = runner.run_series(dataclasses.replace(series_cfg, scale="smoke"), output=tmp_path / "out",
                                report=lambda line: None)
    assert [r.status for r in results] == ["ok"]
    cells = nbformat.read(tmp_path / "out" / "00_exercise.ipynb", as_version=4).cells
    story = next(c for c in cells if "story" in c.source)                 # (papermill adds a parameters cell)
    assert story.outputs[0].text == "the story goes on\n"                 # other cells keep what they printed
    assert cells[-1].outputs == [] and cells[-1].execution_count is None


def test_stops_at_first_failure_and_writes_summary(series_cfg, tmp_path, capsys):
    nbs = series_cfg.notebooks_dir
    _notebook(nbs / "00_ok.ipynb", "assert LAB_SCALE == 'smoke'\nx = bytearray(50_000_000)")
    _notebook(nbs / "01_boom.ipynb", "raise ValueError('the table is empty')")
    _notebook(nbs / "03_never.ipynb", "1")
    out = tmp_path / "out"
    results = runner.run_series(series_cfg, output=out, report=lambda _: None)
    assert [(r.notebook, r.status) for r in results] == [
        ("00_ok.ipynb", "ok"), ("01_boom.ipynb", "failed"), ("03_never.ipynb", "not run")]
    assert "ValueError: the table is empty" in results[1].error
    assert results[0].peak_memory_mib > 40       # the kernel held 50 MB
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert [r["status"] for r in rows] == ["ok", "failed", "not run"]
    assert (out / "01_boom.ipynb").exists() and not (out / "03_never.ipynb").exists()
    capsys.readouterr()
    assert runner.main(series_cfg, output=str(tmp_path / "out2")) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]          # what to do next, even after a failure
    assert last.startswith("next: `make lab` opens JupyterLab to open 01_boom.ipynb and run it yourself"), last


def test_the_last_line_says_make_lab_and_whether_the_lab_runs(series_cfg, monkeypatch):
    from labkit import services
    from labkit.services.base import ServiceStatus

    done = [runner.NotebookResult("08_emr_job.ipynb", "ok"), runner.NotebookResult("09_teardown.ipynb", "ok")]
    monkeypatch.setattr(services, "status", lambda cfg: [ServiceStatus("postgres", False, "", None, 0, "")])
    assert runner.next_step(series_cfg, done) == ("next: `make lab` opens JupyterLab to work through the notebooks "
                                                  "yourself; it starts the lab, which is stopped now (notebook 09 "
                                                  "stopped it).")
    monkeypatch.setattr(services, "status", lambda cfg: [ServiceStatus("postgres", True, "", 4242, 0, ""),
                                                         ServiceStatus("airflow", False, "", None, 0, "")])
    assert runner.next_step(series_cfg, done[:1]).endswith("the lab is running (postgres); `make down` stops it.")


def test_store_expected_saves_what_checked_cells_print(series_cfg, tmp_path):
    nbs = series_cfg.notebooks_dir
    _notebook(nbs / "00_facts.ipynb", "# NBVAL_CHECK_OUTPUT\nimport sys\nprint(f'{6 * 7:,} rows')\nprint('noise', file=sys.stderr)")
    _notebook(nbs / "01_plain.ipynb", "print('not checked')")
    out = tmp_path / "out"
    assert runner.main(series_cfg, output=str(out), store=True) == 0
    saved = nbformat.read(nbs / "00_facts.ipynb", as_version=4).cells[1]
    assert [(o.name, o.text) for o in saved.outputs] == [("stdout", "42 rows\n")]   # stdout only
    assert saved.execution_count == 1             # nbval only compares cells marked as run
    assert not nbformat.read(nbs / "01_plain.ipynb", as_version=4).cells[1].outputs

    # a checked cell edited after the run cannot take the old run's output
    nb = nbformat.read(nbs / "00_facts.ipynb", as_version=4)
    nb.cells[1].source += "\nprint('more')"
    nbformat.write(nb, nbs / "00_facts.ipynb")
    with pytest.raises(LabError, match="changed since"):
        runner.store_expected(series_cfg, out)


def test_store_expected_refuses_a_full_scale_run(series_cfg, tmp_path):
    with pytest.raises(LabError, match="LAB_SCALE=smoke"):
        runner.store_expected(dataclasses.replace(series_cfg, scale="full"), tmp_path)
    with pytest.raises(LabError, match="whole series at smoke"):
        runner.main(series_cfg, only=["00"], output=str(tmp_path), store=True)
