"""Sum the retail table's Quantity and record (date, value) in the MySQL table `emr_table`.

The EMR step of the ephemeral-cluster DAG (`dags/emr_ephemeral_job.py`); the same file runs as an EMR
step on AWS, as a step of the lab's local EMR endpoint, or by hand with spark-submit:

    spark-submit --jars mariadb-java-client.jar retail_quantity.py \
        --input s3://lab-bucket/raw/retail --jdbc-url jdbc:mysql://127.0.0.1:33306/airflow \
        --credentials file:///path/to/emr_jdbc.properties --run-date 2024-03-31

The database login is never on the command line, where `ps`, the EMR console and the Airflow logs would show
it. `--credentials` names where it is:

- a Java-style properties file (`user=`, `password=`, optional `driver=`) read through Spark (`file://`: the
  local lab's private file);
- `secretsmanager://<region>/<secret-id>` (the aws profile): an RDS-shaped secret (`username`, `password`)
  fetched by the node's own AWS CLI, which EMR installs on every node and which signs with the instance
  profile's credentials (the EC2 role may read this one secret only). The value goes from the CLI's stdout
  into this process and nowhere else: no file, no S3 object, no argument. (The CLI and not boto3: a Spark job
  imports pyspark and the standard library only, and signing AWS requests by hand is not this job's business.)

Idempotent per date: the job deletes the row for `--run-date` and inserts the new one in one
transaction (over JDBC), so a rerun replaces that date's row instead of adding a second one, and a
failure in between (the database killed during the write) leaves the date's previous row as it was:
never no row, never two. The table is created if it does not exist, with the seed's columns.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

DEFAULT_DRIVER = "com.mysql.cj.jdbc.Driver"      # MySQL Connector/J, what EMR clusters use for Aurora MySQL


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="sum(Quantity) of the retail parquet -> MySQL emr_table")
    parser.add_argument("--input", required=True, help="the raw retail parquet (file, folder or glob; s3:// works)")
    parser.add_argument("--jdbc-url", required=True, help="e.g. jdbc:mysql://host:3306/airflow")
    parser.add_argument("--table", default="emr_table", type=_table)
    parser.add_argument("--credentials", required=True,
                        help="a properties file's URI (user=, password=, optionally driver=), or "
                             "secretsmanager://<region>/<secret-id>")
    parser.add_argument("--run-date", default=dt.date.today().isoformat(), type=_date,
                        help="the date recorded with the value, YYYY-MM-DD (default: today)")
    return parser.parse_args(argv)


def _date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"--run-date {text!r} is not a date like 2024-03-31") from None


def _table(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", text):
        raise argparse.ArgumentTypeError(f"--table {text!r} is not a table name like emr_table or airflow.emr_table")
    return text


def read_properties(spark: SparkSession, uri: str) -> dict[str, str]:
    """key=value lines of a properties file anywhere Spark can read (file://, s3://, hdfs://)."""
    props = {}
    for row in spark.read.text(uri).collect():
        line = row.value.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    missing = [k for k in ("user", "password") if not props.get(k)]
    if missing:
        raise SystemExit(f"retail_quantity: {uri} has no {' or '.join(missing)}= line; "
                         "it needs user=, password= (and optionally driver=)")
    props.setdefault("driver", DEFAULT_DRIVER)
    return props


SECRET_SCHEME = "secretsmanager://"


def read_secret(uri: str) -> dict[str, str]:
    """The login in the Secrets Manager secret `secretsmanager://<region>/<secret-id>`, through the AWS CLI."""
    region, _, secret_id = uri[len(SECRET_SCHEME):].partition("/")
    if not region or not secret_id:
        raise SystemExit(f"retail_quantity: --credentials {uri!r} is not secretsmanager://<region>/<secret-id>")
    command = ["aws", "secretsmanager", "get-secret-value", "--region", region, "--secret-id", secret_id,
               "--query", "SecretString", "--output", "text"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise SystemExit("retail_quantity: no `aws` command on this node to read the secret with (EMR installs "
                         "the AWS CLI on every node; elsewhere give a properties file)") from None
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"retail_quantity: cannot read secret {secret_id} in {region}: {why}")
    try:
        value = json.loads(out.stdout)
        props = {"user": value["username"], "password": value["password"]}
    except (ValueError, KeyError, TypeError):
        raise SystemExit(f"retail_quantity: secret {secret_id} is not an RDS-style login "
                         "(JSON with username and password)") from None
    props["driver"] = value.get("driver") or DEFAULT_DRIVER
    return props


def read_login(spark: SparkSession, uri: str) -> dict[str, str]:
    return read_secret(uri) if uri.startswith(SECRET_SCHEME) else read_properties(spark, uri)


def execute_sql(spark: SparkSession, url: str, props: dict[str, str], statements: list[tuple[str, list]]) -> None:
    """Run SQL statements over one JDBC connection, in one transaction (py4j -> the JVM's JDBC driver).

    The driver class is loaded from the jars Spark was given (--jars), so it is asked for a connection
    directly: java.sql.DriverManager would refuse a driver from that class loader.
    """
    jvm = spark.sparkContext._jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    driver = loader.loadClass(props["driver"]).newInstance()
    info = jvm.java.util.Properties()
    info.setProperty("user", props["user"])
    info.setProperty("password", props["password"])
    conn = driver.connect(url, info)
    if conn is None:
        raise SystemExit(f"retail_quantity: driver {props['driver']} does not accept {url}")
    try:
        conn.setAutoCommit(False)
        for sql, params in statements:
            stmt = conn.prepareStatement(sql)
            for i, value in enumerate(params, start=1):
                if isinstance(value, int):
                    stmt.setLong(i, value)
                else:
                    stmt.setString(i, str(value))
            stmt.execute()
            stmt.close()
        conn.commit()
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spark = SparkSession.builder.appName("retail_quantity").getOrCreate()
    try:
        props = read_login(spark, args.credentials)
        retail = spark.read.parquet(args.input)

        # The whole job: one number per run date.
        result = (retail.agg(F.coalesce(F.sum("Quantity"), F.lit(0)).cast("bigint").alias("value"))
                  .select(F.lit(args.run_date).alias("date"), "value")
                  .cache())
        row = result.first()
        print(f"retail_quantity: sum(Quantity) over {args.input} = {row['value']:,} for {args.run_date}", flush=True)

        table = args.table
        # DDL commits on its own in MySQL: the table first, then the date's row replaced in one transaction.
        execute_sql(spark, args.jdbc_url, props, [
            (f"CREATE TABLE IF NOT EXISTS {table} (date VARCHAR(255), value BIGINT)", []),
        ])
        execute_sql(spark, args.jdbc_url, props, [
            (f"DELETE FROM {table} WHERE date = ?", [args.run_date]),
            (f"INSERT INTO {table} (date, value) VALUES (?, ?)", [args.run_date, int(row["value"])]),
        ])
        print(f"retail_quantity: wrote ({args.run_date}, {row['value']}) to {table} (replacing that date's row)",
              flush=True)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
