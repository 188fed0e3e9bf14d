"""The lab's local object store: `s3://<bucket>/<key>` is the file `<state>/s3/<bucket>/<key>`.

On the `local` profile every bucket is a folder under the state folder. The EMR endpoint resolves step
scripts and `--jars` with `local_path`, and Spark jobs see the same files under their s3:// names through
Hadoop's ViewFs overload scheme (`spark_conf`). On the `aws` profile `upload` goes to the real bucket.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from labkit.errors import LabError

SCHEMES = ("s3", "s3a", "s3n")


def split(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> ("bucket", "some/key"); LabError for anything that is not an s3 URI."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in SCHEMES or not rest or rest.startswith("/"):
        raise LabError(f"{uri!r} is not an S3 URI: expected s3://<bucket>/<key>")
    bucket, _, key = rest.partition("/")
    return bucket, key


def is_s3(uri: str) -> bool:
    return uri.partition("://")[0] in SCHEMES and "://" in uri


def local_path(s3_dir: Path, uri: str) -> Path:
    """Where `uri` lives in the local object store rooted at `s3_dir` (`<state>/s3`)."""
    bucket, key = split(uri)
    path = (Path(s3_dir) / bucket / key).resolve()
    root = (Path(s3_dir) / bucket).resolve()
    if path != root and root not in path.parents:
        raise LabError(f"{uri!r} points outside its bucket; remove the '..' from the key")
    return path


def spark_conf(s3_dir: Path) -> dict[str, str]:
    """Hadoop settings that make s3://, s3a:// and s3n:// URIs read and write the local bucket folders.

    ViewFs's overload scheme takes over the s3 schemes; each bucket is a mount table whose fallback link is
    its local folder (`link./` and `linkMergeSlash` do not work here, so every bucket needs its own entry).
    """
    conf = {}
    for scheme in SCHEMES:
        conf[f"spark.hadoop.fs.{scheme}.impl"] = "org.apache.hadoop.fs.viewfs.ViewFileSystemOverloadScheme"
    buckets = sorted(p for p in Path(s3_dir).iterdir() if p.is_dir()) if Path(s3_dir).is_dir() else []
    for folder in buckets:
        conf[f"spark.hadoop.fs.viewfs.mounttable.{folder.name}.linkFallback"] = folder.resolve().as_uri()
    return conf


def upload(cfg, source: Path | str, uri: str) -> str:
    """Copy a local file into the bucket (a plain copy on `local`, an S3 PUT on `aws`). Returns the URI."""
    source = Path(source)
    if not source.is_file():
        raise LabError(f"cannot upload {source}: no such file")
    if cfg.profile == "aws":
        import boto3

        bucket, key = split(uri)
        boto3.client("s3", region_name=cfg.region).upload_file(str(source), bucket, key)
        return uri
    target = local_path(cfg.s3_dir, uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.uploading")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    return uri
