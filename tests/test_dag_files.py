"""The reference DAG files stay short and readable, like Airflow's own examples (issue 22, item 5).

Every DAG file under dags/ (each file once, a link followed to what it points at): at most MAX_LINES lines, a
doc_md of at most MAX_DOC_LINES lines (the text the DAG is given: the module's docstring for `doc_md=__doc__`),
and none of FORBIDDEN: a DAG reads its settings from connections and variables when a task runs (not from the
environment of whichever process parses it), passes results as XComArgs (not `xcom_pull` strings), and knows
nothing of labkit's refusals. No lab is needed: the files are read, never imported.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 150
MAX_DOC_LINES = 25
FORBIDDEN = ("os.environ", "xcom_pull(", "WORKSHOP_JOB_REFUSAL")


def dag_files(folder: Path) -> list[Path]:
    """Every .py under `folder`, links followed, each file once (dags/aws/ links to files of dags/)."""
    return sorted({p.resolve() for p in folder.rglob("*.py")})


def doc_md(tree: ast.Module) -> list[str]:
    """The doc_md texts given to DAGs in a module: `DAG(doc_md=...)` or `dag.doc_md = ...`, where `...` is
    `__doc__` (the module's docstring), a string, or `__doc__ + "..."`."""
    def text(node: ast.expr) -> str:
        if isinstance(node, ast.Name) and node.id == "__doc__":
            return ast.get_docstring(tree, clean=False) or ""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return text(node.left) + text(node.right)
        raise AssertionError(f"a doc_md this test cannot read: {ast.unparse(node)}")

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "doc_md":
            found.append(text(node.value))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "doc_md"
                                                  for t in node.targets):
            found.append(text(node.value))
    return found


def problems(path: Path) -> list[str]:
    """What is wrong with one DAG file ([] when nothing is)."""
    source = path.read_text()
    out = []
    lines = len(source.splitlines())
    if lines > MAX_LINES:
        out.append(f"{lines} lines (at most {MAX_LINES}: move explanations to the notebooks)")
    docs = doc_md(ast.parse(source))
    if not docs:
        out.append("no doc_md (the DAG's page in the UI says nothing)")
    for doc in docs:
        doc_lines = len(doc.strip("\n").splitlines())
        if doc_lines > MAX_DOC_LINES:
            out.append(f"a doc_md of {doc_lines} lines (at most {MAX_DOC_LINES})")
    out += [f"contains {word!r}" for word in FORBIDDEN if word in source]
    return out


REFERENCE_DAGS = dag_files(ROOT / "dags")


def test_both_profiles_dag_folders_are_covered():
    names = {p.relative_to(ROOT).as_posix() for p in REFERENCE_DAGS}
    assert names == {"dags/airflow_workshop_job.py", "dags/emr_ephemeral_job.py", "dags/aws/airflow_workshop_job.py"}
    # dags/aws/ (the aws profile's folder) links to dags/ for what both profiles share: each such file counted once
    assert (ROOT / "dags" / "aws" / "emr_ephemeral_job.py").resolve() in REFERENCE_DAGS


@pytest.mark.parametrize("path", REFERENCE_DAGS, ids=lambda p: p.relative_to(ROOT / "dags").as_posix())
def test_a_dag_file_is_short_documented_and_reads_nothing_but_airflow(path):
    assert problems(path) == []


LONG_DOC = "\n".join(f"line {i}" for i in range(MAX_DOC_LINES + 1))


@pytest.mark.parametrize("source, wanted", [
    (f'"""{LONG_DOC}"""\nfrom airflow.sdk import DAG\nwith DAG("d", doc_md=__doc__):\n    pass\n',
     [f"a doc_md of {MAX_DOC_LINES + 1} lines (at most {MAX_DOC_LINES})"]),
    (f'"""Short."""\nfrom airflow.sdk import DAG\nwith DAG("d") as dag:\n    dag.doc_md = __doc__ + """\n{LONG_DOC}"""\n',
     [f"a doc_md of {MAX_DOC_LINES + 2} lines (at most {MAX_DOC_LINES})"]),
    ('"""Short."""\nfrom airflow.sdk import DAG\nwith DAG("d"):\n    pass\n', ["no doc_md (the DAG's page in the UI says nothing)"]),
    ('"""Short."""\nimport os\nfrom airflow.sdk import DAG\nwith DAG("d", doc_md=__doc__):\n    os.environ["X"]\n'
     "    t = \"{{ ti.xcom_pull(task_ids='a') }}\"  # WORKSHOP_JOB_REFUSAL\n" + "\n" * MAX_LINES,
     [f"{MAX_LINES + 6} lines (at most {MAX_LINES}: move explanations to the notebooks)",
      "contains 'os.environ'", "contains 'xcom_pull('", "contains 'WORKSHOP_JOB_REFUSAL'"]),
])
def test_the_checks_catch_each_kind_of_problem(tmp_path, source, wanted):
    path = tmp_path / "dag.py"
    path.write_text(source)
    assert problems(path) == wanted
