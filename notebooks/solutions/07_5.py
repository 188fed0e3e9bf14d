with DAG(
    dag_id="my_workshop_report",
    description="Runs whenever my_workshop_job has produced a day's aggregates",
    schedule=[AGGREGATES],
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    default_args={"owner": "learner", "retries": 1},
    tags=["workshop", "exercise"],
):

    @task
    def new_aggregates(triggering_asset_events=None) -> list[str]:
        """The runs of my_workshop_job whose aggregates scheduled this run (Airflow passes their asset events)."""
        runs = [event.source_run_id for events in (triggering_asset_events or {}).values() for event in events]
        print("new aggregates from:", ", ".join(runs))
        return runs

    new_aggregates()
