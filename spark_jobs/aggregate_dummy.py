"""Aggregate the landed dummy table: rows per line per hour and per line per day, written as parquet.

The third task of the workshop job (`airflow_workshop_job`): the Sqoop-style import landed
`tbl_airflow_dummy` (columns id, line, comment, created 'YYYY-MM-DD HH24:MI') in the landing zone; this
job reads it and writes two small tables back to the landing zone:

    <output>/rows_per_line_hour/run_date=YYYY-MM-DD/part-*.parquet   line, day, hour, rows
    <output>/rows_per_line_day/run_date=YYYY-MM-DD/part-*.parquet    line, day, rows

`--run-date` names the output partition. In the DAG each run imports only its data interval (one day) and
passes that day, so the partition `run_date=<day>` holds the aggregates of that day's rows; run by hand on
the whole table (notebook 06) it is just a label. A rerun for the same run date replaces that run date's
partition (dynamic partition overwrite:
the new files are written to a staging folder first and swapped in when the write succeeds); other run
dates are left alone. Nothing is ever appended, so a retried task cannot double-count.

How it is computed: one pass over the input groups by (line, first 13 characters of `created`, i.e.
'YYYY-MM-DD HH'), which is the only per-row work; the day/hour columns are derived from those ~433,000
groups (a group whose key is not 'YYYY-MM-DD HH' stops the write, so the previous output stays), and
the daily table is rolled up from the hourly partition just written instead of scanning the input again.
`--input-format text` reads what `sqoop import --as-textfile` lands (comma-separated, no header).

Runs unchanged with `spark-submit` on the lab and in the DAG's BashOperator (master local[*], from the client
config's spark-defaults.conf) and as an EMR step
(`spark-submit --deploy-mode cluster s3://.../aggregate_dummy.py --input hdfs:///... ...`).
Only pyspark and the standard library are imported. The last stdout line is `RESULT {json}` with the
row counts and timings (session start vs aggregation) for whoever launched it.

    spark-submit spark_jobs/aggregate_dummy.py \
        --input .lab/landing/tbl_airflow_dummy --output .lab/landing/aggregates --run-date 2021-07-01
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from urllib.parse import urlparse

PROG = "aggregate_dummy"
HOURLY, DAILY = "rows_per_line_hour", "rows_per_line_day"
REQUIRED_COLUMNS = ("line", "created")
MALFORMED = "malformed created value: '"
TEXT_COLUMNS = "id BIGINT, line STRING, comment STRING, created STRING"   # Sqoop --as-textfile: no header
# SQL settings used when neither `spark-submit --conf` nor spark-defaults.conf gives one: a few small
# shuffle partitions suit ~0.5 million groups (Spark's default of 200 would write 200 tiny tasks); and
# no two-level aggregation map: its fast first level holds 65,536 keys, a task here meets ~100,000
# (25 lines x 4,333 hours), so every row paid for a lookup that missed (measured: ~10% less CPU without).
DEFAULT_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.codegen.aggregate.map.twolevel.enabled": "false",
}


class JobError(Exception):
    """Bad input the person launching the job can fix; printed as one line, exit status 1."""


def run_date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat() if len(text) == 10 else _bad_date(text)
    except ValueError:
        return _bad_date(text)


def _bad_date(text: str):
    raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form (Airflow passes it as {{{{ ds }}}})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="the landed table: a folder of parquet (or text) part files")
    parser.add_argument("--output", required=True, help="root folder of the aggregates (one sub-folder per table)")
    parser.add_argument("--run-date", required=True, type=run_date, help="YYYY-MM-DD; names the output partition")
    parser.add_argument("--input-format", choices=("parquet", "text"), default="parquet",
                        help="parquet (Sqoop --as-parquetfile, default) or text (--as-textfile: comma-separated)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="benchmarking: run the aggregation N times in the one session; the later runs show "
                             "the speed once the JVM has compiled the hot code (default 1)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}: must be 1 or more")
    return args


def is_local(path: str) -> bool:
    return urlparse(path).scheme in ("", "file")


def check_local_input(path: str) -> None:
    """Fail before starting a JVM when a local input folder is missing or empty."""
    folder = urlparse(path).path if path.startswith("file:") else path
    if not os.path.isdir(folder):
        raise JobError(f"--input {path}: no such folder; land the table first (the import task, "
                       "e.g. `labkit sqoop import ... --target-dir`) or fix the path")
    if not any(not name.startswith(("_", ".")) for name in os.listdir(folder)):
        raise JobError(f"--input {path}: the folder holds no data files; did the import finish (is there a _SUCCESS)?")


def check_remote_input(spark, path: str) -> None:
    """The same check through Hadoop's FileSystem API (hdfs://, s3://) once the JVM is up."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(hpath):
        raise JobError(f"--input {path}: no such folder on {fs.getUri().toString()}; land the table first or fix the path")


