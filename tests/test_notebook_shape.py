"""Every notebook of the series has the same shape, and is committed stripped (only checked cells keep what they print)."""
import json
import re
from pathlib import Path

import nbformat
import pytest

import labkit
from labkit import runner

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
    if not path.name.startswith(("00_", "09_")):
        assert "Troubleshooting" in markdown, f"{path.name} lacks a troubleshooting section"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path.name}: one cell tagged `parameters`"
    assert "LAB_SCALE = None" in params[0].source and "LAB_PROFILE = None" in params[0].source
    assert "Exercise" in markdown, f"{path.name} has no exercise"
    for exercise, answer in exercises_and_answers(nb):
        open_form = answer is not None and answer.source.strip() == "# Your code here" and \
            "%load solutions/" in exercise.source        # a cell for the learner, the solution loaded on request
        assert answer is not None and (CHECK.search(answer.source) or runner.is_solution(answer) or open_form), \
            f"{path.name}: an exercise ({exercise.source.strip().splitlines()[0][:60]!r}) is followed by its check " \
            "(exercises.check), by '# Your code here' with its `%load solutions/...` named, or, in the old form, " \
            "by its solution in a collapsed cell"


CHECK = re.compile(r"\bexercises\.check(_all)?\(")


def exercises_and_answers(nb):
    """Each markdown cell that sets an exercise (a heading with 'Exercise'), and the first code cell after it."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and re.search(r"^#+ .*Exercise", cell.source, re.M):
            out.append((cell, next((c for c in nb.cells[i + 1:] if c.cell_type == "code"), None)))
    return out


def test_no_solution_shows_its_output_in_an_executed_notebook():
    """The new form applies a solution inside the check (one line of output); the old form's collapsed solution
    cells run under papermill but the runner drops their outputs (tests/test_runner.py runs that)."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for _, answer in exercises_and_answers(nb):
            if runner.is_solution(answer):
                assert not answer.outputs, f"{path.name}: a solution cell was committed with its output"
            else:
                assert not re.search(r"%load|exercises\.solve\(", answer.source), \
                    f"{path.name}: the cell under an exercise loads or writes its solution: it would show it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_except_the_checked_cells(path):
    """The outputs policy: no outputs, except what a `# NBVAL_CHECK_OUTPUT` cell prints (nbval compares it)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if runner.is_checked(cell):
            assert cell.execution_count == 1, f"{path.name}: store checked outputs with labkit run --store-expected"
            assert cell.outputs, f"{path.name}: a checked cell has no saved output: LAB_SCALE=smoke labkit run --store-expected"
            assert all(o.output_type == "stream" and o.name == "stdout" for o in cell.outputs), \
                f"{path.name}: a checked cell may only print (its output is compared as text)"
        else:
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs before committing"


def test_the_checked_cells_print_facts_only():
    """Every notebook that computes a result has at least one checked cell, and none prints a timing."""
    checked = {p.name: [c for c in nbformat.read(p, as_version=4).cells if runner.is_checked(c)] for p in NOTEBOOKS}
    for name in ("04_generating_rows.ipynb", "05_sqoop_import.ipynb", "06_spark_aggregation.ipynb",
                 "07_workshop_dag.ipynb", "08_emr_job.ipynb"):
        assert checked[name], f"{name}: no # NBVAL_CHECK_OUTPUT cell"
    for name, cells in checked.items():
        for cell in cells:
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert " s " not in text and "seconds" not in text and "MiB" not in text, f"{name}: {text!r} is not deterministic"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_is_one_readable_cell(path):
    """The cell after the parameters: its imports, `cfg = notebook.start(...)` and at most two more statements;
    no environment juggling (papermill's parameters reach the environment through notebook.start)."""
    import ast

    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup = code[[i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])][0] + 1]
    statements = [s for s in ast.parse(setup.source).body if not isinstance(s, (ast.Import, ast.ImportFrom))]
    assert statements and ast.unparse(statements[0]).startswith("cfg = notebook.start(LAB_PROFILE, LAB_SCALE"), \
        f"{path.name}: the setup starts with cfg = notebook.start(LAB_PROFILE, LAB_SCALE, ...)"
    assert len(statements) <= 3, f"{path.name}: the setup cell does {len(statements)} things; move plumbing to lib/"
    assert "os.environ" not in setup.source
    elsewhere = []
    for cell in code:
        if cell is setup or cell.metadata.get("jupyter", {}).get("source_hidden"):   # a solution stands alone
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:          # IPython magics
            continue
        elsewhere += [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert elsewhere == [], f"{path.name}: imports belong in the setup cell: {elsewhere}"


DAG_NOTEBOOKS = [ROOT / "notebooks" / name for name in ("07_workshop_dag.ipynb", "08_emr_job.ipynb")]
# labkit's wrappers of Airflow's interfaces (issue 22): its REST client by module or by the object that
# `services.get(cfg, "airflow").api()` gives (conventionally `api`), its `dag.test()` runner, and its run followers.
LABKIT_AIRFLOW = re.compile(r"\bairflow_api\b|\bdagtest\b|\.api\(\)|(?<![\w.])api\.|\bwatch\.follow\b")
# What those wrappers do; a method of that name is labkit's, a plain call must be a function the notebook defines
# in a cell the learner reads (over the official client).
WRAPPED = re.compile(r"(\.?)\b(follow|run_for_date|clear_run|backfill|wait_for_dag|delete_runs|task_log|printed)\(")


def labkit_airflow_calls(nb) -> list[str]:
    """The lines of the notebook's code cells that go through labkit's Airflow wrappers, as 'cell N: line'."""
    code = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    defined = {m.group(1) for _, source in code for m in re.finditer(r"^\s*def (\w+)\(", source, re.M)}
    bad = []
    for i, source in code:
        for line in source.splitlines():
            text = line.split("#", 1)[0]
            if LABKIT_AIRFLOW.search(text) or any(m.group(1) or m.group(2) not in defined for m in WRAPPED.finditer(text)
                                                  if not re.match(r"\s*def ", text)):
                bad.append(f"cell {i}: {line.strip()}")
    return bad


@pytest.mark.parametrize("path", DAG_NOTEBOOKS, ids=lambda p: p.name)
def test_the_dag_notebooks_use_airflows_own_interfaces(path):
    """A lesson triggers, follows, backfills and clears runs, and reads their states and logs, with Airflow's CLI,
    UI or official client (`apache-airflow-client`), in cells the learner reads: never through labkit's wrappers."""
    nb = nbformat.read(path, as_version=4)
    assert labkit_airflow_calls(nb) == [], f"{path.name} calls labkit's Airflow wrappers"
    assert any("airflow_client" in c.source for c in nb.cells if c.cell_type == "code"), path.name


def test_the_wrapper_check_sees_each_kind_of_call():
    """The check above on cells written for it: each wrapper call is seen; the official client, the CLI and a
    function the notebook defines itself are not."""
    def calls(*sources):
        return labkit_airflow_calls(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]))

    for wrapper in ('api = services.get(cfg, "airflow").api()', "api.trigger(DAG_ID)", "from labkit import airflow_api",
                    "airflow_api.runs_frame(runs)", "dagtest.run(cfg, path, DAG_ID, day)",
                    "watch.follow(af, client, DAG_ID, run_id)", "af.run_for_date(DAG_ID, day)",
                    "x = helpers.follow(DAG_ID, run_id)", "clear_run(DAG_ID, run_id)", "wait_for_dag(DAG_ID)"):
        assert calls(wrapper), wrapper
    assert calls("def follow(run_id):\n    return run_api.get_dag_run(DAG_ID, run_id)", "follow(run_id)",
                 "dag_api.patch_dag(DAG_ID, DAGPatchBody(is_paused=False))", "!airflow tasks clear {DAG_ID} --yes",
                 "watch.plot(changes)  # not api.get") == []


