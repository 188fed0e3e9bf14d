"""A step's log on aws: where EMR pushes it, `<LogUri><cluster-id>/steps/<step-id>/<name>.gz` in the lab's bucket.

The local profile's `labkit.emr_client.step_log` reads the same path from the lab's bucket folder; on aws the
objects are in S3 and appear only when EMR's log pusher has uploaded them (EMR Management Guide, "View log files
archived to Amazon S3": every few minutes, so not always by the time a step has ended). Read with the learner's
credentials (the EC2 role only writes there).
"""
from __future__ import annotations

import gzip

from labkit.aws.session import connect
from labkit.aws.steps import code
from labkit.config import Config
from labkit.errors import LabError


def step_log(cfg: Config, log_uri: str, cluster_id: str, step_id: str, name: str = "stderr", lines: int = 40,
             acct=None) -> str:
    """The end of a step's log from S3 ('' while EMR has not pushed it yet)."""
    from botocore.exceptions import ClientError

    if not log_uri.startswith("s3://"):
        raise LabError(f"log_uri={log_uri!r} is not an s3:// URI: give the cluster's LogUri (EMR_LOG_URI)")
    bucket, _, prefix = log_uri.removeprefix("s3://").partition("/")
    key = f"{prefix.rstrip('/')}/{cluster_id}/steps/{step_id}/{name}.gz".lstrip("/")
    s3 = (acct or connect(cfg.region)).s3
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if code(exc) in ("NoSuchKey", "404"):
            return ""
        raise LabError(f"cannot read s3://{bucket}/{key} ({code(exc)}); your user needs s3:GetObject on the lab's "
                       "bucket") from None
    text = gzip.decompress(body).decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])
