"""The Apache Spark provider is installed so that pyspark's files stay intact (Makefile: `pip install --no-deps`),
and its SparkSubmitOperator builds the lab's spark-submit from the generated `spark_default` connection.

That its task runs the job on the real lab is tests/test_dags.py's (the workshop DAG end to end).
Also what `make setup` takes out again after the lock (Makefile, SLOW_IMPORTS)."""
import base64
import hashlib
import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

import labkit
from labkit import connections

ROOT = Path(__file__).resolve().parents[1]


def test_pyspark_files_are_the_ones_its_wheel_installed():
    """Every file pyspark's RECORD lists has the hash recorded there: no other package wrote into pyspark/."""
    dist = distribution("pyspark")
    checked, changed = 0, []
    for file in dist.files:
        if not file.hash:
            continue
        data = Path(file.locate()).read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.new(file.hash.mode, data).digest()).rstrip(b"=").decode()
        checked += 1
        if digest != file.hash.value:
            changed.append(str(file))
    assert checked > 500, checked
    assert changed == [], f"{len(changed)} of pyspark's files were overwritten, e.g. {changed[:3]}"


def test_pyspark_client_is_not_installed_and_the_provider_is_pinned():
    with pytest.raises(PackageNotFoundError):
        distribution("pyspark-client")
    pinned = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("SPARK_PROVIDER"))
    assert pinned.split("==")[1].strip() == distribution("apache-airflow-providers-apache-spark").version


def test_an_airflow_process_validates_provider_metadata_without_building_the_iri_grammar(tmp_path):
    """Airflow's providers manager validates every provider's metadata with jsonschema; jsonschema then imports
    the optional checker of the "iri" format when it is installed, which builds a Lark grammar (1.5 CPU-seconds of
    every `airflow` command on a 2-core machine: Makefile). `make setup` removes it (Makefile, SLOW_IMPORTS)."""
    probe = ("import json, sys\n"
             "from airflow.providers_manager import ProvidersManager\n"
             "ProvidersManager()\n"
             "print(json.dumps(sorted(m for m in ('jsonschema', 'rfc3987_syntax', 'lark') if m in sys.modules)))\n")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == ["jsonschema"], "run `make setup` (it removes rfc3987-syntax)"


HOOK_PROBE = """
import json
from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
hook = SparkSubmitHook(conn_id="spark_default", name="aggregate_dummy")
print(json.dumps(hook._build_spark_submit_command("job.py")))
"""


def test_the_operator_imports_and_submits_to_the_generated_master(tmp_path):
    cfg = labkit.load()
    record = connections.get(cfg, "spark").record()     # (the other records would generate the lab's passwords)
    assert record["connection_id"] == "spark_default"
    assert record["password"] is None and record["login"] is None          # no secret
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW_CONN_SPARK_DEFAULT=json.dumps({"conn_type": record["conn_type"], "host": record["host"]}))
    out = subprocess.run([sys.executable, "-c", HOOK_PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    command = json.loads(out.stdout.strip().splitlines()[-1])
    # the master is the client configuration's (spark-defaults.conf names the same one)
    assert command[:3] == ["spark-submit", "--master", "local[*]"] and command[-1] == "job.py", command
    assert record["host"] == next(p.value for p in labkit.hadoop_client.properties(cfg)[1] if p.name == "spark.master")
