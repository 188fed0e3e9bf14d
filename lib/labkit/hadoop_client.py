"""The Airflow node as a *client* of the cluster: core-site.xml, yarn-site.xml, spark-defaults.conf, sqoop-env.sh.

In the seed workshop these files were edited by hand with vi on the Airflow machine. Here they are rendered
from the active profile into `<state>/hadoop-conf/`, and `env()` gives the environment (HADOOP_CONF_DIR,
SPARK_CONF_DIR, ...) under which `spark-submit`, the Sqoop-style import and the DAG's tasks find them.

- local: fs.defaultFS names the landing zone, a `file://` folder under the state folder; Spark runs
  `local[*]` on this machine; there is no YARN.
- aws:   fs.defaultFS is `hdfs://<emr-master>:8020`, YARN's resource manager is the EMR master, and
  spark-submit sends the job to YARN.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from labkit import connections, jdbc, procs
from labkit.config import LOOPBACK, MARIADB_JDBC_JAR, POSTGRES_JDBC_JAR, Config
from labkit.errors import LabError
from labkit.java import java_binary, require_java
from labkit.state import ensure_state_dir

FILES = ("core-site.xml", "yarn-site.xml", "spark-defaults.conf", "sqoop-env.sh", "log4j2.properties")
JDBC_JARS = (str(POSTGRES_JDBC_JAR), str(MARIADB_JDBC_JAR))
NAMENODE_PORT = 8020                 # the HDFS namenode's RPC port on EMR
HEADER = "Rendered by labkit.hadoop_client for profile {profile}; do not edit: re-render instead."
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Property:
    file: str
    name: str
    value: str
    why: str


@dataclass(frozen=True)
class ClientConfig:
    conf_dir: Path
    default_fs: str
    properties: tuple[Property, ...]

    @property
    def files(self) -> dict[str, Path]:
        return {name: self.conf_dir / name for name in FILES}

    def table(self):
        """Every rendered property with the reason it is there (what notebook 03 shows)."""
        import pandas as pd

        return pd.DataFrame([{"file": p.file, "property": p.name, "value": p.value, "why": p.why}
                             for p in self.properties]).set_index(["file", "property"])


# The driver JVM (in local mode also the executor). The throughput collector: a short batch job on 2 cores
# spends less CPU in GC than with G1 (~8% less here). At smoke scale a job runs for seconds, too short for
# the optimising JIT compiler (C2) to pay off: C1 alone makes each spark-submit ~2.5 s shorter there, but
# full-scale aggregation ~45% slower, so it is only used at smoke scale.
GC_OPTIONS = "-XX:+UseParallelGC"
SHORT_JOB_OPTIONS = "-XX:TieredStopAtLevel=1"


def driver_java_options(cfg: Config, archive: bool = True) -> str:
    """The driver JVM's flags for the lab's scale (spark.driver.extraJavaOptions), with the class-data archive once
    it is built (`archive=False`: the EMR endpoint's command, whose engine adds it to each step instead)."""
    flags = f"{GC_OPTIONS} {SHORT_JOB_OPTIONS}" if cfg.scale == "smoke" else GC_OPTIONS
    return f"{flags} {archive_option()}".strip() if archive else flags


# Class-data sharing (AppCDS): a JVM maps the classes an earlier Spark job loaded, parsed and verified, from an
# archive, instead of reading them from ~250 jars again: a short spark-submit used 14 s of CPU without it and 8 s
# with it, side by side on a 2-core machine (a reference figure; bench/spark_jvm.py measures the ratio again). The
# archive holds Spark's jars' classes for this venv's Spark and this Java, so it lives in the venv, one for every
# lab of this checkout (and the EMR endpoint's steps); the first Spark job's env() builds it in the background; jobs
# started before it is there, or by another Java, run as before. Java archives and checks only the class path up to
# the last jar it loaded from, and refuses a folder holding files before that: Spark puts its conf folder first, so
# spark.driver.extraClassPath puts Spark's own jars before it.
def spark_jars() -> Path:
    import importlib.util

    return Path(importlib.util.find_spec("pyspark").origin).parent / "jars"


def class_path_first() -> str:
    """spark.driver.extraClassPath: Spark's jars, ahead of the conf folder (what the archive holds)."""
    return f"{spark_jars()}/*"


def class_archive() -> Path:
    import hashlib

    java = Path(os.path.realpath(java_binary() or "java"))
    key = f"{java}:{java.stat().st_mtime_ns if java.exists() else 0}:{spark_jars()}"
    return Path(sys.prefix) / "spark-cds" / f"{hashlib.sha1(key.encode()).hexdigest()[:12]}.jsa"


def archive_option() -> str:
    """The JVM flag that maps the archive, or "" while there is none."""
    archive = class_archive()
    return f"-XX:SharedArchiveFile={archive}" if archive.is_file() else ""


ARCHIVE_JOB = """from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("class-archive").getOrCreate()
path = __import__("sys").argv[1]
spark.range(1000).selectExpr("id % 10 as k", "id").groupBy("k").count().write.mode("overwrite").parquet(path)
spark.read.parquet(path).orderBy("k").collect()
spark.stop()
"""


def build_class_archive(cfg: Config, wait: bool = False) -> subprocess.Popen | None:
    """Start building the class-data archive (one small Spark job of the lab's client config that writes it as it
    exits), unless it is there or being built; `wait` waits for it. None when there is nothing to do."""
    archive = class_archive()
    folder = archive.parent
    lock, failed = archive.with_suffix(".building"), archive.with_suffix(".failed")
    if archive.is_file() or failed.exists():        # built, or it cannot be here (its build.log says why)
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except PermissionError:
        return None                           # a venv this user may not write: its jobs run without an archive
    except FileExistsError:
        try:
            os.kill(int(lock.read_text() or 0), 0)
        except (ValueError, ProcessLookupError):
            lock.unlink(missing_ok=True)      # its builder died: build it again
            return build_class_archive(cfg, wait)
        if wait:                              # another process builds it
            procs.wait_for(lambda: not lock.exists(), timeout=600, what="the lab's class-data archive", interval=1)
        return None
    job = folder / "archive_job.py"
    job.write_text(ARCHIVE_JOB)
    partial = archive.with_suffix(".partial")
    script = (f"{shlex.quote(str(spark_submit()))} --conf spark.driver.extraJavaOptions="
              f"{shlex.quote(driver_java_options(cfg) + ' -XX:ArchiveClassesAtExit=' + str(partial))} "
              f"{shlex.quote(str(job))} {shlex.quote(str(folder / 'archive_job_out'))} "
              f"&& mv {shlex.quote(str(partial))} {shlex.quote(str(archive))} || touch {shlex.quote(str(failed))}; "
              f"rm -f {shlex.quote(str(lock))}")
    with open(folder / "build.log", "w") as log:
        proc = subprocess.Popen(["nice", "-n", "10", "bash", "-c", script], stdout=log, stderr=subprocess.STDOUT,
                                env=env(cfg, build_archive=False), start_new_session=True)
    os.write(fd, str(proc.pid).encode())
    os.close(fd)
    if wait:
        proc.wait()
    return proc


def conf_dir(cfg: Config) -> Path:
    return cfg.state_dir / "hadoop-conf"


def hadoop_home() -> Path:
    """Where the Hadoop client libraries are: $HADOOP_HOME if set, else the ones bundled with Spark (pyspark)."""
    if os.environ.get("HADOOP_HOME"):
        return Path(os.environ["HADOOP_HOME"])
    import pyspark

    return Path(pyspark.__file__).parent       # jars/hadoop-client-api-*.jar, hadoop-client-runtime-*.jar


def spark_submit() -> Path:
    """The spark-submit of this Python environment (the one pyspark installed)."""
    return Path(sys.executable).with_name("spark-submit")


def emr_master(cfg: Config, value: str | None = None) -> str:
    """The EMR master's host name: the argument, else LAB_EMR_MASTER.

    The aws profile provisions no long-lived cluster (the EMR DAG makes its own and ends it), and a laptop could
    not be its client anyway (README, "The workshop job on AWS"): these files are for an Airflow node inside the
    VPC, given the master of a cluster you run there.
    """
    source = "the emr_master argument"
    if not value and os.environ.get("LAB_EMR_MASTER"):
        value, source = os.environ["LAB_EMR_MASTER"], "LAB_EMR_MASTER"
    if not value:
        raise LabError("the aws profile's client files need an EMR master's address for fs.defaultFS: pass "
                       "emr_master=<host> or set LAB_EMR_MASTER=<host> (the private DNS name of a cluster's master, "
                       "for an Airflow node inside its VPC); labkit provisions no long-lived cluster")
    if not _HOST.match(value):
        raise LabError(f"EMR master {value!r} (from {source}) is not a host name; give only the host, e.g. "
                       "ip-10-0-1-23.ec2.internal (no scheme, port or path)")
    return value


def properties(cfg: Config, emr_master_host: str | None = None) -> tuple[str, list[Property]]:
    """(fs.defaultFS, every property of every file) for the active profile."""
    home = hadoop_home()
    conf = conf_dir(cfg)
    jars = ",".join(JDBC_JARS)
    common_spark = [
        Property("spark-defaults.conf", "spark.driver.extraJavaOptions", driver_java_options(cfg),
                 "the parallel GC; at smoke scale also C1-only JIT: seconds-long jobs end before C2 pays off"),
        Property("spark-defaults.conf", "spark.jars", jars,
                 "JDBC drivers for PostgreSQL and MySQL/MariaDB, shipped with every job (no --jars needed)"),
        Property("spark-defaults.conf", "spark.sql.shuffle.partitions", "4",
                 "the default 200 shuffle partitions is for clusters; a few suit one machine and small data"),
        Property("spark-defaults.conf", "spark.sql.adaptive.enabled", "true",
                 "adaptive query execution merges small shuffle partitions at run time"),
        Property("spark-defaults.conf", "spark.sql.session.timeZone", "UTC",
                 "timestamps parse and print the same on every machine"),
    ]
    sqoop = [
        Property("sqoop-env.sh", "HADOOP_COMMON_HOME", str(home),
                 "where the Hadoop client libraries are (here: the ones bundled with Spark)"),
        Property("sqoop-env.sh", "HADOOP_MAPRED_HOME", str(home),
                 "MapReduce libraries; with no mapreduce.framework.name=yarn, Sqoop's map tasks run on this "
                 "node (the seed's observation: the Sqoop job runs locally)"),
        Property("sqoop-env.sh", "HADOOP_CONF_DIR", str(conf), "the folder holding core-site.xml and yarn-site.xml"),
    ]
    if cfg.profile == "aws":
        master = emr_master(cfg, emr_master_host)
        default_fs = f"hdfs://{master}:{NAMENODE_PORT}"
        props = [
            Property("core-site.xml", "fs.defaultFS", default_fs,
                     "paths without a scheme (/user/...) go to the EMR cluster's HDFS namenode"),
            Property("yarn-site.xml", "yarn.resourcemanager.hostname", master,
                     "spark-submit with master yarn asks this resource manager (port 8032) for executors"),
            Property("spark-defaults.conf", "spark.master", connections.get(cfg, "spark").host,
                     "jobs run on the EMR cluster; this node only submits them"),
            Property("spark-defaults.conf", "spark.submit.deployMode", "client",
                     "the driver runs here, on the Airflow node, so its output lands in the task log"),
            *common_spark, *sqoop,
        ]
    else:
        default_fs = cfg.landing_dir.as_uri()
        props = [
            Property("core-site.xml", "fs.defaultFS", default_fs,
                     "the landing zone; Hadoop takes the scheme (file://) from it, so jobs write full URIs "
                     "under it, exactly as they would under hdfs://<emr-master>:8020"),
            Property("yarn-site.xml", "yarn.resourcemanager.hostname", LOOPBACK,
                     "no resource manager runs locally: spark.master is local[*], so YARN is never asked"),
            Property("spark-defaults.conf", "spark.master", connections.get(cfg, "spark").host,
                     "Spark runs inside the spark-submit process, one worker thread per core"),
            Property("spark-defaults.conf", "spark.driver.host", LOOPBACK,
                     "the driver advertises loopback: nothing listens on a public interface"),
            Property("spark-defaults.conf", "spark.driver.bindAddress", LOOPBACK, "and binds only there"),
            Property("spark-defaults.conf", "spark.ui.enabled", "false",
                     "no web UI port per job (several jobs may run at once)"),
            Property("spark-defaults.conf", "spark.driver.memory", "2g",
                     "local mode: the driver is also the executor"),
            Property("spark-defaults.conf", "spark.sql.warehouse.dir", (cfg.state_dir / "spark-warehouse").as_uri(),
                     "no spark-warehouse/ folder in whatever directory a job starts from"),
            Property("spark-defaults.conf", "spark.driver.extraClassPath", class_path_first(),
                     "Spark's jars first on the class path, so the class-data archive can hold their classes"),
            *common_spark, *sqoop,
        ]
    return default_fs, props


def _xml(props: list[Property], profile: str) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f"<!-- {HEADER.format(profile=profile)} -->", "<configuration>"]
    for p in props:
        why = p.why.replace("--", "- -")          # "--" may not appear inside an XML comment
        lines += [f"  <!-- {why} -->", "  <property>", f"    <name>{escape(p.name)}</name>",
                  f"    <value>{escape(p.value)}</value>", "  </property>"]
    return "\n".join(lines + ["</configuration>", ""])


