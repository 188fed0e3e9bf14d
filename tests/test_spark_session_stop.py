"""hadoop_client.stop_session ends pyspark's JVM before the Python process does (notebook 03's last cell).

With `spark.stop()` alone the JVM outlived the session until the kernel exited, and ran its shutdown hooks (the
deletion of its folders under spark-tmp/) while Jupyter was stopping the kernel: `make run` then printed
`java.io.IOException: Failed to delete` with a Java stack trace after notebook 03.
"""
import json
import re
import subprocess
import sys
import textwrap

import labkit
from labkit import hadoop_client

CODE = textwrap.dedent("""
    import json, os, labkit
    from labkit import hadoop_client
    cfg = labkit.load()
    spark = hadoop_client.spark_session(cfg, "test-stop-session")
    jvm = spark.sparkContext._gateway.proc.pid
    ours = sorted(p.name for p in (cfg.state_dir / "spark-tmp").iterdir())
    code = hadoop_client.stop_session(spark)
    after = {
        "code": code,
        "jvm_alive": os.path.exists(f"/proc/{jvm}"),
        "folders_during": ours,
        "folders_left": sorted(p.name for p in (cfg.state_dir / "spark-tmp").iterdir()),
    }
    again = hadoop_client.spark_session(cfg, "test-stop-session-again")   # a new JVM, after the stop
    after["again"] = again.range(3).count()
    hadoop_client.stop_session(again)
    print(json.dumps(after))
""")
JAVA_TRACE = re.compile(r"^\s+at [\w.$]+\(|Exception", re.M)


def test_stop_session_ends_the_jvm_and_its_temporary_folders_without_a_stack_trace():
    cfg = labkit.load()
    hadoop_client.render(cfg)
    before = {p.name for p in (cfg.state_dir / "spark-tmp").iterdir()}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] == 0 and not result["jvm_alive"]            # the JVM is gone when stop_session returns
    made = set(result["folders_during"]) - before
    assert any(name.startswith("spark-") for name in made)             # the session had a folder of its own ...
    assert not made & set(result["folders_left"])                      # ... and its JVM deleted it before exiting
    assert result["again"] == 3
    assert not JAVA_TRACE.search(out.stderr), out.stderr[-2000:]
