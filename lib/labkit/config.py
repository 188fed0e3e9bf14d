"""The lab's settings: profile, scale, ports and paths, read from `lab.toml` plus environment overrides.

Everything that differs between the `local` and the `aws` profile is data produced here; code elsewhere
asks `load()` and never branches on where a value came from.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from labkit.errors import LabError
from labkit.jdbc import MARIADB, POSTGRES

# Every service of the lab listens here and nowhere else.
LOOPBACK = "127.0.0.1"

PROFILES = ("local", "aws")
SCALES = ("smoke", "full")
PORT_NAMES = ("postgres", "mariadb", "airflow", "emr")
LAB_KEYS = ("profile", "scale", "state_dir", "workspace_dir", "service_user")
PROFILE_KEYS = ("region", "bucket", "subnet_id")

# The JDBC drivers Spark uses on both profiles, pinned (labkit.jdbc: version and sha256; `make setup` fetches
# them); the MariaDB driver also speaks to MySQL/Aurora.
POSTGRES_JDBC_JAR = POSTGRES.path
MARIADB_JDBC_JAR = MARIADB.path

# The dummy table's date range per scale: the same SQL, only the range differs.
SCALE_RANGES = {
    "full": ("2021-01-01 00:00", "2021-06-30 12:00"),
    "smoke": ("2021-01-01 00:00", "2021-01-01 23:59"),
}


def project_root() -> Path:
    """The folder that holds `lab.toml` (LAB_ROOT, else the checkout this package was installed from)."""
    if os.environ.get("LAB_ROOT"):
        return Path(os.environ["LAB_ROOT"]).resolve()
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Config:
    root: Path
    profile: str
    scale: str
    state_dir: Path
    workspace_dir: Path
    service_user: str
    ports: dict[str, int]
    region: str
    bucket: str
    subnet_id: str
    settings_file: Path = field(compare=False)

    # -- the state folder's layout (one folder; deleting it resets the lab) -------------------------
    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def landing_dir(self) -> Path:
        """The landing zone: what `fs.defaultFS` points at on the local profile."""
        return self.state_dir / "landing"

    @property
    def s3_dir(self) -> Path:
        """The local object store: one folder per bucket."""
        return self.state_dir / "s3"

    def service_dir(self, name: str) -> Path:
        return self.state_dir / name

    @property
    def dags_dir(self) -> Path:
        """The reference DAGs this profile's Airflow parses: `dags/` on local; `dags/aws/` on aws, where the
        workshop job runs its steps on EMR (this machine is outside the cluster's VPC)."""
        return self.root / "dags" / ("aws" if self.profile == "aws" else "")

    @property
    def workspace_dags_dir(self) -> Path:
        """The learner's own DAG folder: Airflow's second DAG bundle (`workspace`), beside `dags/`."""
        return self.workspace_dir / "dags"

    @property
    def spark_jobs_dir(self) -> Path:
        return self.root / "spark_jobs"

    @property
    def notebooks_dir(self) -> Path:
        return self.root / "notebooks"

    @property
    def date_range(self) -> tuple[str, str]:
        return SCALE_RANGES[self.scale]


def _env_int(name: str, setting: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise LabError(f"{name}={raw!r} is not a port number (setting {setting}); use an integer 1024-65535") from None
    return value


def _check_port(value: object, setting: str) -> int:
    if not isinstance(value, int) or not 1024 <= value <= 65535:
        raise LabError(f"{setting} = {value!r} is not a usable port; set an integer between 1024 and 65535")
    return value


def _choice(value: str, valid: tuple[str, ...], setting: str, env: str) -> str:
    if value not in valid:
        raise LabError(f"unknown {setting} {value!r}: valid values are {', '.join(valid)} (set {env} or lab.toml)")
    return value


def _check_keys(table: dict, valid: tuple[str, ...], section: str, path: Path) -> None:
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise LabError(
            f"unknown setting(s) {', '.join(unknown)} in [{section}] of {path}: valid ones are {', '.join(valid)}"
        )


def load(settings_file: Path | None = None) -> Config:
    """Read `lab.toml` and apply LAB_* environment overrides. Raises LabError on any invalid value."""
    root = project_root()
    path = Path(settings_file or os.environ.get("LAB_CONFIG") or root / "lab.toml")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise LabError(f"settings file {path} not found; run labkit from the project (or set LAB_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"{path} is not valid TOML: {exc}") from None

    unknown_sections = sorted(set(data) - {"lab", "ports", *PROFILES})
    if unknown_sections:
        raise LabError(f"unknown section(s) {', '.join(unknown_sections)} in {path}: valid ones are lab, ports, local, aws")
    lab = data.get("lab", {})
    _check_keys(lab, LAB_KEYS, "lab", path)
    _check_keys(data.get("ports", {}), PORT_NAMES, "ports", path)

    profile = _choice(os.environ.get("LAB_PROFILE") or lab.get("profile", "local"), PROFILES, "profile", "LAB_PROFILE")
    scale = _choice(os.environ.get("LAB_SCALE") or lab.get("scale", "full"), SCALES, "scale", "LAB_SCALE")
    state = Path(os.environ.get("LAB_STATE_DIR") or lab.get("state_dir", ".lab"))
    state_dir = (state if state.is_absolute() else root / state).resolve()
    workspace = Path(os.environ.get("LAB_WORKSPACE_DIR") or lab.get("workspace_dir", "workspace"))
    workspace_dir = (workspace if workspace.is_absolute() else root / workspace).resolve()
    service_user = os.environ.get("LAB_SERVICE_USER") or lab.get("service_user", "labkit")

    ports: dict[str, int] = {}
    for name in PORT_NAMES:
        env = f"LAB_PORT_{name.upper()}"
        value = _env_int(env, f"ports.{name}")
        ports[name] = _check_port(value if value is not None else data.get("ports", {}).get(name), f"ports.{name} ({env})")
    taken: dict[int, str] = {}
    for name, port in ports.items():
        if port in taken:
            raise LabError(f"ports.{name} and ports.{taken[port]} are both {port}; give each service its own port")
        taken[port] = name

    prof = data.get(profile, {})
    _check_keys(prof, PROFILE_KEYS, profile, path)
    return Config(
        root=root,
        profile=profile,
        scale=scale,
        state_dir=state_dir,
        workspace_dir=workspace_dir,
        service_user=service_user,
        ports=ports,
        region=os.environ.get("LAB_REGION") or prof.get("region", "us-east-1"),
        bucket=os.environ.get("LAB_BUCKET") or prof.get("bucket", ""),
        subnet_id=os.environ.get("LAB_SUBNET_ID") or prof.get("subnet_id", ""),
        settings_file=path,
    )