ERROR_LOG_ENV = "LAB_SPARK_ERROR_LOG"      # where a Spark job of spark_jobs/ appends a failure's whole trace


def error_log(cfg: Config) -> Path:
    """The file that gets Spark's stack traces (the JVM's, through log4j2, and a job's Python traceback with the
    Java frames in it): a learner's cell and a task's log get one line that names it."""
    return cfg.logs_dir / "spark.log"


def _render_files(props: list[Property], profile: str, frames: Path | None = None) -> dict[str, str]:
    by_file: dict[str, list[Property]] = {name: [] for name in FILES}
    for p in props:
        by_file[p.file].append(p)
    spark = [f"# {HEADER.format(profile=profile)}"]
    for p in by_file["spark-defaults.conf"]:
        spark += [f"# {p.why}", f"{p.name:<34} {p.value}"]
    sqoop = ["#!/bin/sh", f"# {HEADER.format(profile=profile)}"]
    for p in by_file["sqoop-env.sh"]:
        sqoop += [f"# {p.why}", f"export {p.name}={p.value}"]
    log4j = [f"# {HEADER.format(profile=profile)}", "# Spark's own INFO lines hide a job's output; warnings and errors stay.",
             "rootLogger.level = warn", "rootLogger.appenderRef.stderr.ref = console",
             "# Hadoop's native libraries are optional: the pure-Java code paths are used without a warning.",
             "logger.native.name = org.apache.hadoop.util.NativeCodeLoader", "logger.native.level = error",
             "appender.console.type = Console", "appender.console.name = console", "appender.console.target = SYSTEM_ERR",
             "appender.console.layout.type = PatternLayout",
             "# One line per event on the console: the first line of its message, no exception. The whole event, Java",
             "# frames and all (Spark also writes them into a message), goes to the file below.",
             "appender.console.layout.alwaysWriteExceptions = false",
             "appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %replace{%m}{(?s)[\\r\\n].*}{ ...}%n"]
    if frames is not None:
        log4j[-1] = log4j[-1].replace("{ ...}", "{ ... (all of it: %s)}" % frames)
        log4j += ["rootLogger.appenderRef.frames.ref = frames", "appender.frames.type = File",
                  "appender.frames.name = frames", f"appender.frames.fileName = {frames}",
                  "appender.frames.append = true",
                  "appender.frames.layout.type = PatternLayout",
                  "appender.frames.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex"]
    return {
        "core-site.xml": _xml(by_file["core-site.xml"], profile),
        "yarn-site.xml": _xml(by_file["yarn-site.xml"], profile),
        "spark-defaults.conf": "\n".join(spark) + "\n",
        "sqoop-env.sh": "\n".join(sqoop) + "\n",
        "log4j2.properties": "\n".join(log4j) + "\n",
    }


