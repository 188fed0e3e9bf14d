"""Import one interval of a PostgreSQL table into a folder of parquet files, as `sqoop import` would land it.

The import task of the workshop job (`airflow_workshop_job`) where it runs as an EMR step (issue 14): the
`labkit sqoop import --as-parquetfile --delete-target-dir` of one run's day, done by Spark's JDBC source on the
cluster instead of on the Airflow node. The same file runs as an EMR step on AWS, as a step of the lab's local
EMR endpoint, or by hand with spark-submit; its flags are Sqoop's where Sqoop has one:

    spark-submit --jars postgresql.jar import_interval.py \\
        --jdbc-url jdbc:postgresql://host:5432/airline_db --credentials secretsmanager://eu-west-1/airflow-lab/pg \\
        --table tbl_airflow_dummy_daily --where "created >= '2021-01-02 00:00' and created < '2021-01-03 00:00'" \\
        --split-by id --num-mappers 2 --expect-rows 144000 \\
        --target-dir s3://bucket/landing/airflow_workshop_job/tbl_airflow_dummy_daily/ds=2021-01-02

What lands is what the Sqoop-style import lands: `part-m-00000.parquet`, `part-m-00001.parquet`, ... (one per
mapper that read rows; at least one) and an empty `_SUCCESS` written last; the table's columns in its order,
all nullable, with the same parquet types (bigint -> int64, integer -> int32, text/varchar -> string, numeric(p,s)
-> decimal, date -> date32, timestamp -> timestamp(us), timestamptz -> timestamp(us, UTC)), snappy-compressed.
So `aggregate_dummy.py` reads either. (Types the Sqoop import lands as their text, such as an unconstrained
numeric, json or uuid, differ: Spark gives decimal(38,18) for the first.)

The database login is never on the command line. `--credentials` names where it is, exactly as for
`retail_quantity.py`: a Java-style properties file (`user=`, `password=`, optional `driver=`; default
org.postgresql.Driver) at a URI Spark can read (`file://` on the lab), or `secretsmanager://<region>/<secret-id>`,
an RDS-shaped secret (`username`, `password`) read with the node's AWS CLI. Spark hands the login to its
tasks inside the job (JDBC needs it on every executor); it is never printed.

How it reads, in one snapshot: the driver opens one JDBC session (REPEATABLE READ, READ ONLY), runs Sqoop's
boundary query in it (`min`, `max` of `--split-by` and `count(*)`, all *within* `--where`) and exports its
snapshot (`pg_export_snapshot()`). Each mapper is a partition of Spark's JDBC read with its own predicate
(`(--where) AND <its range of --split-by>`: `--num-mappers` equal ranges between min and max, the first also
taking NULLs, the last open-ended); its session starts with `SET TRANSACTION ... SNAPSHOT '<that one>'`
(Spark's `sessionInitStatement`, inside the transaction Spark opens for a PostgreSQL read with a fetch size),
and its predicate also requires `pg_current_snapshot()` to be the exported one (PostgreSQL >= 13). So all
mappers and the count see the same table even while it changes, and a mapper that somehow read another state
of it would land no rows and fail the reconciliation below instead of mixing two states. The driver's session
stays open until the write is done (an exported snapshot lives only as long as its transaction). `--where` is
SQL, as in Sqoop; every session is read-only, so it cannot change the source.

What is checked, before anything is published: `--expect-rows N` against the count in the snapshot (before
reading), and the rows in the written files (their footers) against that count. Either failing stops the job
with one line; the target keeps what it held and gets no `_SUCCESS`.

How it publishes (Sqoop's `--delete-target-dir`, always; `--delete-target-dir` and `--as-parquetfile` are
accepted so a Sqoop command line carries over): the files are written into a hidden sibling
`.<name>.import-staging-<application id>`, renamed to Sqoop's part names there, then the old target is moved
aside, the staging folder is renamed to the target, `_SUCCESS` is written and the old target deleted; a
failure before the last two steps puts the old one back. A rerun for the same interval therefore gives the same
target. On HDFS and a local file system the renames are atomic; on S3 (EMRFS) a rename is a copy and a delete,
so a reader can see the target half-published, but never with a `_SUCCESS`. Leftover hidden siblings of a
killed run are deleted when the next run starts (an old target moved aside with no new one in its place is
put back first); two runs into one target at the same time are not supported (an EMR
cluster runs its steps one at a time). Only pyspark and the standard library are imported.

Bad input (a `--jdbc-url` that is not PostgreSQL's, a credentials file without `password=`, a table that does
not exist, a `--where` that is not a condition, fewer rows than `--expect-rows`) is one line on stderr,
`import_interval: error: ...`, and exit status 1 (2 for a malformed flag, from argparse). The last stdout line
is `RESULT {json}`: rows, target, mappers, seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from decimal import Decimal

PROG = "import_interval"
DEFAULT_DRIVER = "org.postgresql.Driver"          # PostgreSQL JDBC, the lab's and RDS PostgreSQL's
DEFAULT_MAPPERS = 4                               # Sqoop's default for -m
DEFAULT_FETCH_SIZE = 10_000                       # rows per round trip; > 0 also makes Spark read in a transaction
JDBC_URL = r"jdbc:postgresql://([^/:?]+)(?::(\d+))?/([^?]+)(?:\?.*)?"
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
INTEGER_TYPES = ("smallint", "integer", "bigint")
NUMERIC_TYPES = INTEGER_TYPES + ("numeric", "real", "double precision")
# parquet as pyarrow writes it for the Sqoop-style import: micro-second timestamps, not Spark's INT96
DEFAULT_CONF = {"spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
                "spark.sql.parquet.compression.codec": "snappy"}


class JobError(Exception):
    """Bad input the person launching the job can fix; printed as one line, exit status 1."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--jdbc-url", required=True, type=_jdbc_url, help="jdbc:postgresql://host:port/database")
    parser.add_argument("--credentials", required=True,
                        help="a properties file's URI (user=, password=, optionally driver=), or "
                             "secretsmanager://<region>/<secret-id>")
    parser.add_argument("--table", required=True, type=_table, help="table or schema.table")
    parser.add_argument("--where", help="import only rows matching this SQL condition (Sqoop's --where)")
    parser.add_argument("--split-by", type=_column, help="numeric column whose min..max range the mappers split")
    parser.add_argument("-m", "--num-mappers", type=_positive("--num-mappers"), default=DEFAULT_MAPPERS, metavar="N",
                        help=f"parallel JDBC reads (default {DEFAULT_MAPPERS}; more than 1 needs --split-by)")
    parser.add_argument("--expect-rows", type=_count, metavar="N",
                        help="fail (target unchanged, no _SUCCESS) unless the source holds exactly N rows "
                             "(within --where)")
    parser.add_argument("--target-dir", required=True, help="the folder to land in (s3://, hdfs://, file:// or a path)")
    parser.add_argument("--fetch-size", type=_positive("--fetch-size"), default=DEFAULT_FETCH_SIZE, metavar="N",
                        help=f"rows per JDBC round trip (default {DEFAULT_FETCH_SIZE:,})")
    parser.add_argument("--delete-target-dir", action="store_true",
                        help="replace the target (always done; accepted as in Sqoop)")
    parser.add_argument("--as-parquetfile", action="store_true",
                        help="parquet files (the only format; accepted as in Sqoop)")
    args = parser.parse_args(argv)
    if args.num_mappers > 1 and not args.split_by:
        parser.error(f"--num-mappers {args.num_mappers} needs --split-by <numeric column> to divide the rows "
                     "(e.g. --split-by id), or use --num-mappers 1")
    return args


