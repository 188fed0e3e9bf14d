"""pyspark from a clean install: importable, no pyspark-client on top of it, a local session really runs."""
from importlib.metadata import PackageNotFoundError, version

import pytest


def test_pyspark_is_the_only_owner_of_the_pyspark_folder():
    assert version("pyspark").startswith("4.")
    with pytest.raises(PackageNotFoundError):
        version("pyspark-client")


def test_local_session_runs_a_job():
    from pyspark.sql import SparkSession, functions as F

    spark = (SparkSession.builder.master("local[2]").appName("labkit-test")
             .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1").getOrCreate())
    try:
        df = spark.range(1000).withColumn("even", F.col("id") % 2 == 0)
        assert df.filter("even").count() == 500
        assert df.agg(F.sum("id")).first()[0] == 499500
    finally:
        spark.stop()
