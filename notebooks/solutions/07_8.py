def test_the_dag_folder_imports(dagbag):
    assert dagbag.import_errors == {}, dagbag.import_errors


def test_the_job_has_its_tasks_in_order(dagbag):
    dag = dagbag.dags[DAG_ID]
    order = ["generate_interval_rows", "sqoop_import_interval", "reconcile_day", "spark_aggregate_dummy"]
    assert set(order) <= set(dag.task_ids)
    for before, after in zip(order, order[1:]):
        assert before in dag.get_task(after).get_flat_relative_ids(upstream=True), f"{after} runs before {before}"


def test_one_day_runs_through(dagbag):
    # a manual run's data interval is the day before its logical date: this run works on 2021-01-04
    run = dagbag.dags[DAG_ID].test(logical_date=pendulum.datetime(2021, 1, 5, tz="UTC"))
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