def _jdbc_url(text: str) -> str:
    if not re.fullmatch(JDBC_URL, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a PostgreSQL JDBC URL: expected "
                                         "jdbc:postgresql://<host>:<port>/<database>")
    return text


def _table(text: str) -> str:
    if not re.fullmatch(rf"{IDENTIFIER}(\.{IDENTIFIER})?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a table name like tbl_airflow_dummy_daily or "
                                         "public.tbl_airflow_dummy_daily")
    return text


def _column(text: str) -> str:
    if not re.fullmatch(IDENTIFIER, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a column name like id")
    return text


def _positive(flag: str):
    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
            raise argparse.ArgumentTypeError(f"{text!r}: {flag} must be a whole number >= 1")
        return int(text)
    return parse


def _count(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text):
        raise argparse.ArgumentTypeError(f"{text!r}: give the number of rows the source must hold, a whole number "
                                         ">= 0 (e.g. what the task that wrote them counted)")
    return int(text)


# -- the login: a copy of retail_quantity.py's reader (each job is shipped to the cluster alone and cannot
# import a sibling); keep the two identical apart from the job's name in the messages.
def read_properties(spark, uri: str) -> dict[str, str]:
    """key=value lines of a properties file anywhere Spark can read (file://, s3://, hdfs://)."""
    props = {}
    for row in spark.read.text(uri).collect():
        line = row.value.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    missing = [k for k in ("user", "password") if not props.get(k)]
    if missing:
        raise SystemExit(f"{PROG}: error: {uri} has no {' or '.join(missing)}= line; "
                         "it needs user=, password= (and optionally driver=)")
    props.setdefault("driver", DEFAULT_DRIVER)
    return props


SECRET_SCHEME = "secretsmanager://"


def read_secret(uri: str) -> dict[str, str]:
    """The login in the Secrets Manager secret `secretsmanager://<region>/<secret-id>`, through the AWS CLI."""
    region, _, secret_id = uri[len(SECRET_SCHEME):].partition("/")
    if not region or not secret_id:
        raise SystemExit(f"{PROG}: error: --credentials {uri!r} is not secretsmanager://<region>/<secret-id>")
    command = ["aws", "secretsmanager", "get-secret-value", "--region", region, "--secret-id", secret_id,
               "--query", "SecretString", "--output", "text"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise SystemExit(f"{PROG}: error: no `aws` command on this node to read the secret with (EMR installs "
                         "the AWS CLI on every node; elsewhere give a properties file)") from None
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"{PROG}: error: cannot read secret {secret_id} in {region}: {why}")
    try:
        value = json.loads(out.stdout)
        props = {"user": value["username"], "password": value["password"]}
    except (ValueError, KeyError, TypeError):
        raise SystemExit(f"{PROG}: error: secret {secret_id} is not an RDS-style login "
                         "(JSON with username and password)") from None
    props["driver"] = value.get("driver") or DEFAULT_DRIVER
    return props


def read_login(spark, uri: str) -> dict[str, str]:
    return read_secret(uri) if uri.startswith(SECRET_SCHEME) else read_properties(spark, uri)
# -- end of the copy


def check_exists(spark, uri: str) -> None:
    """A credentials file that is not there, as one line (Spark would log a stack trace before its error)."""
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(uri)
    if not path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path):
        raise JobError(f"--credentials {uri}: no such file; give the URI of a properties file (user=, password=) "
                       f"or {SECRET_SCHEME}<region>/<secret-id>")


