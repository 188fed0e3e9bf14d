"""The Spark aggregation step of the workshop job: spark-submit of `spark_jobs/aggregate_dummy.py` (notebook 06,
bench/aggregate.py; the DAG's task runs the same job).

It reads the landed table (`landing.input_dir`) and writes the two aggregate tables (`aggregates`);
`crosschecks` holds the DuckDB and PostgreSQL yardsticks.
"""
from __future__ import annotations

from pathlib import Path

from labkit import spark_submit
from labkit.config import Config
from labkit.workshop.aggregates import output_dir
from labkit.workshop.landing import input_dir

JOB = "aggregate_dummy"


def run(cfg: Config, run_date: str, *, input: Path | None = None, output: Path | None = None,
        echo=None, repeat: int = 1, **kwargs) -> spark_submit.SubmitRun:
    """spark-submit the aggregation for one run date (what the DAG's task runs).

    `repeat` > 1 (benchmarks) runs the same aggregation again in the same JVM: result["repeat_seconds"].
    """
    args = ["--input", str(input or input_dir(cfg)), "--output", str(output or output_dir(cfg)),
            "--run-date", run_date]
    if repeat > 1:
        args += ["--repeat", str(repeat)]
    return spark_submit.submit(cfg, JOB, args, echo=echo, **kwargs)
