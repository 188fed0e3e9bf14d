"""The class-data archive (hadoop_client.class_archive): built once per venv, named in spark-defaults.conf, and
really used by a spark-submit of the lab's client config (Spark's own classes come from it) and by the EMR
endpoint's steps, whose class path holds no conf folder."""
import subprocess

import pytest

from labkit import hadoop_client

pytestmark = pytest.mark.services

JOB = "from pyspark.sql import SparkSession\nSparkSession.builder.getOrCreate().range(3).count()\n"


def test_spark_jobs_load_sparks_classes_from_the_labs_archive(lab, tmp_path):
    cfg, _ = lab
    hadoop_client.build_class_archive(cfg, wait=True)
    archive = hadoop_client.class_archive()
    assert archive.is_file(), (archive.parent / "build.log").read_text()[-2000:]
    env = hadoop_client.env(cfg)          # renders spark-defaults.conf with it
    options = hadoop_client.driver_java_options(cfg)
    assert f"-XX:SharedArchiveFile={archive}" in options.split()
    defaults = dict(line.split(None, 1) for line in (hadoop_client.conf_dir(cfg) / "spark-defaults.conf").read_text()
                    .splitlines() if line.strip() and not line.startswith("#"))
    assert defaults["spark.driver.extraJavaOptions"] == options
    job, loads = tmp_path / "job.py", tmp_path / "class-load.log"
    job.write_text(JOB)
    done = subprocess.run([str(hadoop_client.spark_submit()), "--conf", "spark.driver.extraJavaOptions="
                           f"{options} -Xlog:class+load=info:file={loads}", str(job)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    sources = {line.split(" source: ")[0].split()[-1]: line.split(" source: ")[1]
               for line in loads.read_text().splitlines() if " source: " in line}
    assert sources["org.apache.spark.SparkContext"].startswith("shared objects file"), sources["org.apache.spark.SparkContext"]
    shared = sum(s.startswith("shared objects file") for s in sources.values())
    assert shared > len(sources) / 2, (shared, len(sources))      # most of what the job loaded


def test_the_emr_endpoints_steps_map_the_same_archive(lab, tmp_path):
    """A step's JVM (the endpoint's spark-submit, no SPARK_CONF_DIR) with -Xshare:on, which makes Java refuse to
    start when it cannot map the archive."""
    import os

    from labkit.emr import steps
    from labkit.emr.engine import Engine

    cfg, _ = lab
    hadoop_client.build_class_archive(cfg, wait=True)
    defaults = Engine(tmp_path / "state", spark_defaults={"spark.driver.extraJavaOptions": "-XX:+UseParallelGC"}) \
        .step_spark_defaults()
    assert f"-XX:SharedArchiveFile={hadoop_client.class_archive()}" in defaults["spark.driver.extraJavaOptions"]
    job = tmp_path / "job.py"
    job.write_text(JOB)
    argv = steps.spark_submit(["--conf", f"spark.driver.extraJavaOptions={defaults['spark.driver.extraJavaOptions']}"
                               " -Xshare:on", str(job)], s3_dir=tmp_path / "s3", cores=1, defaults=defaults)
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_CONF_DIR", "HADOOP_CONF_DIR", "YARN_CONF_DIR")}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_build_that_fails_is_not_tried_again_by_every_job(monkeypatch, tmp_path):
    """A Java that cannot write the archive: one failed build (its log kept), then every later job runs without an
    archive instead of starting another build."""
    import labkit

    cfg = labkit.load()
    archive = tmp_path / "spark-cds" / "x.jsa"
    failing = tmp_path / "spark-submit"
    failing.write_text("#!/bin/sh\necho 'Error occurred during initialization of VM'; exit 1\n")
    failing.chmod(0o755)
    monkeypatch.setattr(hadoop_client, "class_archive", lambda: archive)
    monkeypatch.setattr(hadoop_client, "spark_submit", lambda: failing)
    assert hadoop_client.build_class_archive(cfg, wait=True).returncode == 0
    assert not archive.exists() and archive.with_suffix(".failed").exists()
    assert not archive.with_suffix(".building").exists()
    assert "initialization of VM" in (archive.parent / "build.log").read_text()
    assert hadoop_client.build_class_archive(cfg) is None and hadoop_client.archive_option() == ""
