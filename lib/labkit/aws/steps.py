"""What every provisioning step shares: the Action it reports, and the lab's desired state in one account.

Each job lives in its own module (network, iam, storage, databases) as a mixin of `LabState`; `provision`
puts them together. A step first looks for its resource: a second run finds everything and changes nothing.
A resource with one of our names but not our tag stops the run (labkit never adopts what it did not make).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from labkit.aws import spec
from labkit.aws.session import Account
from labkit.config import Config
from labkit.errors import LabError

CHANGES = ("created", "updated", "uploaded")


@dataclass
class Action:
    resource: str
    name: str
    action: str          # dry run: create | exists | update | upload | unchanged;  applied: created | exists | updated | uploaded | unchanged
    detail: str = ""


def code(exc) -> str:
    """The error code of a botocore ClientError ('' when it has none)."""
    return exc.response.get("Error", {}).get("Code", "")


def message(exc) -> str:
    return exc.response.get("Error", {}).get("Message", "")


@dataclass
class LabState:
    """The desired state in one account and region, and what the steps found or made so far."""
    cfg: Config
    acct: Account
    allow_cidr: str | None
    raw_dir: Path
    progress: bool = True
    delay: float = 15              # seconds between polls and the first back-off
    timeout: float = 45 * 60       # how long a wait or a retry may take
    vpc_id: str = ""
    vpc_cidr: str = ""
    subnet_ids: list[str] = field(default_factory=list)
    subnet_id: str = ""
    sg_ids: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    new_secrets: set[str] = field(default_factory=set)

    @property
    def bucket(self) -> str:
        return spec.bucket_name(self.cfg.bucket, self.acct.account_id, self.acct.region)

    def check_tag(self, tags, kind: str, name: str) -> None:
        if not spec.has_tag(tags):
            raise LabError(f"{kind} {name} already exists but is not tagged {spec.TAG_KEY}={spec.TAG_VALUE}: labkit "
                           "does not adopt (or later delete) what it did not make; rename or remove it yourself, or "
                           "use another region (LAB_REGION)")
