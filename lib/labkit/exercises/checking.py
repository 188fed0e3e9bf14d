"""The exercises' machinery: registry, the learner's files, solutions, and the check itself (see the package doc)."""
from __future__ import annotations

import os
import re
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labkit import config, workspace
from labkit.config import Config
from labkit.errors import LabError
from labkit.exercises import dagtest, parsing

ENV = "LAB_SOLUTIONS"                      # "1": apply each exercise's solution before its check (headless runs)
SKELETONS = "skeletons"                    # under notebooks/: the files a learner starts from
SOLUTIONS = "solutions"                    # under notebooks/: one snippet per exercise, `07_1.py` for "07.1"


@dataclass(frozen=True)
class Exercise:
    id: str                                # "07.1": notebook 07, exercise 1
    file: str                              # the learner's DAG file in the workspace (and its skeleton's name)
    dag_id: str                            # the DAG the check looks at
    title: str
    check: Callable[[dict, Config], list[str]]   # the DAG's report, the lab -> what is missing ([] = pass)
    # How the solution is applied (LAB_SOLUTIONS=1): "block" writes it between the file's TODO markers, "file"
    # replaces the whole file (an exercise that starts from a blank file), "run" runs it in the notebook's kernel
    # as `%load` then Shift+Enter would (an exercise done with Airflow's interfaces, not in a file; its check gets
    # no DAG report: None), "none": the notebook's own cells did the work (a check of what a run did, or of what
    # Airflow recorded of the learner's CLI commands; its check still gets `file`'s DAG report when it has a file).
    solution: str = "block"
    # The DAG file the check parses, when the learner's file is not it (a test file of theirs): None = `file`.
    dag_file: str | None = None
    # Whether the check runs the learner's tasks with dag.test() (begin() then warms its process while they write).
    runs_tasks: bool = False

    @property
    def in_file(self) -> bool:
        """Whether the solution is written into the learner's file (a TODO block or the whole file)."""
        return self.solution in ("block", "file")

    @property
    def solution_name(self) -> str:
        return self.id.replace(".", "_") + ".py"


@dataclass(frozen=True)
class Result:
    exercise: Exercise
    missing: tuple[str, ...]
    solved: bool = False                   # the solution was applied first (LAB_SOLUTIONS)

    @property
    def passed(self) -> bool:
        return not self.missing

    def __repr__(self) -> str:
        head = f"{self.exercise.id} {self.exercise.title}: "
        if self.solved:
            head += f"(solution applied, {ENV}=1) "
        if self.passed:
            return head + "pass"
        return head + "not yet: " + "; ".join(self.missing)

    __str__ = __repr__


REGISTRY: dict[str, Exercise] = {}


def exercise(exercise_id: str, *, file: str | None, dag_id: str | None, title: str, solution: str = "block",
             dag_file: str | None = None, runs_tasks: bool = False):
    """Register a check: `@exercise("07.1", file="my_workshop_job.py", dag_id="my_workshop_job", title=...)`."""
    if solution not in SOLUTION_KINDS:
        raise ValueError(f"exercise {exercise_id}: solution={solution!r}, not one of {', '.join(SOLUTION_KINDS)}")

    def register(check: Callable[[dict, Config], list[str]]):
        if exercise_id in REGISTRY:
            raise ValueError(f"exercise {exercise_id} is registered twice")
        REGISTRY[exercise_id] = Exercise(exercise_id, file, dag_id, title, check, solution, dag_file, runs_tasks)
        return check
    return register


SOLUTION_KINDS = ("block", "file", "run", "none")


def get(exercise_id: str) -> Exercise:
    try:
        return REGISTRY[exercise_id]
    except KeyError:
        raise LabError(f"no exercise {exercise_id!r}: the exercises are {', '.join(sorted(REGISTRY))}") from None


def solutions_on() -> bool:
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes")


# -- the learner's files --------------------------------------------------------------------------------------
TESTS = "tests"                            # the learner's own tests of their DAGs: <workspace>/tests/
# Their pytest settings: the tests folder is pytest's rootdir, so no conftest.py above it (the project's) is
# loaded, from wherever pytest is started.
TESTS_INI = """[pytest]
addopts = -p no:cacheprovider
filterwarnings = ignore::DeprecationWarning
"""
LAST_RUN = ".last-run.json"
# ... and a conftest.py that records each run's outcome beside the tests, where a check reads it.
TESTS_CONFTEST = f'''"""Records the outcome of each run of these tests in {LAST_RUN} (labkit's exercise 07.8 reads it)."""
import json
from pathlib import Path

_outcomes = {{}}


def pytest_runtest_logreport(report):
    if report.failed or report.when == "call":
        _outcomes[report.nodeid] = "passed" if report.passed and _outcomes.get(report.nodeid) != "failed" else "failed"


def pytest_collectreport(report):
    if report.failed:
        _outcomes[report.nodeid] = "failed"


def pytest_sessionfinish(session, exitstatus):
    (Path(__file__).parent / "{LAST_RUN}").write_text(json.dumps(_outcomes))
'''


