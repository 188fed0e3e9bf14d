@task
def reconcile_day(generated, import_summary: str) -> int:
    """The day's rows, counted twice: by the first task (its query result) and by the import (its last line)."""
    expected = generated[0][0]
    landed = int(re.search(r"Retrieved ([\d,]+) records", import_summary).group(1).replace(",", ""))
    if landed != expected:
        raise ValueError(f"the import landed {landed} rows, PostgreSQL holds {expected} for the day")
    return landed


reconciled = reconcile_day(generate_interval_rows.output, sqoop_import_interval.output)