def render(cfg: Config, *, emr_master: str | None = None) -> ClientConfig:
    """Write the client configuration of the active profile into `<state>/hadoop-conf/` (idempotent)."""
    for pin, jar in zip((jdbc.POSTGRES, jdbc.MARIADB), JDBC_JARS):
        jdbc.require(pin, Path(jar))             # spark.jars: the pinned builds, the ones EMR gets on aws
    default_fs, props = properties(cfg, emr_master)
    ensure_state_dir(cfg)                      # ours, or refused if it is somebody else's folder
    folder = conf_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)
    for name, text in _render_files(props, cfg.profile, error_log(cfg)).items():
        path = folder / name
        if not path.exists() or path.read_text() != text:      # unchanged files keep their timestamps
            path.write_text(text)
    if cfg.profile == "local":
        cfg.landing_dir.mkdir(parents=True, exist_ok=True)
        (cfg.state_dir / "spark-tmp").mkdir(parents=True, exist_ok=True)
    return ClientConfig(conf_dir=folder, default_fs=default_fs, properties=tuple(props))


def env(cfg: Config, base: dict[str, str] | None = None, build_archive: bool = True) -> dict[str, str]:
    """The environment for spark-submit / pyspark / the import: `base` (default os.environ) plus the client config.

    The folder is rendered if it is not there yet (so a DAG task can call this on its own); on the local profile,
    the lab's class-data archive is built in the background the first time (`build_archive`).
    """
    folder = conf_dir(cfg)
    if cfg.profile == "local" or not (folder / "core-site.xml").exists():
        render(cfg)          # local: always (idempotent, unchanged files untouched): an update's settings reach Spark
    if cfg.profile == "local" and build_archive and not class_archive().is_file():
        build_class_archive(cfg)
    out = dict(os.environ if base is None else base)
    out.update({
        "HADOOP_CONF_DIR": str(folder),          # core-site.xml, yarn-site.xml (spark-submit puts it on the classpath)
        "YARN_CONF_DIR": str(folder),
        "SPARK_CONF_DIR": str(folder),           # spark-defaults.conf, log4j2.properties
        "PYSPARK_PYTHON": sys.executable,        # the driver and the workers use this venv's Python
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        ERROR_LOG_ENV: str(error_log(cfg)),      # the jobs' traces (a learner sees one line naming it)
    })
    if cfg.profile == "local":
        out["SPARK_LOCAL_IP"] = LOOPBACK
        out["SPARK_LOCAL_DIRS"] = str(cfg.state_dir / "spark-tmp")   # shuffle/spill files stay in the state folder
    return out


