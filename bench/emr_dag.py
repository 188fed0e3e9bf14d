"""Benchmark: the EMR job three ways, side by side in one run, on the lab (local profile).

    python bench/emr_dag.py --scale smoke|full

1. `spark-submit` of spark_jobs/retail_quantity.py directly (what the step costs by itself);
2. the same job as an EMR step on the local endpoint through boto3 (cluster start + step + terminate);
3. the whole `emr_ephemeral_job` DAG triggered through Airflow's REST API, until the run ends.

Targets (issue 5):
  ratio dag_end_to_end_vs_60s       = DAG run seconds / 60               (goal <= 1)
  ratio emr_step_vs_spark_submit    = EMR-step seconds / direct seconds  (goal <= 1.3: the endpoint adds little)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import labkit
from labkit import connections, emr_client, services
from labkit.emr import steps
from labkit.emr_client import retail

DAG_ID = "emr_ephemeral_job"


def job_args(cfg, run_date: str) -> list[str]:
    v, uris = connections.variables(cfg), emr_client.job_uris(cfg)
    return ["--jars", uris["jar"], uris["job"], "--input", v["RAW_DATA_PATH"],
            "--jdbc-url", connections.get(cfg, "mysql").jdbc_url,
            "--credentials", v["EMR_JDBC_CREDENTIALS"], "--run-date", run_date]


def direct(cfg) -> float:
    argv = steps.spark_submit(job_args(cfg, "2000-01-01"), s3_dir=cfg.s3_dir, cores=2)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, env=steps.step_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def emr_step(cfg) -> float:
    client = emr_client.client(cfg)
    t0 = time.perf_counter()
    cid = client.run_job_flow(Name="bench", LogUri=connections.variables(cfg)["EMR_LOG_URI"],
                              Instances={"KeepJobFlowAliveWhenNoSteps": False},
                              Steps=[{"Name": "retail_quantity", "ActionOnFailure": "TERMINATE_CLUSTER",
                                      "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [
                                          "spark-submit", *job_args(cfg, "2000-01-02")]}}])["JobFlowId"]
    client.get_waiter("cluster_terminated").wait(ClusterId=cid, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
    return time.perf_counter() - t0


def dag_run(cfg) -> tuple[float, str]:
    api = services.get(cfg, "airflow").api()
    api.wait_for_dag(DAG_ID, timeout=180)
    api.unpause(DAG_ID)
    t0 = time.perf_counter()
    run_id = api.trigger(DAG_ID, logical_date=None)          # no logical date: the run day is the date
    run = api.follow(DAG_ID, run_id, timeout=1200, progress=False, interval=1)
    return time.perf_counter() - t0, run["state"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["smoke", "full"], default=os.environ.get("LAB_SCALE", "smoke"))
    args = parser.parse_args()
    os.environ["LAB_SCALE"] = args.scale
    cfg = labkit.load()
    services.up(cfg, report=lambda _: None)
    data = retail.generate(cfg, progress=sys.stderr.isatty())
    emr_client.stage_job(cfg)
    print(f"retail: {data.rows:,} lines, sum(Quantity) = {data.quantity_sum:,} ({args.scale})")

    spark_s = direct(cfg)
    step_s = emr_step(cfg)
    dag_s, state = dag_run(cfg)
    print(f"\n{'what':<44} {'seconds':>8}")
    print(f"{'spark-submit retail_quantity.py (direct)':<44} {spark_s:>8.1f}")
    print(f"{'EMR step on the local endpoint (boto3)':<44} {step_s:>8.1f}")
    print(f"{'DAG emr_ephemeral_job via REST (' + state + ')':<44} {dag_s:>8.1f}")
    print(f"\nratio dag_end_to_end_vs_60s = {dag_s / 60:.2f} (goal <= 1)")
    print(f"ratio emr_step_vs_spark_submit = {step_s / spark_s:.2f} (goal <= 1.3)")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
