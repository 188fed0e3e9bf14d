"""PostgreSQL: the source database `airline_db` (user `airline`) and Airflow's metadata database."""
from __future__ import annotations

import glob
import re
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg2

from labkit import procs, secrets
from labkit.config import LOOPBACK
from labkit.errors import LabError
from labkit.services.base import Service

SUPERUSER = "lab_admin"
# (role, secret name, database it owns)
ROLES = (("airline", "postgres_airline", "airline_db"), ("airflow", "postgres_airflow", "airflow_meta"))

# Server settings for a throwaway lab database: fast bulk loads, nothing to replicate.
SETTINGS = {
    "listen_addresses": LOOPBACK,
    "shared_buffers": "512MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "100",
    "max_worker_processes": "8",
    "max_parallel_workers_per_gather": "2",
    "logging_collector": "off",
}


def find_bindir() -> Path | None:
    """The newest PostgreSQL server on this machine (Debian keeps them in /usr/lib/postgresql/<major>/bin)."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")]
    if found:
        return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path else None


class Postgres(Service):
    name = "postgres"
    ports = ("postgres",)
    stop_signal = signal.SIGINT   # "fast" shutdown: roll back clients, write a checkpoint, exit
    start_timeout = 60.0
    runs_as_service_user = True

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.dir / "run"

    @property
    def bindir(self) -> Path:
        found = find_bindir()
        if found is None:
            raise LabError("PostgreSQL server not found (no postgres binary); run `make setup` "
                           "(installs Debian's `postgresql` package)")
        return found

    def missing_requirements(self) -> list[str]:
        if find_bindir() is None:
            return ["PostgreSQL server not installed: run `make setup` (apt package `postgresql`)"]
        return []

    def server_major(self) -> str:
        out = subprocess.run([str(self.bindir / "postgres"), "--version"], capture_output=True, text=True).stdout
        match = re.search(r"(\d+)", out)
        return match.group(1) if match else "?"

    def version(self) -> str:
        try:
            return f"PostgreSQL {self.server_major()}"
        except LabError:
            return ""

    def check_state(self) -> None:
        if not self.data_dir.exists() or not any(self.data_dir.iterdir()):
            return
        version_file = self.data_dir / "PG_VERSION"
        if not version_file.exists():
            raise LabError(f"{self.data_dir} is not a PostgreSQL data folder (no PG_VERSION): it is corrupted or "
                           "foreign; move it away, or reset the lab with `labkit down --purge --yes` (deletes its data)")
        made_by, here = version_file.read_text().strip(), self.server_major()
        if made_by != here:
            raise LabError(f"{self.data_dir} was made by PostgreSQL {made_by} but this machine runs {here}; "
                           "reset the lab with `labkit down --purge --yes` (deletes its data) or install PostgreSQL "
                           f"{made_by}")

    def prepare(self) -> None:
        self.own_dir(self.socket_dir)
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.own_dir(self.data_dir)
        pwfile = self.dir / "initdb.pw"
        pwfile.write_text(secrets.get(self.cfg, "postgres_superuser") + "\n")
        pwfile.chmod(0o600)
        if self.user:
            shutil.chown(pwfile, self.user, self.user)
        try:
            result = subprocess.run(
                [str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, f"--pwfile={pwfile}",
                 "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale"],
                capture_output=True, text=True, cwd=self.dir, **procs.run_as(self.user),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise LabError(f"initdb failed for {self.data_dir}: {result.stderr.strip().splitlines()[-1:]}")

    def command(self) -> list[str]:
        argv = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-c", f"unix_socket_directories={self.socket_dir}"]
        for key, value in SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def connect(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None):
        """A psycopg2 connection over TCP (as the lab's superuser unless told otherwise)."""
        if password is None:
            password = secrets.get(self.cfg, "postgres_superuser", create=False)
        try:
            return psycopg2.connect(host=LOOPBACK, port=self.port, dbname=dbname, user=user,
                                    password=password, connect_timeout=5)
        except psycopg2.OperationalError as exc:
            if "password authentication failed" in str(exc):
                raise LabError(f"PostgreSQL at {self.address} rejected the password for {user!r}; the lab's "
                               f"passwords are in {self.cfg.secrets_dir} (do not edit them by hand)") from None
            raise

    def healthy(self) -> bool:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("select 1")
            return cur.fetchone() == (1,)

    def after_start(self) -> None:
        conn = self.connect()
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for role, secret, database in ROLES:
                    password = secrets.get(self.cfg, secret)
                    cur.execute("select 1 from pg_roles where rolname = %s", (role,))
                    verb = "alter" if cur.fetchone() else "create"
                    cur.execute(f'{verb} role "{role}" with login password %s', (password,))
                    cur.execute("select 1 from pg_database where datname = %s", (database,))
                    if not cur.fetchone():
                        cur.execute(f'create database "{database}" owner "{role}"')
        finally:
            conn.close()

    def url(self, role: str = "airline") -> str:
        """A SQLAlchemy/JDBC-style URL for one of the lab's roles (password included: keep it off screens)."""
        secret, database = {r: (s, d) for r, s, d in ROLES}[role]
        return f"postgresql://{role}:{secrets.get(self.cfg, secret)}@{LOOPBACK}:{self.port}/{database}"