def spark_session(cfg: Config, app_name: str = "labkit"):
    """A SparkSession in this Python process that reads the rendered client config (like spark-submit does).

    The JVM reads HADOOP_CONF_DIR/SPARK_CONF_DIR when it starts, so these are set in os.environ first; a
    session that is already running in this process is returned as it is.
    """
    require_java()
    for key, value in env(cfg, base={}).items():
        os.environ[key] = value
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName(app_name).getOrCreate()
    _check_session(cfg, spark)
    return spark


def stop_session(spark, timeout: float = 120) -> int:
    """Stop a session of `spark_session()` *and its JVM*, and wait until the JVM has exited; returns its exit code.

    `spark.stop()` alone ends the SparkContext but leaves pyspark's JVM running until this Python process exits.
    In a notebook that is when Jupyter shuts the kernel down: the JVM then runs its shutdown hooks (which delete
    its temporary folders under `spark-tmp/`) while the kernel's process group is being torn down (jupyter_client
    signals the whole group of a kernel slow to exit), and a hook cut short there prints
    `java.io.IOException: Failed to delete: ...` with its stack trace into the output of `make run`. Here the JVM ends now, while nothing else is stopping: pyspark's gateway exits when its standard
    input closes, and its hooks finish before this returns. A later `spark_session()` starts a new JVM.
    """
    from pyspark import SparkContext

    spark.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return 0
    proc = getattr(gateway, "proc", None)      # pyspark keeps the JVM's Popen here when it launched it
    gateway.shutdown()                          # Python's side first: nothing talks to the JVM after this
    SparkContext._gateway = SparkContext._jvm = None
    if proc is None:
        return 0
    proc.stdin.close()                          # EOF: PythonGatewayServer calls System.exit(0)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabError(f"Spark's JVM (pid {proc.pid}) did not exit within {timeout:.0f} s of its stop; "
                       "restart the kernel") from None


