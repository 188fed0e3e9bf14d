"""Every number a learner reads is true (issue 13): no duration, size or ratio in prose unless it says where it is from.

The rule, for the markdown of every notebook and the README. A *claim* is a number with a unit of time (ms, s,
seconds, min, minutes, hours), of size (kB ... GiB) or a ratio (3x, 3×, "3 times faster"). Each claim must be
one of:

- a **reference figure**: marked `†` right after it, and the same document has a legend line starting with `†`
  that names the machine and the date it came from (`† measured ... on a 2-core x86_64 machine, 2026-11-24`);
- a **learner's time**: the estimate on the `**Time to complete:**` line, or in a table column headed
  "Time to complete": a person's reading, running and doing time, by `labkit.times`'s rule (reading at 200
  words a minute, the cells' seconds in a committed series record, an allowance per exercise), which
  tests/test_times.py recomputes;
- a **setting**: the line names the setting in backticks (`EMR_POKE_INTERVAL` is 2 s here) — true by
  construction.

Anything else that the machine measured is printed by a cell, next to a sentence that reads it; it is not typed
into prose. Counts of data (1,440 timestamps) are not claims: write them without a time unit.

And every figure marked † (with a unit or not: `5.5 minutes†`, `2.44x†`, `36%†`) comes from one recorded run of
one benchmark on one machine: the first legend line after it names that run's file,
`bench/reference/<benchmark>-<scale>-<date>.txt` (written by `bench/reference.py`: the machine, the date, the
command and the load in its header, then the benchmark's whole output), and the figure, as written, is in that
output. Notebook 09's reference rows come from `growth_reference.json`, which names its run's file the same way.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + [ROOT / "README.md"]

NUMBER = r"(?<![\w.,/-])\d+(?:[.,]\d+)*(?:\s*[–-]\s*\d+(?:[.,]\d+)*)?"
UNIT = (r"(?:ms|s|sec|seconds?|min|minutes?|h|hours?|[kKMG]i?B|x|×|"
        r"times\s+(?:faster|slower|smaller|larger|bigger|more|less|as\s+\w+))")
CLAIM = re.compile(rf"({NUMBER})\s*({UNIT})(?![\w])(\s*†)?")
# A legend: a line that starts with † and, before the paragraph ends, names a date.
LEGEND = re.compile(r"^[ \t]*(?:[-*][ \t]*)?†(?:(?!\n[ \t]*\n).)*?\b20\d\d-\d\d(?:-\d\d)?\b", re.S | re.M)
# A setting by its name: `EMR_POKE_INTERVAL`, `spark.driver.memory` (optionally `=value`).
SETTING = re.compile(r"`(?:[A-Z][A-Z0-9]*_[A-Z0-9_]+|[a-z_]+(?:\.[a-zA-Z_]+)+)(?:=[^`]*)?`")


def markdown(path: Path) -> str:
    if path.suffix == ".md":
        return path.read_text()
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def unmarked_claims(text: str) -> list[str]:
    """The claims of `text` that break the rule above, as 'claim | line' strings."""
    bad = []
    has_legend = bool(LEGEND.search(text))
    time_column = None
    in_legend = False
    for line in text.splitlines():
        in_legend = bool(line.strip()) and (in_legend or bool(re.match(r"\s*(?:[-*]\s*)?†", line)))
        if in_legend:                    # the legend is where a reference figure comes from: it may name others
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if cells and any("Time to complete" in c for c in cells):
            time_column = next(i for i, c in enumerate(cells) if "Time to complete" in c)
        elif not cells:
            time_column = None
        learner_line = line.lstrip().startswith("**Time to complete:**")
        for match in CLAIM.finditer(line):
            if match.group(3):
                if not has_legend:
                    bad.append(f"{match.group(0).strip()} | † without a legend line naming the machine and date")
                continue
            if learner_line and match.start() < (line.find("(") if "(" in line else len(line)):
                continue
            if time_column is not None and cells and len(cells) > time_column and match.group(0) in cells[time_column]:
                continue
            if SETTING.search(line):
                continue
            bad.append(f"{match.group(0).strip()} | {line.strip()[:120]}")
    return bad


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_number_says_where_it_is_from(path):
    assert unmarked_claims(markdown(path)) == []


def test_the_rule_catches_a_false_claim_and_accepts_marked_ones():
    legend = "† measured with bench/generate.py on a 2-core x86_64 machine, 2026-11-24\n"
    assert unmarked_claims("The fast path is about 9 times faster.") != []
    assert unmarked_claims("The import takes 15–30 s at full scale.") != []
    assert unmarked_claims("Text is 8x the size of parquet (1.6 GB vs 211 MB).") != []
    assert unmarked_claims("The fast path is about 2.4 times faster† than the seed.\n" + legend) == []
    assert unmarked_claims("about 2.4x† faster") != []                        # a † needs its legend
    assert unmarked_claims("**Time to complete:** 10 minutes.") == []
    assert unmarked_claims("**Time to complete:** 10 minutes (the JVM takes 10–30 s to start).") != []
    assert unmarked_claims("The sensor polls every 2 s (`EMR_POKE_INTERVAL`).") == []
    assert unmarked_claims("| notebook | Time to complete |\n|---|---|\n| 04 | 10 min |\n") == []
    assert unmarked_claims("| notebook | what it takes |\n|---|---|\n| 04 | 10 min |\n") != []
    assert unmarked_claims("one day is 1,440 timestamps; 144,000 rows") == []
    assert unmarked_claims("At `smoke` scale the series takes 4 minutes.") != []        # not a setting's name
    assert unmarked_claims("A 2 GB driver (`spark.driver.memory=2g`).") == []
    assert unmarked_claims("It took 3 s†.\n\n† measured on a 2-core machine, no date") != []
    assert unmarked_claims("It took 3 s†.\n\n† measured on a 2-core x86_64 machine,\n2026-11-24.") == []
    assert unmarked_claims("It took 3 s†.\n† 2-core, 2026-11-24; an older run took 9 s.\n\nNow 4 s.") != []


# A figure marked †: a number, an optional unit (or %), the dagger. `seconds†` alone (a column) marks nothing.
DAGGER_FIGURE = re.compile(rf"({NUMBER})(\s*(?:{UNIT}|%))?(?![\w])\s*†")
LEGEND_LINE = re.compile(r"^[ \t]*(?:[-*][ \t]*)?†")
RECORD = re.compile(r"bench/reference/[\w.-]+\.txt")


def recorded_output(name: str) -> str:
    """The benchmark's output in a record of bench/reference.py (its header checked: one machine, exit 0)."""
    path = ROOT / name
    assert path.is_file(), f"{name}: no such record (bench/reference.py writes them)"
    header, _, body = path.read_text().partition("\n\n")
    fields = dict(line[2:].split(": ", 1) for line in header.splitlines() if line.startswith("# ") and ": " in line)
    for key in ("benchmark", "command", "start", "machine", "load average at start (1, 5, 15 min)",
                "load average at end (1, 5, 15 min)"):
        assert fields.get(key), f"{name}: its header lacks {key!r}"
    assert fields.get("exit status") == "0", f"{name}: the run did not succeed (exit status {fields.get('exit status')})"
    return body