def read_landed(spark, path: str, fmt: str):
    if fmt == "text":
        return spark.read.csv(path, schema=TEXT_COLUMNS, header=False)
    df = spark.read.parquet(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise JobError(f"--input {path}: column(s) {', '.join(missing)} missing (found {', '.join(df.columns)}); "
                       "expected the landed tbl_airflow_dummy (id, line, comment, created)")
    return df


def hour_keys(landed):
    """The one pass over the input: rows per (line, 'YYYY-MM-DD HH'), the first 13 characters of created."""
    from pyspark.sql import functions as F

    return landed.groupBy("line", F.substring("created", 1, 13).alias("hour_key")).agg(F.count(F.lit(1)).alias("rows"))


def hourly_counts(keyed):
    """rows per (line, day, hour), derived from the grouped keys (~433,000 rows at full scale).

    A key that is not 'YYYY-MM-DD HH' stops the job with raise_error() (checked per group, not per row),
    which aborts the write: the previous output of that run date stays as it was.
    """
    from pyspark.sql import functions as F

    valid = F.col("hour_key").rlike(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}$")
    stop = F.raise_error(F.concat(F.lit(MALFORMED), F.col("hour_key"), F.lit("'")))
    return keyed.select(
        "line",
        F.when(valid, F.substring("hour_key", 1, 10).cast("date")).otherwise(stop).alias("day"),
        F.when(valid, F.substring("hour_key", 12, 2).cast("int")).otherwise(stop).alias("hour"),
        "rows",
    )


def observed(df, observation):
    """Count groups and rows while a table is written (observe(): no extra pass over the data)."""
    from pyspark.sql import functions as F

    return df.observe(observation, F.count(F.lit(1)).alias("groups"), F.sum("rows").alias("rows"))


def daily_counts(hourly):
    """rows per (line, day), rolled up from the hourly table instead of a second scan of the input."""
    from pyspark.sql import functions as F

    return hourly.groupBy("line", "day").agg(F.sum("rows").cast("bigint").alias("rows"))


def write_partition(df, root: str, name: str, date: str) -> str:
    """Overwrite only `<root>/<name>/run_date=<date>/` (dynamic partition overwrite), in one file."""
    from pyspark.sql import functions as F

    target = f"{root.rstrip('/')}/{name}"
    (df.withColumn("run_date", F.lit(date)).coalesce(1)
       .write.mode("overwrite").option("partitionOverwriteMode", "dynamic")
       .partitionBy("run_date").parquet(target))
    return f"{target}/run_date={date}"


def start_session():
    """The SparkSession, with DEFAULT_CONF applied where neither --conf nor spark-defaults.conf set a value."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName(PROG).getOrCreate()
    given = spark.sparkContext.getConf()
    for key, value in DEFAULT_CONF.items():
        if not given.contains(key):
            spark.conf.set(key, value)
    return spark


def run(args: argparse.Namespace) -> dict:
    from pyspark.sql import Observation

    if is_local(args.input):
        check_local_input(args.input)
    t0 = time.perf_counter()
    spark = start_session()
    t1 = time.perf_counter()
    given = spark.sparkContext.getConf()
    settings = {key: given.get(key, None) for key in ("spark.master", "spark.driver.memory")}
    try:
        if not is_local(args.input):
            check_remote_input(spark, args.input)
        rounds = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            hourly, daily = Observation("hourly"), Observation("daily")
            keyed = hour_keys(read_landed(spark, args.input, args.input_format))
            hourly_path = write_partition(observed(hourly_counts(keyed), hourly), args.output, HOURLY, args.run_date)
            # the daily table is rolled up from the hourly partition just written, not from a second scan
            rolled = daily_counts(spark.read.parquet(hourly_path))
            daily_path = write_partition(observed(rolled, daily), args.output, DAILY, args.run_date)
            hourly, daily = hourly.get, daily.get
            rounds.append(round(time.perf_counter() - start, 3))
    finally:
        spark.stop()
    return {
        "run_date": args.run_date, "input": args.input, "output": args.output,
        "input_rows": int(hourly["rows"] or 0), "hourly_rows": int(hourly["groups"]), "daily_rows": int(daily["groups"]),
        "outputs": {HOURLY: hourly_path, DAILY: daily_path},
        "session_seconds": round(t1 - t0, 3), "aggregate_seconds": rounds[0], "repeat_seconds": rounds,
        "settings": settings,
    }


def one_line(exc: Exception, args: argparse.Namespace) -> str | None:
    """Spark's error for bad input as one line (None: not an input problem; the traceback is shown)."""
    text = str(exc)
    if MALFORMED in text:
        value = text[text.index(MALFORMED):].split("'")[1]
        return (f"--input {args.input}: column created holds {value!r}..., not 'YYYY-MM-DD HH24:MI'; land the fixed "
                f"variant of tbl_airflow_dummy (notebook 04); the output of run date {args.run_date} is unchanged")
    try:
        from pyspark.errors import AnalysisException
    except ImportError:                                # Spark < 3.4
        from pyspark.sql.utils import AnalysisException
    if isinstance(exc, AnalysisException):
        return f"--input {args.input}: {text.splitlines()[0]}"
    broken = re.search(r"(\S+) is not a Parquet file", text)
    if broken or "can not read class org.apache.parquet" in text or "Could not read footer" in text:
        where = broken.group(1) if broken else f"a file of {args.input}"
        return (f"--input {args.input}: {where} is not a whole parquet file (cut short by a copy or a full disk?); "
                "land the table again (the import, with --delete-target-dir; in the DAG: clear the import task), "
                f"then run this job again; the output of run date {args.run_date} is unchanged")
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except JobError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # bad data / unreadable input as one line, not a JVM stack trace
        line = one_line(exc, args)
        if line is None:
            raise
        print(f"{PROG}: error: {line}", file=sys.stderr)
        return 1
    print(f"{PROG}: {result['input_rows']:,} input rows -> {result['hourly_rows']:,} rows in {HOURLY}, "
          f"{result['daily_rows']:,} rows in {DAILY} (run_date={result['run_date']}); "
          f"session start {result['session_seconds']:.1f} s, aggregation {result['aggregate_seconds']:.1f} s")
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