def _check_session(cfg: Config, spark) -> None:
    """A JVM started before the config was rendered does not see it (core-site.xml is read from its classpath)."""
    wanted = properties(cfg)[0] if cfg.profile == "local" else None
    found = spark.sparkContext._jsc.hadoopConfiguration().get("fs.defaultFS")
    if wanted and found != wanted:
        raise LabError(f"this Python process started Spark before the client config was in place (fs.defaultFS is "
                       f"{found}, not {wanted}); restart the kernel/process and call hadoop_client.spark_session "
                       "first")


def verify(cfg: Config, spark=None, text: str = "hello from the Airflow node") -> dict:
    """Write a file into the landing zone through Hadoop's FileSystem API (in the Spark JVM), read it back, list.

    Returns {"default_fs", "filesystem", "path", "written", "read", "listing"}; raises LabError on a mismatch.
    """
    spark = spark or spark_session(cfg, "labkit-verify-client-config")
    _check_session(cfg, spark)
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    default_fs = conf.get("fs.defaultFS")
    Path_ = jvm.org.apache.hadoop.fs.Path
    root = Path_(default_fs)
    fs = root.getFileSystem(conf)
    path = Path_(root, "_client_check/hello.txt")
    out = fs.create(path, True)                       # overwrite=True: re-running is harmless
    out.write(bytearray(text.encode()))
    out.close()
    stream = fs.open(path)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
    read = reader.readLine()
    reader.close()
    listing = sorted((s.getPath().getName(), "dir" if s.isDirectory() else "file", s.getLen())
                     for s in fs.listStatus(root))
    result = {"default_fs": default_fs, "filesystem": fs.getClass().getSimpleName(), "path": path.toString(),
              "written": text, "read": read, "listing": listing}
    if read != text:
        raise LabError(f"wrote {text!r} to {path.toString()} but read back {read!r}; check fs.defaultFS in "
                       f"{conf_dir(cfg) / 'core-site.xml'}")
    return result
