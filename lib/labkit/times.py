"""How long a notebook takes a learner: the one home of the rule behind every `**Time to complete:**` line.

    time to complete = reading + running + exercises

each part in whole minutes, rounded up; the sum rounded up to a multiple of 5 minutes.

- **reading**: the words of the notebook's markdown cells at WORDS_PER_MINUTE. A word is a whitespace-separated
  token with a letter or a digit in it, so table rules (`|---|`), a table's `|`, bullets and `>` are not words.
  Code quoted in a markdown fence counts (a learner reads it); code cells do not (their time is `running`).
- **running**: the notebook's seconds in a committed record of `bench/series.py` (RECORDS): papermill's time
  for the whole notebook in a fresh kernel, every cell included, with each exercise's solution applied and
  checked as `labkit run` does, on the machine and at the load the record's header names. Only a notebook the
  recorded run finished (`ok`) has a running time at that scale.
- **exercises**: an allowance per exercise (ALLOWANCE). A checked exercise of `exercises.REGISTRY` ("07.3")
  gets the allowance of how its solution is applied (its `solution` kind: a DAG file from a blank page takes
  longer than a TODO block of a skeleton, which takes longer than a few lines in the notebook); an exercise
  heading that names no checked exercise (`### Exercise` in 00, 01, 03-06, 08, 09: a question answered in a
  code cell) gets QUESTION. A checked exercise its notebook's headings do not name is still counted
  (tests/test_times.py asserts that each one is named).

The words of the header line itself count too: `--write` writes until the lines stop changing.

`python -m labkit.times` prints every notebook's parts; `--write` puts them on the notebooks' header lines
(tests/test_times.py fails when a header says anything else).
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from labkit import config, exercises
from labkit.exercises import emr_dag, growing_dag

WORDS_PER_MINUTE = 200
ROUND_TO = 5                       # the total is rounded up to a multiple of this many minutes
# Minutes a learner needs for one exercise: reading its task, writing, running its check, reading the answer.
ALLOWANCE = {
    "file": 15,     # a DAG written from a blank file (02.2)
    "block": 10,    # a `# [TODO NN.N]` block of a skeleton DAG (or test) file, saved and checked
    "grow": 10,     # tasks added to the learner's own DAG file (04.1-06.2, 08.1-08.3: a whole-file solution)
    "run": 5,       # a few lines run in the notebook with Airflow's own interfaces (02.1)
    "none": 5,      # commands in a terminal, or a question on what a run or Airflow recorded (02.3, 07.7)
}
QUESTION = 5        # an exercise no check knows: a question answered in one code cell under it

# The series records the times come from: a run of bench/series.py recorded by bench/reference.py on the
# reference machine (its header names it). The smoke run is the whole current series; the full run of
# 2026-12-03 predates notebook 02 and stopped when its EMR notebook failed, so it has no row for 02, 08 and 09,
# and its other rows carry the numbers the notebooks had then (NAMES_THEN).
RECORDS = {
    "smoke": "bench/reference/series-smoke-2026-12-04.txt",
    "full": "bench/reference/series-full-2026-12-03.txt",
}
NAMES_THEN = {
    "bench/reference/series-full-2026-12-03.txt": {
        "02_hadoop_client.ipynb": "03_hadoop_client.ipynb", "03_generating_rows.ipynb": "04_generating_rows.ipynb",
        "04_sqoop_import.ipynb": "05_sqoop_import.ipynb", "05_spark_aggregation.ipynb": "06_spark_aggregation.ipynb",
        "06_workshop_dag.ipynb": "07_workshop_dag.ipynb", "07_emr_job.ipynb": "08_emr_job.ipynb",
        "08_teardown.ipynb": "09_teardown.ipynb",
    },
}

TIME_LINE = "**Time to complete:**"
_WORD = re.compile(r"\S*[^\W_]\S*")                       # a token with a letter or a digit
_EXERCISE_HEADING = re.compile(r"^#+[ \t]+Exercise\b(.*)$", re.M)
_EXERCISE_ID = re.compile(r"\b(\d\d\.\d+)\b")
_ROW = re.compile(r"^(\d\d_\S+\.ipynb)\s+(ok|failed|not run)\s+([\d.]+)\s+\d+\s*$", re.M)


def root() -> Path:
    return config.project_root()


def notebooks(folder: Path | None = None) -> list[Path]:
    """The numbered notebooks of the series, in order."""
    return sorted((folder or root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def markdown_cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]


def words(text: str) -> int:
    return len(_WORD.findall(text))


def exercise_kinds(path: Path) -> list[tuple[str, str]]:
    """(exercise, kind) for each exercise of a notebook: the checked ones of the registry with their solution
    kind, then one ("NN ?", "question") per exercise heading that names none of them."""
    number = path.name[:2]
    checked = [(ex.id, "grow" if ex.id in growing_dag.GROWS + emr_dag.GROWS else ex.solution)
               for ex in sorted(exercises.REGISTRY.values(), key=lambda e: e.id) if ex.id.split(".")[0] == number]
    headings = [m.group(1) for cell in markdown_cells(path) for m in _EXERCISE_HEADING.finditer(cell)]
    unnamed = [h for h in headings if not _EXERCISE_ID.search(h)]
    questions = [(f"{number} question {i + 1}", "question") for i in range(len(unnamed))]
    return checked + questions


def named_in_headings(path: Path) -> set[str]:
    """The exercise ids the notebook's exercise headings name ("Exercise 07.1 and 07.2: ...")."""
    return {i for cell in markdown_cells(path) for m in _EXERCISE_HEADING.finditer(cell)
            for i in _EXERCISE_ID.findall(m.group(1))}


def allowance(kind: str) -> int:
    return QUESTION if kind == "question" else ALLOWANCE[kind]


