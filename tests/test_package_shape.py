"""The shape of `labkit` (../shared/DESIGN.md): floors that import only the floors below them, no import circle,
no hidden function-local imports of labkit, and one home for the facts that used to have several."""
import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lib" / "labkit"

# Each module's floor, by name (a package's prefix covers its modules; the longest prefix wins).
FLOORS = {
    "ground": ["labkit", "labkit.errors", "labkit.config", "labkit.jdbc", "labkit.emr_versions", "labkit.aws_cli", "labkit.state", "labkit.java", "labkit.secrets",
               "labkit.procs", "labkit.progress", "labkit.connections", "labkit.workspace",
               "labkit.aws.spec", "labkit.aws.outputs",           # aws data: names, sizes, what provisioning made
               "labkit.aws.tls"],                                 # and the RDS CA bundle the connections verify with
    "lab": ["labkit.services", "labkit.hadoop_client", "labkit.airflow_api", "labkit.spark_submit"],
    "pipes": ["labkit.workshop", "labkit.emr", "labkit.emr_client", "labkit.aws"],
    "top": ["labkit.cli", "labkit.runner", "labkit.notebook", "labkit.exercises", "labkit.jupyter", "labkit.prepare", "labkit.doctor", "labkit.screenshots", "labkit.plots",
            "labkit.architecture", "labkit.times"],
}
ORDER = ["ground", "lab", "pipes", "top"]
# Function-local labkit imports that are allowed, and why.
LOCAL_IMPORTS_ALLOWED: dict[str, str] = {
    "labkit.aws.teardown": "stop_airflow needs services, which import connections, which import labkit.aws (whose "
                           "__init__ imports teardown): at the top it is an import cycle",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def floor_of(name: str) -> str:
    best = max((prefix for floor in ORDER for prefix in FLOORS[floor]
                if name == prefix or name.startswith(prefix + ".")), key=len)
    return next(floor for floor in ORDER if best in FLOORS[floor])


def imports(path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """(imported labkit module, at module level?) for every labkit import in the file."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body} | {id(n) for node in tree.body if isinstance(node, ast.If)
                                                    for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        for name in names:
            if name == "labkit" or name.startswith("labkit."):
                out.append((name, id(node) in top_level))
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: {imp for imp, _ in imports(path, set(mods))} - {name} for name, path in mods.items()}


def test_every_module_has_a_floor():
    for name in modules():
        assert floor_of(name) in ORDER


def test_no_module_imports_a_floor_above_it():
    wrong = [f"{name} ({floor_of(name)}) imports {dep} ({floor_of(dep)})"
             for name, deps in graph().items() for dep in sorted(deps)
             if ORDER.index(floor_of(dep)) > ORDER.index(floor_of(name))]
    assert wrong == []


def test_no_import_circle():
    g = graph()
    state: dict[str, int] = {}
    circles = []

    def visit(node, stack):
        state[node] = 1
        for dep in sorted(g.get(node, ())):
            if state.get(dep) == 1:
                circles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_no_function_local_labkit_imports():
    mods = modules()
    hidden = [f"{name} imports {imp} inside a function" for name, path in mods.items()
              for imp, at_top in imports(path, set(mods)) if not at_top and name not in LOCAL_IMPORTS_ALLOWED]
    assert hidden == []


def test_the_floor_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The checker itself: a ground module that imports services is reported."""
    fake = tmp_path / "labkit"
    fake.mkdir()
    (fake / "config.py").write_text("from labkit import services\n")
    (fake / "services.py").write_text("def f():\n    from labkit import config\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    g = graph()
    assert g["labkit.config"] == {"labkit.services"}
    assert [i for i in imports(fake / "services.py", {"labkit.config"})] == [("labkit.config", False)]


# -- one home per fact ----------------------------------------------------------------------------------------------
def _git_grep(pattern: str, *paths: str) -> list[str]:
    out = subprocess.run(["git", "grep", "-nE", pattern, "--", *paths], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.splitlines()


@pytest.mark.parametrize("pattern, home, why", [
    (r"next\(.*connections\.connections\(", "lib/labkit/connections.py",
     "ask connections.get(cfg, name) for an endpoint instead of searching the Airflow records"),
    (r"jdbc:(postgresql|mysql)://\{", "lib/labkit/connections.py",
     "the JDBC URL: connections.get(cfg, name).jdbc_url"),
])
def test_one_home(pattern, home, why):
    hits = [h for h in _git_grep(pattern, "lib", "bench") if not h.startswith(home + ":")]
    assert hits == [], f"{why}:\n" + "\n".join(hits)


def test_the_ground_floor_imports_without_the_rest():
    """Importing the endpoints loads no service, pipeline or AWS SDK code."""
    code = ("import sys, labkit.connections as c; "
            "print(sorted(m for m in sys.modules if m.startswith(('labkit.services', 'labkit.workshop', 'boto3', "
            "'pyspark', 'airflow'))))")
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_modules_stay_readable():
    """No module over 450 lines, except those listed here with the issue that will split them."""
    waiting: set[str] = set()          # a module waiting for its split would be named here
    long = [f"{p.relative_to(PACKAGE.parent)}: {n} lines" for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 450 and str(p.relative_to(PACKAGE.parent)) not in waiting]
    assert long == []


def test_the_loopback_address_has_one_home():
    """127.0.0.1 as a value (a bind address, a host, host:port) appears only in config.LOOPBACK; prose may name it."""
    found = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value
                if value.strip() in ("127.0.0.1", "'127.0.0.1'") or "127.0.0.1:" in value or "@127.0.0.1" in value:
                    found.append(f"{name}:{node.lineno}")
    assert found == ["labkit.config:" + str(_line_of(PACKAGE / "config.py", 'LOOPBACK = "127.0.0.1"'))]


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize("value, home", [("tbl_airflow_dummy", "labkit.workshop.dummy"),
                                         ("tbl_airflow_dummy_daily", "labkit.workshop.daily_runs")])
def test_a_table_name_has_one_home(value, home):
    """The dummy tables' names are values in one module each; everything else asks it (prose may name them)."""
    found = [name for name, path in modules().items() for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Constant) and node.value == value]
    assert found == [home]
