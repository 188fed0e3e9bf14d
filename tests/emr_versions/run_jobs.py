"""The application of one spark-submit under EMR 7's versions (tests/test_emr_versions.py): the three Spark jobs,
shipped with --py-files as a cluster ships them to the driver, run one after another in this one JVM.

argv[1]: JSON [[module, [args...]], ...]. Prints one line `RESULT {...}`: the versions it ran under and each
job's exit status (a job that raises is reported with its exception and the next one still runs)."""
import importlib
import json
import sys

import pyspark

plan = json.loads(sys.argv[1])
result = {"python": list(sys.version_info[:2]), "pyspark": pyspark.__version__, "jobs": {}}
for name, args in plan:
    try:
        result["jobs"][name] = importlib.import_module(name).main(args)
    except BaseException as exc:            # SystemExit from argparse included
        result["jobs"][name] = f"{type(exc).__name__}: {exc}"
print("RESULT " + json.dumps(result), flush=True)
