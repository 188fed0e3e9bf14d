"""`<state>/aws/outputs.json`: what provisioning made (endpoints, bucket, subnet, role and secret names).

It holds no password: `labkit.connections` fetches them from AWS Secrets Manager when it builds the Airflow
connections. The file is still private (0600): it names your account's endpoints.
"""
from __future__ import annotations

import json
from pathlib import Path

from labkit.config import Config
from labkit.errors import LabError
from labkit.state import private_dir, write_private


def path(cfg: Config) -> Path:
    return cfg.state_dir / "aws" / "outputs.json"


def write(cfg: Config, outputs: dict) -> Path:
    target = path(cfg)
    private_dir(target.parent)
    return write_private(target, json.dumps(outputs, indent=2, sort_keys=True) + "\n")


def read(cfg: Config) -> dict:
    target = path(cfg)
    if not target.exists():
        raise LabError(f"the aws profile has no provisioned resources yet ({target} missing): run notebook "
                       "01_provisioning with LAB_PROFILE=aws and CONFIRM=True first")
    try:
        return json.loads(target.read_text())
    except json.JSONDecodeError as exc:
        raise LabError(f"{target} is not valid JSON ({exc}); provision again to rewrite it") from None


def remove(cfg: Config) -> bool:
    target = path(cfg)
    if target.exists():
        target.unlink()
        return True
    return False


def password(cfg: Config, secret_id: str) -> str:
    """The password stored in Secrets Manager under `secret_id` (never written to disk by labkit)."""
    import boto3
    from botocore import exceptions as bx

    try:
        value = boto3.Session(region_name=cfg.region).client("secretsmanager").get_secret_value(SecretId=secret_id)
        return json.loads(value["SecretString"])["password"]
    except bx.ClientError as exc:
        err = exc.response.get("Error", {})
        raise LabError(f"cannot read secret {secret_id} from AWS Secrets Manager ({err.get('Code')}: "
                       f"{err.get('Message')}); provision again (notebook 01, CONFIRM=True) or check your "
                       "AWS credentials") from None
    except bx.BotoCoreError as exc:
        raise LabError(f"cannot read secret {secret_id} from AWS Secrets Manager ({exc}); set AWS credentials "
                       "(AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)") from None