def skeleton_path(cfg: Config, file: str) -> Path:
    return cfg.notebooks_dir / SKELETONS / Path(file).name


def solution_path(cfg: Config, ex: Exercise) -> Path:
    return cfg.notebooks_dir / SOLUTIONS / ex.solution_name


def learner_path(cfg: Config, file: str) -> Path:
    """A DAG file in the workspace's DAG folder; `tests/<name>` in the workspace's tests folder."""
    return cfg.workspace_dir / file if "/" in file else cfg.workspace_dags_dir / file


def begin(file: str, cfg: Config | None = None, *, blank: bool = False, grows_from: str | None = None) -> Path:
    """Put the skeleton `file` into the workspace (a file already there is the learner's: it is kept).

    `blank=True`: no skeleton, an empty file the learner writes from scratch (an existing file is kept).
    `grows_from="02.2"`: the learner's file as an earlier exercise left it, to grow by one task; when they have
    none yet (or an empty one), that exercise's solution, and one line says so.
    A file that is not made from this skeleton (none of its `# [TODO ...]` markers: an earlier notebook's DAG of
    the same name) is moved to `<workspace>/.trash/<time>/` first, and one line says where."""
    cfg = cfg or config.load()
    workspace.ensure(cfg)
    parsing.start()                                    # Airflow's DagBag warms up while the learner reads
    if not blank and any(e.file == file and e.runs_tasks for e in REGISTRY.values()):
        dagtest.start(cfg)                             # ... and, where a check runs tasks, dag.test()'s process
    target = learner_path(cfg, file)
    if target.parent.name == TESTS and target.parent != cfg.workspace_dags_dir:
        target.parent.mkdir(parents=True, exist_ok=True)
        for name, text in (("pytest.ini", TESTS_INI), ("conftest.py", TESTS_CONFTEST)):
            if not (target.parent / name).exists():
                (target.parent / name).write_text(text)
    if blank:
        target.touch(exist_ok=True)
        return target
    if grows_from is not None:
        if not target.exists() or not target.read_text().strip():
            earlier = solution_path(cfg, get(grows_from))
            shutil.copyfile(earlier, target)
            print(f"you have no {target.name} of your own yet: it starts as exercise {grows_from}'s answer "
                  f"({earlier.relative_to(cfg.notebooks_dir)})")
        return target
    source = skeleton_path(cfg, file)
    if not source.exists():
        raise LabError(f"no skeleton {source}: the skeletons are in {source.parent}")
    if target.exists() and not _from_skeleton(target.read_text(), source.read_text()):
        kept = workspace.keep_copy(cfg, target)
        target.unlink()
        print(f"your earlier {target.name} (not made from this notebook's skeleton) is kept in {kept}")
    if not target.exists():
        shutil.copyfile(source, target)
        if solutions_on() and target.parent.name == TESTS:
            # a headless run (LAB_SOLUTIONS=1): the notebook runs the learner's tests before their check
            for ex in [e for e in REGISTRY.values() if e.file == file and e.in_file]:
                solve(ex.id, cfg)
    return target


def _from_skeleton(text: str, skeleton: str) -> bool:
    """Whether a learner's file carries at least one TODO marker of the skeleton (it was made from it)."""
    markers = re.findall(r"# \[TODO [^\]]+\]", skeleton)
    return not markers or any(marker in text for marker in markers)


def block(text: str, exercise_id: str) -> tuple[int, int, str]:
    """(start, end, indent) of the lines strictly between an exercise's TODO markers in a file's text."""
    lines = text.splitlines(keepends=True)
    start = end = None
    for i, line in enumerate(lines):
        if re.fullmatch(rf"\s*# \[TODO {re.escape(exercise_id)}\].*\n?", line):
            start = i
        elif re.fullmatch(rf"\s*# \[END TODO {re.escape(exercise_id)}\]\s*\n?", line) and start is not None:
            end = i
            break
    if start is None or end is None:
        raise LabError(f"the file has no '# [TODO {exercise_id}]' ... '# [END TODO {exercise_id}]' block to fill in: "
                       "put the two marker lines back around your code, or start afresh with `labkit workspace reset`")
    indent = re.match(r"\s*", lines[start]).group(0)
    return start, end, indent


