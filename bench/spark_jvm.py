"""Benchmark: a short spark-submit with and without the lab's class-data archive (hadoop_client.class_archive),
side by side in one run.

    python bench/spark_jvm.py --scale smoke|full [--repeat N]

Target (issue 24):
  ratio spark_submit_cpu_with_archive = CPU seconds (user + sys) of a spark-submit with the archive /
                                        the same spark-submit without it   (goal <= 0.75)

The job is the archive's own small one (a group-by written as parquet and read back): what the test suite and a
smoke-scale notebook run many times, where the JVM's start is most of the work. Runs alternate (with, without,
with, ...), each a whole spark-submit of the lab's client config; the medians are compared. At full scale the
job is the same: the archive only changes how classes load, not the work on the data.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import labkit
from labkit import hadoop_client


def cpu_of(argv: list[str], env: dict) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"spark-submit failed: {done.stderr.strip().splitlines()[-1:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("smoke", "full"), default="smoke")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import os

    os.environ["LAB_SCALE"] = args.scale
    cfg = labkit.load()
    hadoop_client.build_class_archive(cfg, wait=True)
    archive = hadoop_client.class_archive()
    if not archive.is_file():
        sys.exit(f"no class-data archive was built: see {archive.parent / 'build.log'}")
    env = hadoop_client.env(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.py"
        job.write_text(hadoop_client.ARCHIVE_JOB)
        runs: dict[str, list[float]] = {"with": [], "without": []}
        for i in range(args.repeat):
            for name in ("with", "without"):
                options = hadoop_client.driver_java_options(cfg, archive=name == "with")
                runs[name].append(cpu_of([str(hadoop_client.spark_submit()), "--conf",
                                          f"spark.driver.extraJavaOptions={options}", str(job), f"{tmp}/out"], env))
                print(f"run {i + 1} {name:7} the archive: {runs[name][-1]:5.1f} s of CPU", flush=True)
    with_, without = statistics.median(runs["with"]), statistics.median(runs["without"])
    print(f"median CPU per spark-submit: {with_:.1f} s with the archive, {without:.1f} s without "
          f"({os.cpu_count()} cores, {args.repeat} runs each)")
    print(f"ratio spark_submit_cpu_with_archive = {with_ / without:.2f} (goal <= 0.75)")
    return 0 if with_ / without <= 0.75 else 1


if __name__ == "__main__":
    sys.exit(main())
