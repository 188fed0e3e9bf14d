"""Exercises that are checked: the learner writes DAG files in their workspace, a check says pass or what is missing.

A notebook's exercise is three cells: the task (markdown), the learner's edit of their DAG file (between the
`# [TODO <id>]` and `# [END TODO <id>]` markers of the skeleton that `begin()` put in the workspace), and

    exercises.check("07.1")

which parses the learner's file with Airflow's own DagBag (as the lab's DAG processor does) and answers in
one or two lines (`check_all("07.4", "07.5")` checks several with one parse: a parse costs seconds). The
solution is a file, `notebooks/solutions/06_1.py`, loaded on request (`%load solutions/06_1.py` shows it;
`exercises.solve("07.1")` writes it into the file's TODO block), so an executed notebook never shows it. With `LAB_SOLUTIONS=1` (papermill's `labkit run`, the tests) `check` applies the
solution first and a failing check is an error: that is how CI proves every solution passes its check.

The checks themselves live beside this module, one module per notebook (`workshop_dag`, `emr_dag`), each
registering its exercises with `@exercise(...)`.
"""
from labkit.exercises.checking import (ENV, REGISTRY, Exercise, Result, Results, begin, check, check_all, exercise,
                                      get, solve)

# The notebooks' exercises register themselves on import.
from labkit.exercises import emr_dag, growing_dag, primer, workshop_dag  # noqa: E402,F401  (after the machinery they use)

__all__ = ["ENV", "REGISTRY", "Exercise", "Result", "Results", "begin", "check", "check_all", "exercise", "get", "solve"]