def java_message(exc: Exception) -> str:
    """The first line of a JVM exception's message (py4j), else of the Python one."""
    java = getattr(exc, "java_exception", None)
    text = (java.getMessage() if java is not None else None) or str(exc)
    return (text.strip().splitlines() or [type(exc).__name__])[0]


class Snapshot:
    """The driver's JDBC session: one read-only REPEATABLE READ transaction whose snapshot the mappers share."""

    def __init__(self, spark, url: str, props: dict[str, str]):
        jvm = spark.sparkContext._jvm
        self.jvm, self.url = jvm, url
        host = re.fullmatch(JDBC_URL, url).group(1, 2)
        self.address = f"{host[0]}:{host[1] or 5432}"
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        try:
            driver = loader.loadClass(props["driver"]).newInstance()
        except Exception as exc:  # noqa: BLE001 - py4j's error for a missing class
            raise JobError(f"JDBC driver {props['driver']} not found ({java_message(exc)}); give spark-submit "
                           "--jars <postgresql jar> (or set driver= in the credentials)") from None
        info = jvm.java.util.Properties()
        info.setProperty("user", props["user"])
        info.setProperty("password", props["password"])
        info.setProperty("ApplicationName", PROG)
        try:
            self.conn = driver.connect(url, info)
        except Exception as exc:  # noqa: BLE001 - PSQLException through py4j
            raise JobError(self._connect_error(java_message(exc), props["user"], url)) from None
        if self.conn is None:
            raise JobError(f"driver {props['driver']} does not accept --jdbc-url {url}")
        self.conn.setAutoCommit(False)
        self.conn.setTransactionIsolation(jvm.java.sql.Connection.TRANSACTION_REPEATABLE_READ)
        self.conn.setReadOnly(True)

    def _connect_error(self, why: str, user: str, url: str) -> str:
        if "password authentication failed" in why:
            return (f"PostgreSQL at {self.address} rejected the password of user {user!r} ({why}): fix the login "
                    "that --credentials names")
        if "does not exist" in why and "database" in why:
            return f"--jdbc-url {url}: {why}; fix the database name at its end"
        if "refused" in why or "timed out" in why or "UnknownHost" in why or "attempt failed" in why:
            return f"cannot reach PostgreSQL at {self.address} (from --jdbc-url): {why}; is it running and reachable?"
        return f"cannot connect to PostgreSQL at {self.address} as {user!r}: {why}"

    def row(self, sql: str, params: tuple = ()) -> list:
        """The first row of a query, its values as text (None for NULL)."""
        stmt = self.conn.prepareStatement(sql)
        try:
            for i, value in enumerate(params, start=1):
                stmt.setString(i, str(value))
            rs = stmt.executeQuery()
            if not rs.next():
                return []
            return [rs.getString(i) for i in range(1, rs.getMetaData().getColumnCount() + 1)]
        finally:
            stmt.close()

    def close(self) -> None:
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


