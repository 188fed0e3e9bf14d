"""The AWS session of the `aws` profile, and the credential check that runs before anything is made."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from labkit.config import Config
from labkit.errors import LabError

_FIX = ("set AWS_PROFILE (after `aws configure` or `aws sso login`) or AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, then run again; nothing was created")


def require_aws_profile(cfg: Config) -> None:
    if cfg.profile != "aws":
        raise LabError(f"AWS provisioning and teardown need LAB_PROFILE=aws (the active profile is {cfg.profile!r}); "
                       "on local, use `labkit up` / `labkit down`")


@dataclass
class Account:
    """Who we are on AWS (checked with STS) and where: every call of the provisioning goes through here."""
    session: object
    region: str
    account_id: str
    arn: str

    def client(self, name: str):
        from botocore.config import Config

        return self.session.client(name, config=Config(retries={"mode": "standard", "max_attempts": 6}))

    @cached_property
    def s3(self):
        return self.client("s3")

    @cached_property
    def ec2(self):
        return self.client("ec2")

    @cached_property
    def iam(self):
        return self.client("iam")

    @cached_property
    def rds(self):
        return self.client("rds")

    @cached_property
    def secrets(self):
        return self.client("secretsmanager")

    @cached_property
    def emr(self):
        return self.client("emr")


def connect(region: str) -> Account:
    """A session for `region` whose credentials STS has accepted; any problem is one LabError line."""
    import boto3
    from botocore import exceptions as bx

    try:
        session = boto3.Session(region_name=region)
        ident = session.client("sts").get_caller_identity()
    except (bx.NoCredentialsError, bx.PartialCredentialsError) as exc:
        raise LabError(f"no usable AWS credentials for the aws profile ({exc}): {_FIX}") from None
    except bx.ProfileNotFound as exc:
        raise LabError(f"{exc}: choose a profile that exists in ~/.aws/config (AWS_PROFILE) or unset it; "
                       "nothing was created") from None
    except bx.ClientError as exc:
        err = exc.response.get("Error", {})
        raise LabError(f"AWS rejected the credentials ({err.get('Code')}: {err.get('Message')}): {_FIX}") from None
    except bx.EndpointConnectionError as exc:
        raise LabError(f"cannot reach AWS ({exc}); check the network and the region (LAB_REGION or [aws] region "
                       "in lab.toml); nothing was created") from None
    except bx.BotoCoreError as exc:
        raise LabError(f"could not get AWS credentials ({type(exc).__name__}: {exc}): {_FIX}") from None
    return Account(session=session, region=region, account_id=ident["Account"], arn=ident["Arn"])
