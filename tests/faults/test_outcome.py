"""What counts as a fault survived (bench/faults.py's verdict): the rows were counted and none lost or doubled, or
the fault concerns the lab's processes on a lab holding no rows; and no process of a crashed tree is left running.
A scenario that stops before counting is never reported as survived."""
import scenarios


def outcome(**changes):
    fields = dict(fault="f", line="labkit: error: x stopped; run `labkit up`", lost=0, doubled=0, recovery="labkit up",
                  recovered=True)
    return scenarios.Outcome(**{**fields, **changes})


def test_counted_and_whole_is_survived():
    assert outcome().survived


def test_rows_not_counted_are_not_survived():
    assert not outcome(lost=None, doubled=None).counted
    assert not outcome(lost=None, doubled=None).survived


def test_a_lost_or_doubled_row_is_not_survived():
    assert not outcome(lost=1).survived and not outcome(doubled=1).survived


def test_a_process_fault_on_a_lab_without_rows_needs_no_count():
    assert outcome(lost=None, doubled=None, holds_rows=False).survived
    assert not outcome(lost=None, doubled=None, holds_rows=False, recovered=False).survived


def test_two_lines_are_not_survived():
    assert not outcome(line="first\nsecond").survived


def test_a_process_left_behind_is_not_survived():
    assert outcome(left={}).survived
    assert not outcome(left={4242: "airflow worker -- LocalExecutor"}).survived