def plan(db: Snapshot, args: argparse.Namespace) -> tuple[int, list[str], str, str]:
    """In the snapshot: the table's rows within --where, the mappers' predicates, the snapshot id and its text."""
    if db.row("select to_regclass(?) is not null", (args.table,)) != ["t"]:
        have = db.row("select string_agg(quote_ident(table_name), ', ' order by table_name) from "
                      "information_schema.tables where table_schema = any(current_schemas(false))")[0] or "none"
        raise JobError(f"--table {args.table!r}: no such table in {db.url} (tables: {have}); create it first "
                       "or fix the name")
    where = f"({args.where})" if args.where else "true"
    kind = None
    if args.split_by:
        found = db.row("select format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
                       "to_regclass(?) and attname = lower(?) and attnum > 0 and not attisdropped",
                       (args.table, args.split_by))
        kind = found[0].split("(")[0] if found else None
        if kind is None:
            raise JobError(f"--split-by {args.split_by!r}: table {args.table} has no such column; name a numeric "
                           "column (e.g. id), or use --num-mappers 1 without --split-by")
        if kind not in NUMERIC_TYPES:
            raise JobError(f"--split-by {args.split_by!r} is {found[0]}, but the mappers split its min..max range, "
                           "so it must be numeric (integer, bigint, numeric...)")
    column = args.split_by or "null::int"
    try:
        lo, hi, count = db.row(f"select min({column})::text, max({column})::text, count(*) "
                               f"from {args.table} where {where}")
    except Exception as exc:  # noqa: BLE001 - PSQLException through py4j
        why = java_message(exc)
        raise JobError(f"--where {args.where!r} is not a valid condition on {args.table}: {why}") from None
    snapshot_id, snapshot_text = db.row("select pg_export_snapshot(), pg_current_snapshot()::text")
    if not (re.fullmatch(r"[0-9A-F-]+", snapshot_id) and re.fullmatch(r"[0-9:,]+", snapshot_text)):
        raise JobError(f"PostgreSQL at {db.address} exported the snapshot {snapshot_id!r} ({snapshot_text!r}), "
                       "not one this job can share with its mappers")
    ranges = splits(lo, hi, args.num_mappers, args.split_by, kind in INTEGER_TYPES)
    guard = f"pg_current_snapshot()::text = '{snapshot_text}'"
    return int(count), [f"{where} and ({r}) and {guard}" for r in ranges], snapshot_id, snapshot_text


