# A daily *data interval* (Airflow 3 reads a bare "@daily" as a trigger: a point in time, an empty interval).
SCHEDULE = CronDataIntervalTimetable("@daily", timezone="UTC")
# The run's own day, from its data interval (a manual run without a logical date has no `ds` at all).
WHERE = "created >= '{{ run.start }}' and created < '{{ run.end }}'"