def figure_in(figure: str, unit: str, output: str) -> bool:
    """`figure` as a whole number in `output` (with its x or % when it has one: 2.44x, 36%)."""
    suffix = unit.strip() if unit.strip() in ("x", "×", "%") else ""
    return re.search(rf"(?<![\d.,]){re.escape(figure)}{re.escape(suffix)}(?![\d])", output) is not None


def dagger_problems(text: str, read=recorded_output) -> list[str]:
    """Every † figure of `text` that its legend's recorded run does not show, as 'figure | why' strings."""
    bad, pending, outputs = [], [], {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if LEGEND_LINE.match(lines[i]):
            legend = [lines[i]]
            while i + 1 < len(lines) and lines[i + 1].strip() and not LEGEND_LINE.match(lines[i + 1]):
                i += 1
                legend.append(lines[i])
            names = sorted(set(RECORD.findall(" ".join(legend))))
            if len(names) != 1:
                bad += [f"{f}{u} | its legend names {len(names)} recorded runs (bench/reference/...txt), not one"
                        for f, u in pending]
            else:
                output = outputs.setdefault(names[0], read(names[0]))
                bad += [f"{f}{u} | not in {names[0]}" for f, u in pending if not figure_in(f, u, output)]
            pending = []
        else:
            pending += [(m.group(1), m.group(2) or "") for m in DAGGER_FIGURE.finditer(lines[i])]
        i += 1
    return bad + [f"{f}{u} | no legend line after it" for f, u in pending]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_dagger_figure_is_in_the_run_its_legend_names(path):
    assert dagger_problems(markdown(path)) == []


def test_the_dagger_rule_catches_a_figure_its_run_does_not_show():
    run = {"bench/reference/series-full-2026-12-03.txt": "ratio series_minutes = 9.2 (goal <= 10)\n"
                                                          "share 07 = 3.3 minutes, 36% of the series\n"
                                                          "fast path   32.90   2.44x\n"}
    legend = "\n† `bench/reference/series-full-2026-12-03.txt`: bench/series.py on a 2-core machine, 2026-12-03"
    assert dagger_problems("It took 9.2 minutes†, 07 was 3.3 minutes† (36%†); 2.44x†." + legend, run.get) == []
    assert dagger_problems("It took 9.4 minutes†." + legend, run.get) == ["9.4 minutes | not in " + next(iter(run))]
    assert dagger_problems("It took 9.2 minutes† (37%†)." + legend, run.get) != []
    assert dagger_problems("2.4x†" + legend, run.get) != []               # 2.44x is not 2.4x
    assert dagger_problems("It took 9.2 minutes†.", run.get) != []        # no legend after it
    assert dagger_problems("It took 9.2 minutes†.\n† on a 2-core machine, 2026-12-03", run.get) != []   # no run named


def test_growth_reference_rows_are_in_the_run_they_name():
    ref = json.loads((ROOT / "lib/labkit/workshop/growth_reference.json").read_text())
    assert RECORD.fullmatch(ref.get("record", "")), "growth_reference.json names no bench/reference/...txt record"
    output = recorded_output(ref["record"])
    for point in ref["points"]:
        for key in ("import_seconds", "aggregation_seconds", "aggregation_job_seconds"):
            assert figure_in(f"{point[key]:.2f}", "", output), f"{key} {point[key]} of {point['rows']:,} rows"