def _given_code(markdown: str, solution: str) -> list[str]:
    """The solution's code an exercise's text gives away: lines of a fenced block, and inline code of 20+
    characters that calls or assigns (`x = f(...)`), found in the solution's file."""
    fenced = [line.strip() for block in re.findall(r"```(?:python)?\n(.*?)```", markdown, re.S)
              for line in block.splitlines() if len(line.strip()) >= 15]
    spans = [s for s in re.findall(r"`([^`\n]+)`", markdown) if len(s) >= 20 and ("(" in s or "=" in s)]
    return [code for code in fenced + spans if code in solution]


def _exercise_texts():
    """(exercise id, the markdown cells right above its check cell) for every checked exercise of the series."""
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        for i, cell in enumerate(cells):
            called = re.findall(r"exercises\.check(?:_all)?\(([^)]*)\)", "".join(cell["source"]))
            if cell["cell_type"] != "code" or not called:
                continue
            above, j = [], i - 1
            while j >= 0 and cells[j]["cell_type"] == "markdown":
                above.insert(0, "".join(cells[j]["source"]))
                j -= 1
            for exercise_id in re.findall(r'"(\d\d\.\d)"', called[0]):
                yield exercise_id, "\n".join(above)


def test_most_exercises_give_the_goal_and_the_docs_not_the_code():
    """Issue 22: at least half of the checked exercises' texts contain none of their solution's code."""
    from labkit.exercises import checking

    cfg = labkit.load()
    texts = list(_exercise_texts())
    solutions = {i: checking.solution_path(cfg, checking.get(i)) for i, _ in texts}
    giving = {i: _given_code(text, solutions[i].read_text() if solutions[i].exists() else "") for i, text in texts}
    assert len(texts) >= 15
    assert sum(1 for code in giving.values() if not code) >= len(texts) / 2, giving
    # the detector sees code copied from a solution, fenced or inline
    solution = 'steps = EmrAddStepsOperator(task_id="add_step", job_flow_id=create_cluster.output)\n'
    assert _given_code(f"Write:\n```python\n{solution}```", solution) == [solution.strip()]
    assert _given_code("Use `job_flow_id=create_cluster.output` here", solution) == ["job_flow_id=create_cluster.output"]
    assert _given_code("Give the step the cluster's id as an XComArg.", solution) == []
