"""The rendered client config: its files and values per profile, and that Spark and Hadoop really use it."""
import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import labkit
from labkit import LabError, hadoop_client, jdbc, services, state


def xml_properties(path: Path) -> dict[str, str]:
    return {p.findtext("name"): p.findtext("value") for p in ET.parse(path).getroot().iter("property")}


def spark_defaults(path: Path) -> dict[str, str]:
    pairs = (line.split(None, 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {k: v.strip() for k, v in pairs}


def sourced(path: Path, name: str) -> str:
    return subprocess.run(["sh", "-c", f'. "{path}"; printf %s "${name}"'], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def local():
    cfg = labkit.load()
    hadoop_client.build_class_archive(cfg, wait=True)      # an archive built meanwhile would change spark-defaults
    return cfg, hadoop_client.render(cfg)


@pytest.fixture
def aws(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_PROFILE", "aws")
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("LAB_EMR_MASTER", raising=False)
    return labkit.load()


def test_local_files_point_at_the_landing_zone_and_local_spark(local):
    cfg, client = local
    assert client.conf_dir == cfg.state_dir / "hadoop-conf"
    assert all(path.exists() for path in client.files.values())
    core = xml_properties(client.files["core-site.xml"])
    assert core == {"fs.defaultFS": cfg.landing_dir.as_uri()} == {"fs.defaultFS": client.default_fs}
    assert client.default_fs.startswith("file:///")
    assert xml_properties(client.files["yarn-site.xml"]) == {"yarn.resourcemanager.hostname": "127.0.0.1"}
    spark = spark_defaults(client.files["spark-defaults.conf"])
    assert spark["spark.master"] == "local[*]"
    assert spark["spark.driver.host"] == spark["spark.driver.bindAddress"] == "127.0.0.1"
    assert spark["spark.ui.enabled"] == "false"
    assert spark["spark.jars"].split(",") == [str(jdbc.POSTGRES.path), str(jdbc.MARIADB.path)]
    assert int(spark["spark.sql.shuffle.partitions"]) <= 8


def test_sqoop_env_names_a_real_hadoop_client(local):
    cfg, client = local
    sqoop_env = client.files["sqoop-env.sh"]
    home = Path(sourced(sqoop_env, "HADOOP_COMMON_HOME"))
    assert home == Path(sourced(sqoop_env, "HADOOP_MAPRED_HOME"))
    assert list((home / "jars").glob("hadoop-client-api-*.jar")), home
    assert sourced(sqoop_env, "HADOOP_CONF_DIR") == str(client.conf_dir)


def test_every_property_is_explained_in_the_table(local):
    _, client = local
    table = client.table().reset_index()
    assert set(table["file"]) == {"core-site.xml", "yarn-site.xml", "spark-defaults.conf", "sqoop-env.sh"}
    assert table["why"].str.len().min() > 10


@pytest.mark.parametrize("scale, c1_only", [("smoke", True), ("full", False)])
def test_driver_jvm_flags_follow_the_scale(monkeypatch, scale, c1_only):
    """Seconds-long smoke jobs skip the optimising JIT; full-scale ones need it. Both use the parallel GC."""
    monkeypatch.setenv("LAB_SCALE", scale)
    cfg = labkit.load()
    flags = hadoop_client.driver_java_options(cfg).split()
    assert "-XX:+UseParallelGC" in flags
    assert ("-XX:TieredStopAtLevel=1" in flags) is c1_only
    rendered = {p.name: p.value for p in hadoop_client.properties(cfg)[1]}
    assert rendered["spark.driver.extraJavaOptions"] == " ".join(flags)


def test_render_is_idempotent(local):
    cfg, client = local
    before = {name: (p.read_text(), p.stat().st_mtime_ns) for name, p in client.files.items()}
    again = hadoop_client.render(cfg)
    assert {name: (p.read_text(), p.stat().st_mtime_ns) for name, p in again.files.items()} == before


def test_env_for_spark_submit(local):
    cfg, client = local
    env = hadoop_client.env(cfg, base={"PATH": "/usr/bin"})
    assert env["HADOOP_CONF_DIR"] == env["SPARK_CONF_DIR"] == str(client.conf_dir)
    assert env["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert env["PYSPARK_PYTHON"] == sys.executable
    assert env["PATH"] == "/usr/bin"
    assert hadoop_client.spark_submit().exists()


def test_aws_profile_points_at_the_emr_master(aws):
    client = hadoop_client.render(aws, emr_master="ip-10-0-1-23.ec2.internal")
    assert client.default_fs == "hdfs://ip-10-0-1-23.ec2.internal:8020"
    assert xml_properties(client.files["core-site.xml"])["fs.defaultFS"] == client.default_fs
    assert xml_properties(client.files["yarn-site.xml"])["yarn.resourcemanager.hostname"] == "ip-10-0-1-23.ec2.internal"
    spark = spark_defaults(client.files["spark-defaults.conf"])
    assert spark["spark.master"] == "yarn" and "spark.driver.host" not in spark
    assert "SPARK_LOCAL_IP" not in hadoop_client.env(aws, base={})


def test_aws_without_a_master_says_how_to_give_one_and_that_provisioning_makes_none(aws):
    state.ensure_state_dir(aws)       # provisioning's outputs name no master: the EMR DAG makes its own clusters
    outputs = aws.state_dir / "aws" / "outputs.json"
    outputs.parent.mkdir(parents=True)
    outputs.write_text(json.dumps({"bucket": "b", "emr_master_security_group": "sg-1"}))
    with pytest.raises(LabError, match=r"set LAB_EMR_MASTER=<host> .*labkit provisions no long-lived cluster$"):
        hadoop_client.render(aws)
    assert not (aws.state_dir / "hadoop-conf" / "core-site.xml").exists()


@pytest.mark.parametrize("bad", ["hdfs://ip-10-0-1-23:8020", "ip-10-0-1-23:8020", "two words", "-leading-dash"])
def test_aws_master_must_be_a_host_name(aws, bad):
    with pytest.raises(LabError, match="is not a host name"):
        hadoop_client.render(aws, emr_master=bad)


def test_filesystem_api_in_a_fresh_jvm_writes_reads_and_lists_the_landing_zone(local):
    """hadoop_client.verify in its own Python process (a JVM that starts with the rendered config)."""
    cfg, _ = local
    code = "import json, labkit; from labkit import hadoop_client as h; print(json.dumps(h.verify(labkit.load())))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["default_fs"] == cfg.landing_dir.as_uri()
    assert result["read"] == result["written"]
    assert ["_client_check", "dir"] in [entry[:2] for entry in result["listing"]]
    assert (cfg.landing_dir / "_client_check" / "hello.txt").read_text() == result["written"]


def test_spark_submit_picks_up_the_rendered_config(local, tmp_path):
    """What a DAG task does: spark-submit under hadoop_client.env(); the job sees the files' values."""
    cfg, client = local
    job = tmp_path / "show_config.py"
    job.write_text(textwrap.dedent("""\
        import json
        from pyspark.sql import SparkSession
        spark = SparkSession.builder.getOrCreate()
        sc = spark.sparkContext
        conf = sc._jsc.hadoopConfiguration()
        jvm = sc._jvm
        root = jvm.org.apache.hadoop.fs.Path(conf.get("fs.defaultFS"))
        fs = root.getFileSystem(conf)
        out = fs.create(jvm.org.apache.hadoop.fs.Path(root, "_client_check/from_spark_submit.txt"), True)
        out.write(bytearray(b"written by spark-submit"))
        out.close()
        print(json.dumps({"master": sc.master, "defaultFS": conf.get("fs.defaultFS"),
                          "partitions": spark.conf.get("spark.sql.shuffle.partitions"),
                          "jars": sc.getConf().get("spark.jars"),
                          "jvm": list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()),
                          "listing": sorted(s.getPath().getName() for s in fs.listStatus(root))}))
        spark.stop()
        """))
    out = subprocess.run([str(hadoop_client.spark_submit()), str(job)], capture_output=True, text=True,
                         env=hadoop_client.env(cfg), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["master"] == "local[*]"
    assert seen["defaultFS"] == client.default_fs
    assert seen["partitions"] == "4"
    assert "postgresql.jar" in seen["jars"] and "mariadb-java-client.jar" in seen["jars"]
    assert "_client_check" in seen["listing"]
    assert set(hadoop_client.driver_java_options(cfg).split()) <= set(seen["jvm"])   # the driver JVM's own flags
    assert (cfg.landing_dir / "_client_check" / "from_spark_submit.txt").read_text() == "written by spark-submit"
    assert "INFO" not in out.stderr      # log4j2.properties from SPARK_CONF_DIR: warnings only


def test_airflow_tasks_are_spark_clients_even_when_bashrc_puts_another_python_first(local, tmp_path):
    """A BashOperator's `bash -c` may read ~/.bashrc (pyenv, conda), which puts another python3 first on PATH.
    spark-submit must still find this venv's Spark and the rendered config, through airflow_env alone."""
    from labkit.services.airflow import airflow_env

    cfg, client = local
    foreign = tmp_path / "foreign-bin"
    foreign.mkdir()
    (foreign / "python3").write_text("#!/bin/sh\necho 'a python3 without pyspark' >&2\nexit 1\n")
    (foreign / "python3").chmod(0o755)
    job = tmp_path / "client_check.py"
    job.write_text(textwrap.dedent("""\
        import json
        from pyspark.sql import SparkSession
        spark = SparkSession.builder.getOrCreate()
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        print(json.dumps({"defaultFS": conf.get("fs.defaultFS"),
                          "java": spark.sparkContext.getConf().get("spark.driver.extraJavaOptions")}))
        spark.stop()
        """))
    env = airflow_env(cfg)
    env["PATH"] = f"{foreign}{os.pathsep}{env['PATH']}"
    assert subprocess.run(["bash", "-c", "python3 -c pass"], env=env, capture_output=True).returncode == 1
    out = subprocess.run(["bash", "-c", f"spark-submit {job}"], env=env, capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["defaultFS"] == client.default_fs
    assert seen["java"].endswith(hadoop_client.driver_java_options(cfg))     # after Spark's own module flags


def test_airflow_env_on_aws_before_provisioning_still_names_the_venv_python(aws):
    from labkit.services.airflow import airflow_env

    env = airflow_env(aws)
    assert env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == sys.executable
    assert "SPARK_CONF_DIR" not in env