def solve(exercise_id: str, cfg: Config | None = None) -> Path | None:
    """Write the exercise's solution between its markers in the learner's file (the rest of the file is kept);
    a whole-file solution replaces the file, a "run" solution runs in the kernel (see Exercise.solution)."""
    cfg = cfg or config.load()
    ex = get(exercise_id)
    if ex.solution == "none":
        return None
    if ex.solution == "run":
        _run_solution(solution_path(cfg, ex))
        return None
    if ex.solution == "file":
        path = begin(ex.file, cfg, blank=True)
        wanted = solution_path(cfg, ex).read_text()
        if path.read_text().strip() and path.read_text() != wanted:
            kept = workspace.keep_copy(cfg, path)        # the learner's own attempt is never lost
            print(f"{exercise_id}: your version of {path.name} is kept in {kept}")
        path.write_text(wanted)
        return path
    path = begin(ex.file, cfg)
    text = path.read_text()
    start, end, indent = block(text, exercise_id)
    snippet = textwrap.indent(textwrap.dedent(solution_path(cfg, ex).read_text()).strip("\n") + "\n", indent)
    lines = text.splitlines(keepends=True)
    mine = "".join(lines[start + 1:end])
    if mine.strip() and mine != snippet and mine != _skeleton_block(cfg, ex):
        kept = workspace.keep_copy(cfg, path)            # the learner's own attempt is never lost
        print(f"{exercise_id}: your version of {path.name} is kept in {kept}")
    solved = "".join(lines[:start + 1]) + snippet + "".join(lines[end:])
    if solved != text:                   # an unchanged file keeps its time: a check compares it with its last test run
        path.write_text(solved)
    return path


def _run_solution(path: Path) -> None:
    """Run a solution in the notebook's kernel, with the notebook's names (as `%load` and Shift+Enter would)."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    namespace = shell.user_ns if shell is not None else {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)


def _skeleton_block(cfg: Config, ex: Exercise) -> str:
    text = skeleton_path(cfg, ex.file).read_text()
    start, end, _ = block(text, ex.id)
    return "".join(text.splitlines(keepends=True)[start + 1:end])


# -- checking ----------------------------------------------------------------------------------------------
def parse(cfg: Config, *paths: Path) -> dict[str, dict]:
    """What Airflow's DagBag makes of each file, by path (in the helper process that `parsing` keeps warm)."""
    return parsing.parse(*paths)


def verdict(ex: Exercise, report: dict, path: Path, cfg: Config, solved: bool = False) -> Result:
    """The check's answer for one parsed file."""
    if not path.read_text().strip():
        return Result(ex, (f"{path.name} is empty: write your DAG in it, and save it",), solved)
    problem = import_problem(report, path)
    if problem:
        return Result(ex, (problem,), solved)
    if ex.dag_id not in report["dags"]:
        return Result(ex, (f"{path.name} defines no DAG with dag_id {ex.dag_id!r} "
                           f"(it defines: {', '.join(report['dags']) or 'none'})",), solved)
    return Result(ex, tuple(ex.check(report["dags"][ex.dag_id], cfg)), solved)


def import_problem(report: dict, path: Path) -> str | None:
    """The last line of an import error, as the Airflow UI would show it (None when the file imports); an import
    that timed out as one line naming the timeout (Airflow's message ends with a docs URL)."""
    for file, error in report["import_errors"].items():
        if Path(file).name == path.name:
            if (late := re.search(r"DagBag import timeout for .* after ([0-9.]+)s", error)):
                return parsing.timed_out([path.name], float(late.group(1)))
            lines = [line for line in error.strip().splitlines() if line.strip()]
            return f"{path.name} does not import: {lines[-1].strip() if lines else error}"
    return None


def check(exercise_id: str, cfg: Config | None = None) -> Result:
    """Check the learner's DAG for one exercise; with LAB_SOLUTIONS=1, apply the solution first (and a failure raises)."""
    return check_all(exercise_id, cfg=cfg)[0]


class Results(tuple):
    """The answers of several checks, one line each (what `check_all` returns)."""

    def __repr__(self) -> str:
        return "\n".join(map(str, self))

    __str__ = __repr__

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self)


def check_all(*exercise_ids: str, cfg: Config | None = None) -> Results:
    """Check several exercises with one DagBag parse per file (a parse costs seconds); same rules as `check`."""
    cfg = cfg or config.load()
    chosen = [get(i) for i in exercise_ids]
    solved = solutions_on()
    if solved:
        for ex in chosen:
            solve(ex.id, cfg)
    paths = [learner_path(cfg, ex.dag_file or ex.file) if (ex.dag_file or ex.file) else None for ex in chosen]
    present = sorted({str(p) for p in paths if p is not None and p.exists()})
    try:
        reports = parse(cfg, *map(Path, present)) if present else {}
    except parsing.ParseTimeout as exc:           # a file that loops past the DagBag's timeout: its one line
        if solved:
            raise LabError(f"a solution does not import: {exc}") from None
        return Results(Result(ex, (str(exc),)) for ex in chosen)
    results = []
    for ex, path in zip(chosen, paths):
        if path is None:                   # an exercise done with Airflow's interfaces, or what a run did
            result = Result(ex, tuple(ex.check(None, cfg)), solved)
        elif str(path) not in reports:
            result = Result(ex, (f"there is no {path}: run the cell that begins this exercise (exercises.begin)",))
        else:
            result = verdict(ex, reports[str(path)], path, cfg, solved)
        if solved and not result.passed:
            raise LabError(f"the solution of {ex.id} does not pass its own check: {result}")
        results.append(result)
    return Results(results)