@dataclass(frozen=True)
class Record:
    path: str                  # relative to the project: bench/reference/series-<scale>-<date>.txt
    fields: dict[str, str]     # its header: machine, start, load, exit status ...
    rows: dict[str, tuple[str, float]]   # notebook (today's name) -> (status, seconds)

    @property
    def date(self) -> str:
        return self.fields["start"].split()[0]

    @property
    def machine(self) -> str:
        return self.fields["machine"]

    def seconds(self, notebook: str) -> float | None:
        """The notebook's seconds, if the recorded run finished it."""
        status, seconds = self.rows.get(notebook, ("not in the record", 0.0))
        return seconds if status == "ok" else None

    def why_not(self, notebook: str) -> str:
        status = self.rows.get(notebook, ("not in the record",))[0]
        return {"failed": f"the run of {self.date} failed in it",
                "not run": f"the run of {self.date} stopped before it",
                "not in the record": f"the run of {self.date} predates it"}.get(status, "")


def read_record(relative: str, base: Path | None = None) -> Record:
    text = ((base or root()) / relative).read_text()
    header, _, body = text.partition("\n\n")
    fields = dict(line[2:].split(": ", 1) for line in header.splitlines() if line.startswith("# ") and ": " in line)
    names = NAMES_THEN.get(relative, {})
    rows = {names.get(m.group(1), m.group(1)): (m.group(2), float(m.group(3))) for m in _ROW.finditer(body)}
    return Record(relative, fields, rows)


def ceil_minutes(value: float) -> int:
    return math.ceil(round(value, 6))      # 3.0000001 from a float sum is 3


@dataclass(frozen=True)
class Estimate:
    notebook: str
    words: int
    exercises: tuple[tuple[str, str], ...]
    running_seconds: dict[str, float | None]    # scale -> the record's seconds (None: no finished run)

    @property
    def reading(self) -> int:
        return ceil_minutes(self.words / WORDS_PER_MINUTE)

    @property
    def exercise_minutes(self) -> int:
        return sum(allowance(kind) for _, kind in self.exercises)

    def running(self, scale: str) -> int | None:
        seconds = self.running_seconds.get(scale)
        return None if seconds is None else ceil_minutes(seconds / 60)

    def minutes(self, scale: str = "smoke") -> int | None:
        running = self.running(scale)
        if running is None:
            return None
        return ROUND_TO * math.ceil((self.reading + running + self.exercise_minutes) / ROUND_TO)


def estimate(path: Path, records: dict[str, Record] | None = None) -> Estimate:
    records = records or {scale: read_record(rel) for scale, rel in RECORDS.items()}
    text = "\n".join(markdown_cells(path))
    return Estimate(path.name, words(text), tuple(exercise_kinds(path)),
                    {scale: rec.seconds(path.name) for scale, rec in records.items()})


def time_line(est: Estimate, records: dict[str, Record]) -> str:
    """The header line: `**Time to complete:** 35 minutes at `smoke` (11 reading, 1 running the cells, 25 for
    3 exercises); 40 at `full` (6 running)` (only numbers without a unit inside the brackets: not claims)."""
    n = len(est.exercises)
    exercises_part = f"{est.exercise_minutes} for {n} exercise{'s' if n != 1 else ''}"
    smoke = est.minutes("smoke")
    if smoke is None:
        raise ValueError(f"{est.notebook}: no finished run in {records['smoke'].path}: record the series at smoke")
    line = (f"{TIME_LINE} {smoke} minutes at `smoke` ({est.reading} reading, {est.running('smoke')} running the "
            f"cells, {exercises_part})")
    full = est.minutes("full")
    if full is None:
        return line + f"; at `full` no measured run yet ({records['full'].why_not(est.notebook)})."
    return line + f"; {full} at `full` ({est.running('full')} running)."


def header_line(path: Path) -> str | None:
    """The notebook's `**Time to complete:**` line as written in its first cell (None: it has none)."""
    first = json.loads(path.read_text())["cells"][0]
    return next((line for line in "".join(first["source"]).splitlines() if line.startswith(TIME_LINE)), None)


def write_header_line(path: Path, line: str) -> bool:
    """Replace the first cell's `**Time to complete:**` line; the rest of the file's bytes stay as they are.
    Returns whether it changed."""
    text = path.read_text()
    nb = json.loads(text)
    source = "".join(nb["cells"][0]["source"])
    old = header_line(path)
    if old is None:
        raise ValueError(f"{path.name}: its first cell has no {TIME_LINE} line")
    if old == line:
        return False
    new = source.replace(old, line, 1)
    nb["cells"][0]["source"] = new.splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="put each notebook's line in its header")
    args = parser.parse_args(argv)
    records = {scale: read_record(rel) for scale, rel in RECORDS.items()}
    for _ in range(5 if args.write else 0):       # a line's own words count: write until nothing changes
        if not [p for p in notebooks() if write_header_line(p, time_line(estimate(p, records), records))]:
            break
    for scale, rec in records.items():
        print(f"{scale}: {rec.path} ({rec.machine}, {rec.date}, exit status {rec.fields.get('exit status')})")
    print(f"{'notebook':<28} {'words':>6} {'read':>5} {'run':>4} {'exerc.':>6} {'smoke':>6} {'full':>5}")
    total = 0
    for path in notebooks():
        est = estimate(path, records)
        full = est.minutes("full")
        print(f"{path.name:<28} {est.words:>6} {est.reading:>5} {est.running('smoke') or '-':>4} "
              f"{est.exercise_minutes:>6} {est.minutes('smoke') or '-':>6} {full or '-':>5}")
        total += est.minutes("smoke") or 0
    print(f"total at smoke: {total} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
