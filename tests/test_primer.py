"""Notebook 02's checks (labkit.exercises.primer): each fails on a blank file or nothing done, passes on its solution,
and rejects a wrong shape and a plausible answer that does the wrong thing.

02.2 parses files with Airflow's DagBag (no lab). 02.1 and 02.3 read the lab: the connection from Airflow's REST API,
the table from PostgreSQL, which 02.3's tests fill by running the SQL of the parsed DAG's own tasks.
"""
from __future__ import annotations

import pytest

import labkit
from labkit import connections, services
from labkit.exercises import checking, primer


def _solution_text(cfg) -> str:
    return checking.solution_path(cfg, checking.get("02.2")).read_text()


# Each wrong file: (how it differs from the solution, what the check must name).
WRONG_02_2 = {
    "blank": (lambda s: "", "is empty"),
    "reversed": (lambda s: s.replace("drop_dummy_table >> ctas_dummy_table", "ctas_dummy_table >> drop_dummy_table"),
                 "does not run after `drop_dummy_table`"),
    "one_task": (lambda s: s.replace('task_id="drop_dummy_table"', 'task_id="drop_table"'),
                 "there is no task `drop_dummy_table`"),
    # parses, two tasks in order, but writes notebook 04's table (would destroy it)
    "other_table": (lambda s: s.replace('TABLE = "tbl_my_dummy"', 'TABLE = "tbl_airflow_dummy"'),
                    "touches tbl_airflow_dummy"),
    "other_connection": (lambda s: s.replace('conn_id="postgres_default",\n        sql=f"drop',
                                             'conn_id="my_postgres",\n        sql=f"drop'),
                         "runs on 'my_postgres'"),
}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    cfg = labkit.load()
    tmp = tmp_path_factory.mktemp("primer")
    text = _solution_text(cfg)
    files = {"solution": text, **{name: change(text) for name, (change, _) in WRONG_02_2.items()}}
    paths = {}
    for name, content in files.items():
        paths[name] = tmp / name / primer.FILE
        paths[name].parent.mkdir()
        paths[name].write_text(content)
    reports = checking.parse(cfg, *paths.values())
    assert all(text != change(text) for change, _ in WRONG_02_2.values()), "a wrong variant equals the solution"
    return cfg, {name: (path, reports[str(path)]) for name, path in paths.items()}


def test_02_2_passes_on_the_solution(parsed):
    cfg, by_name = parsed
    path, report = by_name["solution"]
    assert checking.verdict(checking.get("02.2"), report, path, cfg).passed


@pytest.mark.parametrize("name", WRONG_02_2)
def test_02_2_rejects_a_wrong_file_and_names_what_is_wrong(parsed, name):
    cfg, by_name = parsed
    path, report = by_name[name]
    result = checking.verdict(checking.get("02.2"), report, path, cfg)
    assert not result.passed and WRONG_02_2[name][1] in str(result), result
    assert len(str(result).splitlines()) <= 2


def test_02_exercises_have_their_solution_kinds_and_files():
    cfg = labkit.load()
    kinds = {i: checking.get(i).solution for i in ("02.1", "02.2", "02.3")}
    assert kinds == {"02.1": "run", "02.2": "file", "02.3": "none"}
    for exercise_id in ("02.1", "02.2"):
        path = checking.solution_path(cfg, checking.get(exercise_id))
        compile(path.read_text(), str(path), "exec")


# -- with the lab --------------------------------------------------------------------------------------------------
def _ctas_sql(parsed_by_name, name: str) -> tuple[str, str]:
    tasks = parsed_by_name[name][1]["dags"][primer.DAG_ID]["tasks"]
    return tasks[primer.DROP]["fields"]["sql"], tasks[primer.CTAS]["fields"]["sql"]


def _run(cfg, *statements: str) -> None:
    with connections.get(cfg, "postgres").connect() as conn, conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


@pytest.mark.services
def test_02_3_reads_what_the_dags_sql_wrote(lab, parsed):
    """The solution's own tasks' SQL (as Airflow parsed it) passes; the same DAG on half a day (a 12-hour clock's
    plausible slip) and no table at all are rejected, with the count computed from the seed's shape."""
    cfg, _ = lab
    _, by_name = parsed
    drop, ctas = _ctas_sql(by_name, "solution")
    check = checking.get("02.3")
    _run(cfg, drop)
    assert "there is no table tbl_my_dummy" in check.check(None, cfg)[0]
    _run(cfg, ctas)
    assert check.check(None, cfg) == []
    assert primer.table_facts(cfg)["rows"] == primer.expected_rows() == primer.day_minutes() * 100
    _run(cfg, drop, ctas.replace("'2021-01-01 23:59'", "'2021-01-01 11:59'"))
    missing = check.check(None, cfg)
    assert any(f"not {primer.expected_rows():,}" in m for m in missing), missing
    _run(cfg, drop)


@pytest.mark.services
def test_02_1_compares_the_connection_with_the_lab(lab):
    cfg, _ = lab
    api = services.get(cfg, "airflow").api()
    pg = connections.get(cfg, "postgres")
    check = checking.get("02.1")
    api.request("DELETE", f"connections/{primer.CONN_ID}", allow=(404,))
    assert "has no connection 'my_postgres'" in check.check(None, cfg)[0]
    record = {**pg.record(), "connection_id": primer.CONN_ID}
    try:
        api.request("POST", "connections", json={**record, "port": pg.port + 1})
        assert any(f"port is {pg.port + 1}" in m for m in check.check(None, cfg))
        api.request("DELETE", f"connections/{primer.CONN_ID}")
        api.request("POST", "connections", json=record)
        assert check.check(None, cfg) == []
    finally:
        api.request("DELETE", f"connections/{primer.CONN_ID}", allow=(404,))
