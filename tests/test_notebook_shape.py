"""Every notebook of the series has the same shape, and is committed with its outputs stripped."""
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
HEADINGS = ("Learning objectives", "Prerequisites", "Time to complete", "Summary", "What's next")


def test_the_series_is_complete_and_numbered():
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert numbers == [f"{i:02d}" for i in range(len(numbers))], numbers
    assert len(numbers) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_shape(path):
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {path.name[:2]} ")
    for heading in HEADINGS:
        assert heading in markdown, f"{path.name} lacks '{heading}'"
    if not path.name.startswith(("00_", "08_")):
        assert "Troubleshooting" in markdown, f"{path.name} lacks a troubleshooting section"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path.name}: one cell tagged `parameters`"
    assert "LAB_SCALE = None" in params[0].source and "LAB_PROFILE = None" in params[0].source
    assert "Exercise" in markdown, f"{path.name} has no exercise"
    assert any(c.metadata.get("jupyter", {}).get("source_hidden") for c in code), \
        f"{path.name}: the exercise's solution belongs right after it, in a collapsed cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs before committing"
