"""Every `**Time to complete:**` line follows labkit.times's rule (issue 22): reading at 200 words a minute,
recomputed here from the notebook's markdown, plus the cells' seconds in a committed series record, plus an
allowance per exercise of the registry or per exercise heading; notebook 00's table and one-day agenda and
the README's total add the same figures up. No lab needed."""
import json
import re
import shutil
from pathlib import Path

import pytest

from labkit import exercises, times

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = times.notebooks(ROOT / "notebooks")
RECORDS = {scale: times.read_record(rel, ROOT) for scale, rel in times.RECORDS.items()}
ESTIMATES = {p.name[:2]: times.estimate(p, RECORDS) for p in NOTEBOOKS}
OVERVIEW = ROOT / "notebooks" / "00_overview.ipynb"


def test_words_are_tokens_with_a_letter_or_a_digit():
    text = "| Necessary | [01 · Provisioning](01_provisioning.ipynb) |\n|---|---|\n- one, two\n> `labkit up` 3 --"
    assert times.words(text) == 8        # Necessary [01 Provisioning](..) one, two `labkit up` 3; not · | |---|---| - > --
    assert times.words("```python\nprint(1)\n```") == 2          # code quoted in markdown is read too


def test_the_records_name_their_machine_and_the_smoke_run_finished_every_notebook():
    for rec in RECORDS.values():
        assert "cores" in rec.machine and "GiB RAM" in rec.machine, rec.path
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", rec.date), rec.path
    smoke = RECORDS["smoke"]
    assert smoke.fields["command"].startswith("python bench/series.py --scale smoke") and smoke.fields["exit status"] == "0"
    assert [n for n in (p.name for p in NOTEBOOKS) if smoke.seconds(n) is None] == [], \
        f"{smoke.path} lacks a finished run of these: record the series again (bench/reference.py series --scale smoke)"
    assert RECORDS["full"].fields["command"].startswith("python bench/series.py --scale full")


def test_every_checked_exercise_is_set_by_a_heading_of_its_notebook():
    for ex in exercises.REGISTRY.values():
        (path,) = [p for p in NOTEBOOKS if p.name.startswith(ex.id[:2] + "_")]
        assert ex.id in times.named_in_headings(path), f"{path.name} has no exercise heading naming {ex.id}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_header_states_the_rule(path):
    est = ESTIMATES[path.name[:2]]
    markdown = "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"])
                         for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
    assert est.words == len([w for w in markdown.split() if any(ch.isalnum() for ch in w)])   # the rule, again
    assert est.reading == -(-est.words // 200)
    expected = times.time_line(est, RECORDS)
    assert times.header_line(path) == expected, f"{path.name}: `python -m labkit.times --write` writes {expected!r}"


def mismatch(path: Path) -> bool:
    return times.header_line(path) != times.time_line(times.estimate(path, RECORDS), RECORDS)


def test_a_changed_number_or_400_more_words_no_longer_match(tmp_path):
    source = ROOT / "notebooks" / "04_generating_rows.ipynb"
    assert not mismatch(source)
    changed = tmp_path / "number" / source.name
    changed.parent.mkdir()
    nb = json.loads(source.read_text())
    line = times.header_line(source)
    nb["cells"][0]["source"] = "".join(nb["cells"][0]["source"]).replace(
        line, re.sub(r"\d+", lambda m: str(int(m.group()) + 5), line, count=1))
    changed.write_text(json.dumps(nb))
    assert mismatch(changed)
    longer = tmp_path / "words" / source.name
    longer.parent.mkdir()
    nb = json.loads(source.read_text())
    nb["cells"][-1]["source"] = "".join(nb["cells"][-1]["source"]) + "\n" + "word " * 400
    assert nb["cells"][-1]["cell_type"] == "markdown"
    longer.write_text(json.dumps(nb))
    assert mismatch(longer)
    same = tmp_path / "same" / source.name
    same.parent.mkdir()
    shutil.copy(source, same)
    assert not mismatch(same)


def overview_markdown() -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(OVERVIEW.read_text())["cells"] if c["cell_type"] == "markdown")


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the markdown table whose header row has a cell containing `heading`."""
    rows, inside = [], False
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else None
        if cells is None:
            inside = False
        elif any(heading in c for c in cells):
            inside = True
        elif inside and not set("".join(cells)) <= set("-: "):
            rows.append(cells)
    return rows


def test_the_overview_table_gives_each_notebooks_times_and_their_total():
    rows = table_rows(overview_markdown(), "Time to complete (smoke / full)")
    stated = {re.search(r"\[(\d\d) ", r[0]).group(1): r[-1] for r in rows if re.search(r"\[(\d\d) ", r[0])}
    assert sorted(stated) == sorted(ESTIMATES)
    for number, est in ESTIMATES.items():
        full = est.minutes("full")
        assert stated[number] == f"{est.minutes('smoke')} / {full if full else '–'} min", number
    (total,) = [r for r in rows if "whole series" in r[0]]
    assert total[-1] == f"**{sum(e.minutes('smoke') for e in ESTIMATES.values())} min** at `smoke`"
    assert f"{sum(len(e.exercises) for e in ESTIMATES.values())} exercises" in total[1]


def test_the_one_day_agenda_takes_every_notebook_once_and_adds_up():
    rows = table_rows(overview_markdown(), "Notebooks")
    sessions = [r for r in rows if re.search(r"\d\d", r[1])]
    seen = [n for r in sessions for n in re.findall(r"\b(\d\d)\b", r[1])]
    assert seen == sorted(ESTIMATES), "the agenda takes the notebooks in order, each once"
    for row in sessions:
        assert int(row[2]) == sum(ESTIMATES[n].minutes("smoke") for n in re.findall(r"\b(\d\d)\b", row[1])), row
    (day,) = [r for r in rows if "the day" in r[0]]
    total = sum(e.minutes("smoke") for e in ESTIMATES.values())
    assert day[2] == f"**{total}**"
    # 00 says the series fits one day with a lunch break and two short ones: 9 to 5 is 480 minutes, less 60 and 2 x 15
    assert total <= 480 - 60 - 2 * 15, f"{total} minutes no longer fit the one-day class 00 promises"


def test_the_readme_states_the_series_total():
    total = sum(e.minutes("smoke") for e in ESTIMATES.values())
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith(times.TIME_LINE)]
    assert lines and lines[0].startswith(f"{times.TIME_LINE} {total} minutes at `smoke`"), lines