def splits(lo: str | None, hi: str | None, mappers: int, column: str | None, integer: bool) -> list[str]:
    """Sqoop's split: `mappers` ranges of equal width between min and max of `column`, as SQL conditions.

    The first range also takes the NULLs and has no lower bound, the last has no upper bound, adjacent ranges
    share a boundary (>= on one side, < on the other): together they hold every row exactly once.
    """
    if lo is None or column is None:                  # no rows, only NULLs, or -m 1: one mapper, no range
        return ["true"]
    if integer:
        low, high = int(lo), int(hi)
        mappers = max(1, min(mappers, high - low + 1))
        bounds = [low + (high - low + 1) * i // mappers for i in range(mappers)]
    else:
        low, high = Decimal(lo), Decimal(hi)
        bounds = sorted({low + (high - low) * i / mappers for i in range(mappers)})
    out = []
    for i, b in enumerate(bounds):
        parts = [f"{column} >= {b}"] if i > 0 else []
        if i < len(bounds) - 1:
            parts.append(f"{column} < {bounds[i + 1]}")
        condition = " and ".join(parts) or "true"
        out.append(f"{condition} or {column} is null" if i == 0 and parts else condition)
    return out


def start_session():
    """The SparkSession, with DEFAULT_CONF applied where neither --conf nor spark-defaults.conf set a value."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName(PROG).getOrCreate()
    given = spark.sparkContext.getConf()
    for key, value in DEFAULT_CONF.items():
        if not given.contains(key):
            spark.conf.set(key, value)
    return spark


class Target:
    """The target folder and its hidden siblings, through Hadoop's FileSystem API (s3://, hdfs://, file://)."""

    def __init__(self, spark, uri: str):
        jvm = spark.sparkContext._jvm
        self.Path = jvm.org.apache.hadoop.fs.Path
        self.path = self.Path(uri)
        self.fs = self.path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        self.fs.setWriteChecksum(False)         # file://: no hidden .crc files beside the parts
        self.uri = self.fs.makeQualified(self.path).toString()
        self.parent, self.name = self.path.getParent(), self.path.getName()
        suffix = spark.sparkContext.applicationId
        self.staging = self.Path(self.parent, f".{self.name}.import-staging-{suffix}")
        self.old = self.Path(self.parent, f".{self.name}.import-old-{suffix}")

    def check(self) -> None:
        if self.fs.exists(self.path) and self.fs.getFileStatus(self.path).isFile():
            raise JobError(f"--target-dir {self.uri} is a file, not a folder; choose another --target-dir")

    def remove_leftovers(self) -> None:
        """Hidden siblings of a killed run (staging or old folders): nobody else writes into this target. A run
        killed between moving the old target aside and moving the new one in left only the old: it goes back."""
        if not self.fs.exists(self.parent):
            return
        prefix = f".{self.name}.import-"
        for status in self.fs.listStatus(self.parent):
            name = status.getPath().getName()
            if name.startswith(prefix + "old-") and not self.fs.exists(self.path):
                self.fs.rename(status.getPath(), self.path)
            elif name.startswith(prefix):
                self.fs.delete(status.getPath(), True)

    def part_files(self, folder) -> list:
        names = sorted(s.getPath().getName() for s in self.fs.listStatus(folder))
        return [n for n in names if n.startswith("part-") and n.endswith(".parquet")]

    def publish(self) -> tuple[str, list[str]]:
        """Sqoop's part names in staging, then staging swapped in for the target, then `_SUCCESS`."""
        parts = []
        for i, name in enumerate(self.part_files(self.staging)):
            parts.append(f"part-m-{i:05d}.parquet")
            self._rename(self.Path(self.staging, name), self.Path(self.staging, parts[-1]))
        for status in self.fs.listStatus(self.staging):                     # Spark's own _SUCCESS and the like
            if status.getPath().getName() not in parts:
                self.fs.delete(status.getPath(), True)
        replaced = self.fs.exists(self.path)
        if replaced:
            self._rename(self.path, self.old)
        try:
            self._rename(self.staging, self.path)
        except BaseException:
            if replaced and not self.fs.exists(self.path):
                self.fs.rename(self.old, self.path)
            raise
        self.fs.create(self.Path(self.path, "_SUCCESS"), False).close()   # empty, written last
        if replaced:
            self.fs.delete(self.old, True)
        return ("replaced" if replaced else "created"), parts

    def _rename(self, src, dst) -> None:
        if not self.fs.rename(src, dst):
            raise JobError(f"could not rename {src.toString()} to {dst.toString()}; the target is as it was, "
                           "run the import again")


def run(args: argparse.Namespace) -> dict:
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    spark = start_session()
    t1 = time.perf_counter()
    db = target = None
    try:
        target = Target(spark, args.target_dir)
        target.remove_leftovers()
        target.check()
        if not args.credentials.startswith(SECRET_SCHEME):
            check_exists(spark, args.credentials)
        props = read_login(spark, args.credentials)
        db = Snapshot(spark, args.jdbc_url, props)
        source_rows, predicates, snapshot_id, snapshot_text = plan(db, args)
        scope = f" where {args.where}" if args.where else ""
        kept = f"the target {target.uri} is as it was (no _SUCCESS written)"
        if args.expect_rows is not None and source_rows != args.expect_rows:
            raise JobError(f"--expect-rows {args.expect_rows:,}: {args.table}{scope} holds {source_rows:,} rows; the "
                           f"source lost or gained rows since they were counted; {kept}: write the rows again "
                           "(in the DAG: clear the run), then import")
        print(f"{PROG}: importing {source_rows:,} rows of {args.table}{scope} with {len(predicates)} mapper(s)"
              f"{' by ' + args.split_by if args.split_by else ''} into {target.uri}", flush=True)

        init = (f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
                f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
        login = {"user": props["user"], "password": props["password"], "driver": props["driver"]}
        rows = (spark.read.option("fetchsize", str(args.fetch_size)).option("sessionInitStatement", init)
                .option("preferTimestampNTZ", "true")
                .jdbc(args.jdbc_url, args.table, predicates=predicates, properties=login))
        seen = Observation("read")
        t2 = time.perf_counter()
        (rows.observe(seen, F.count(F.lit(1)).alias("rows"))
             .write.mode("overwrite").parquet(target.staging.toString()))
        read_rows = int(seen.get["rows"])
        files = [f"{target.staging.toString()}/{name}" for name in target.part_files(target.staging)]
        landed = spark.read.parquet(*files).count() if files else 0           # from the files' footers
        if not read_rows == landed == source_rows:
            raise JobError(f"count mismatch importing {args.table}{scope}: the snapshot held {source_rows:,} rows, "
                           f"the mappers read {read_rows:,}, the files hold {landed:,} (a mapper outside the "
                           f"snapshot {snapshot_text} reads none); {kept}")
        mode, parts = target.publish()
        seconds = time.perf_counter() - t2
    except BaseException:
        if db is not None:                              # the staging folder, if the write began
            _quietly(lambda: target.fs.delete(target.staging, True))
        raise
    finally:
        if db is not None:
            _quietly(db.close)
        spark.stop()
    return {"table": args.table, "where": args.where, "rows": landed, "target": target.uri, "mode": mode,
            "files": parts, "mappers": len(predicates), "split_by": args.split_by, "snapshot": snapshot_text,
            "session_seconds": round(t1 - t0, 3), "import_seconds": round(seconds, 3),
            "seconds": round(time.perf_counter() - t0, 3)}


def _quietly(action) -> None:
    try:
        action()
    except Exception:  # noqa: BLE001 - cleaning up after the failure that is being reported
        pass


def one_line(exc: Exception) -> str | None:
    """Spark's error for bad input as one line (None: not an input problem; the traceback is shown)."""
    text = java_message(exc)
    if "PSQLException" in str(exc) or "ERROR:" in text or "FATAL:" in text:
        return f"PostgreSQL refused the import's read: {text}; the target is as it was (no _SUCCESS written)"
    return None


def unexpected(exc: BaseException) -> str:
    """An unexpected failure as one line: the innermost Java exception of a py4j error (what went wrong, e.g.
    `java.io.IOException: No space left on device`), else the Python one. The whole trace, Java frames and all,
    is appended to the file $LAB_SPARK_ERROR_LOG names (the lab's Spark log), and the line says where; without
    it (an EMR step: its stderr is the step's log) the trace follows the line."""
    import traceback

    java, line = getattr(exc, "java_exception", None), ""
    try:
        while java is not None and java.getCause() is not None:
            java = java.getCause()
        line = str(java.toString()) if java is not None else ""
    except Exception:  # noqa: BLE001 - the JVM is gone: the Python text below
        line = ""
    line = (line or str(exc)).strip().splitlines()[0] if (line or str(exc)).strip() else type(exc).__name__
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log = os.environ.get("LAB_SPARK_ERROR_LOG")
    if log:
        try:
            with open(log, "a") as out:
                out.write(f"{time.strftime('%y/%m/%d %H:%M:%S')} {PROG}: {line}\n{trace}\n")
            return f"{line} (the whole trace, Java frames and all: {log})"
        except OSError:                               # that disk may be the full one: the trace stays on stderr
            pass
    return f"{line}\n{trace}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except JobError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a database or path problem as one line, not a JVM stack trace
        line = one_line(exc)
        print(f"{PROG}: error: {line if line is not None else unexpected(exc)}", file=sys.stderr)
        return 1
    print(f"{PROG}: {result['rows']:,} rows of {result['table']} landed in {result['target']} ({result['mode']}, "
          f"{len(result['files'])} file(s)); session start {result['session_seconds']:.1f} s, "
          f"import {result['import_seconds']:.1f} s")
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
