"""The S3 part of provisioning: the private bucket and what goes into it (Spark jobs, the JDBC jars, raw data),
and no login: the EMR job reads its own from Secrets Manager (`spec.secret_uri`). Uploads are compared by
SHA-256 (kept in each object's metadata): a rerun uploads only what changed.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from labkit.aws import spec
from labkit.aws.steps import Action, LabState, code
from labkit.errors import LabError
from labkit.progress import tqdm


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class StorageSteps(LabState):
    def bucket_exists(self) -> bool:
        from botocore.exceptions import ClientError

        s3 = self.acct.s3
        try:
            s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            if code(exc) in ("301", "PermanentRedirect"):
                raise LabError(f"S3 bucket {self.bucket} exists in another region than {self.acct.region}; set "
                               "LAB_REGION to its region or choose another bucket name with LAB_BUCKET") from None
            if code(exc) in ("403", "AccessDenied", "Forbidden"):
                raise LabError(f"S3 bucket name {self.bucket} is taken by another account; choose another one with "
                               "LAB_BUCKET (or [aws] bucket in lab.toml)") from None
            raise
        try:
            tags = s3.get_bucket_tagging(Bucket=self.bucket)["TagSet"]
        except ClientError as exc:
            if code(exc) != "NoSuchTagSet":
                raise
            tags = []
        self.check_tag(tags, "S3 bucket", self.bucket)
        return True

    def bucket_action(self, apply: bool) -> Action:
        if self.bucket_exists():
            return Action("S3 bucket", self.bucket, "exists", self.acct.region)
        if not apply:
            return Action("S3 bucket", self.bucket, "create", f"{self.acct.region}, private")
        s3 = self.acct.s3
        kwargs = {} if self.acct.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": self.acct.region}}
        s3.create_bucket(Bucket=self.bucket, **kwargs)
        s3.put_public_access_block(Bucket=self.bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        s3.put_bucket_tagging(Bucket=self.bucket, Tagging={"TagSet": spec.TAGS})
        return Action("S3 bucket", self.bucket, "created", f"{self.acct.region}, private")

    def upload_sets(self) -> list[tuple[str, list[tuple[Path, str]], str]]:
        jobs = sorted(p for p in self.cfg.spark_jobs_dir.rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith("."))
        raw = sorted(p for p in self.raw_dir.rglob("*") if p.is_file()) if self.raw_dir.is_dir() else []
        return [
            (spec.SPARK_JOBS_PREFIX, [(p, spec.SPARK_JOBS_PREFIX + p.relative_to(self.cfg.spark_jobs_dir).as_posix())
                                      for p in jobs], f"from {self.cfg.spark_jobs_dir}"),
            (spec.JDBC_JAR_KEY, [(spec.JDBC_JAR, spec.JDBC_JAR_KEY)], f"from {spec.JDBC_JAR}"),
            (spec.POSTGRES_JDBC_JAR_KEY, [(spec.POSTGRES_JDBC_JAR, spec.POSTGRES_JDBC_JAR_KEY)],
             f"from {spec.POSTGRES_JDBC_JAR}"),
            (spec.RAW_DATA_PREFIX, [(p, spec.RAW_DATA_PREFIX + p.relative_to(self.raw_dir).as_posix()) for p in raw],
             f"from {self.raw_dir}" if raw else
             f"none at {self.raw_dir}: notebook 08 generates and uploads it (or pass raw_dir=)"),
        ]

    def uploads(self, apply: bool, bucket_exists: bool) -> list[Action]:
        from botocore.exceptions import ClientError

        s3, actions = self.acct.s3, []
        for prefix, files, origin in self.upload_sets():
            todo = []
            for path, key in files:
                digest = _sha256(path)
                current = None
                if bucket_exists:
                    try:
                        current = s3.head_object(Bucket=self.bucket, Key=key).get("Metadata", {}).get("sha256")
                    except ClientError as exc:
                        if code(exc) not in ("404", "NoSuchKey", "NotFound"):
                            raise
                if current != digest:
                    todo.append((path, key, digest))
            name = f"s3://{self.bucket}/{prefix}"
            detail = f"{len(files)} file(s) {origin}"
            if not files:
                actions.append(Action("S3 objects", name, "skipped", origin))
                continue
            if not todo:
                actions.append(Action("S3 objects", name, "unchanged", detail))
                continue
            if not apply:
                actions.append(Action("S3 objects", name, "upload", f"{len(todo)} of " + detail))
                continue
            total = sum(p.stat().st_size for p, _, _ in todo)
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"upload {prefix}", disable=not self.progress) as bar:
                for path, key, digest in todo:
                    s3.upload_file(str(path), self.bucket, key, ExtraArgs={"Metadata": {"sha256": digest}},
                                   Callback=bar.update)
            actions.append(Action("S3 objects", name, "uploaded", f"{len(todo)} of " + detail))
        return actions
