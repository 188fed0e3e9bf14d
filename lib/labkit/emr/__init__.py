"""The local EMR-compatible endpoint (server + step runner): an emulator of EMR's API.

There is no EMR on a laptop, so the lab runs an HTTP server that speaks EMR's API and runs each step on
the lab's own Spark (`labkit up` starts it; see `labkit.services.emr`). The DAG and the Spark job do not
know the difference: only the `aws_default` connection's `service_config.emr.endpoint_url` points here.

The emulator's modules:
- `engine`     clusters and steps: lifecycle, ActionOnFailure, step concurrency, auto-termination, persistence
- `api`        the table of the operations the endpoint implements (any other answers UnknownOperationException)
- `records`    RunJobFlow / step requests -> validated records; `instances`: groups, fleets, instances
- `describe`   the read-only calls (Describe*/List*); `modify`: tags, policies, settings of a live cluster
- `server`     the JSON 1.1 protocol on 127.0.0.1 (`python -m labkit.emr.server`); `sigv4`: signature checks
- `steps`      command-runner.jar / spark-submit -> a local command line; `steprun`: a step dies with its
               endpoint; `steplogs`: compressed logs and the failure reason
- `bucket`     s3://bucket/key <-> <state>/s3/bucket/key, and the ViewFs settings that make Spark agree

The client side (a boto3 client for the lab, staging the job, step logs, results) is `labkit.emr_client`.
"""
