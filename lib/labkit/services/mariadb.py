"""MariaDB (MySQL protocol): the database `airflow` that receives the EMR job's results (`emr_table`)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pymysql

from labkit import procs, secrets
from labkit.config import LOOPBACK
from labkit.errors import LabError
from labkit.services.base import Service

DATABASE = "airflow"     # the seed's Aurora database name
USER = "emr"             # the account the EMR step writes with


# Run by mariadb-install-db after it made the system tables (grant tables are not loaded: plain SQL on them).
BOOTSTRAP_ACCOUNTS = f"""\
DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost', '{LOOPBACK}'));
UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.plugin', 'mysql_native_password',
    '$.authentication_string', PASSWORD(%s)) WHERE User = 'root';
"""


def _sql_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "''")


class MariaDB(Service):
    name = "mariadb"
    ports = ("mariadb",)
    stop_signal = signal.SIGTERM   # mariadbd shuts down cleanly on SIGTERM
    start_timeout = 60.0
    runs_as_service_user = True

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def socket(self) -> Path:
        return self.dir / "mariadb.sock"

    def missing_requirements(self) -> list[str]:
        missing = [b for b in ("mariadbd", "mariadb-install-db") if not self._which(b)]
        return [f"MariaDB server not installed ({', '.join(missing)} missing): run `make setup` "
                "(apt package `mariadb-server`)"] if missing else []

    @staticmethod
    def _which(binary: str) -> str | None:
        return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/usr/local/sbin")

    def _binary(self, binary: str) -> str:
        found = self._which(binary)
        if not found:
            raise LabError(f"{binary} not found: run `make setup` (apt package `mariadb-server`)")
        return found

    def version(self) -> str:
        try:
            out = subprocess.run([self._binary("mariadbd"), "--version"], capture_output=True, text=True).stdout
        except LabError:
            return ""
        parts = out.split()
        return f"MariaDB {parts[2].split('-')[0]}" if len(parts) > 2 else out.strip()

    def check_state(self) -> None:
        if not self.data_dir.exists() or not any(self.data_dir.iterdir()):
            return
        if not (self.data_dir / "mysql").is_dir():
            raise LabError(f"{self.data_dir} is not a MariaDB data folder (no mysql/ system schema): it is corrupted "
                           "or foreign; move it away, or reset the lab with `labkit down --purge --yes` (deletes its data)")

    def prepare(self) -> None:
        if (self.data_dir / "mysql").is_dir():
            return
        self.own_dir(self.data_dir)
        # The first start must not serve a passwordless root, even for the seconds before `after_start`: the
        # bootstrap keeps only root@localhost and root@127.0.0.1, with the lab's password (a private file, gone after).
        accounts = self.dir / "bootstrap-accounts.sql"
        fd = os.open(accounts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(BOOTSTRAP_ACCOUNTS.replace("%s", "'" + _sql_quote(secrets.get(self.cfg, "mariadb_root")) + "'"))
        if self.user:
            shutil.chown(accounts, self.user, self.user)
        argv = [self._binary("mariadb-install-db"), "--no-defaults", f"--datadir={self.data_dir}",
                "--auth-root-authentication-method=normal", "--skip-test-db", f"--extra-file={accounts}"]
        if self.user:
            argv.append(f"--user={self.user}")
        try:
            result = subprocess.run(argv, capture_output=True, text=True, cwd=self.dir, **procs.run_as(self.user))
        finally:
            accounts.unlink(missing_ok=True)
        if result.returncode != 0:
            raise LabError(f"mariadb-install-db failed for {self.data_dir}: {result.stderr.strip()[-300:]}")
        (self.dir / "root-password-set").touch()

    def command(self) -> list[str]:
        return [self._binary("mariadbd"), "--no-defaults", f"--datadir={self.data_dir}",
                f"--socket={self.socket}", f"--port={self.port}", f"--bind-address={LOOPBACK}",
                f"--pid-file={self.dir / 'mariadbd.pid'}", "--skip-name-resolve",
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
                "--innodb-buffer-pool-size=128M", "--performance-schema=OFF", "--log-error="]

    def connect(self, user: str = "root", password: str | None = None, database: str | None = None):
        """A PyMySQL connection over TCP (root: the lab's generated root password)."""
        if password is None:
            password = secrets.get(self.cfg, "mariadb_root" if user == "root" else "mariadb_emr", create=False)
        try:
            return pymysql.connect(host=LOOPBACK, port=self.port, user=user, password=password,
                                   database=database, connect_timeout=5)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == 1045:
                raise LabError(f"MariaDB at {self.address} rejected the password for {user!r}; the lab's "
                               f"passwords are in {self.cfg.secrets_dir} (do not edit them by hand)") from None
            raise

    def healthy(self) -> bool:
        with self._admin_connection() as conn:
            return conn.open

    def _root_has_password(self) -> bool:
        return (self.dir / "root-password-set").exists()

    def _admin_connection(self):
        """root over TCP with its password; before the first `after_start` root has none, via the socket."""
        if self._root_has_password():
            return self.connect()
        return pymysql.connect(unix_socket=str(self.socket), user="root", password="", connect_timeout=5)

    def after_start(self) -> None:
        root_pw = secrets.get(self.cfg, "mariadb_root")
        emr_pw = secrets.get(self.cfg, "mariadb_emr")
        conn = self._admin_connection()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}` CHARACTER SET utf8mb4")
                for host in (LOOPBACK, "localhost"):
                    cur.execute(f"CREATE USER IF NOT EXISTS '{USER}'@'{host}' IDENTIFIED BY %s", (emr_pw,))
                    cur.execute(f"ALTER USER '{USER}'@'{host}' IDENTIFIED BY %s", (emr_pw,))
                    cur.execute(f"GRANT ALL PRIVILEGES ON `{DATABASE}`.* TO '{USER}'@'{host}'")
                    cur.execute(f"CREATE USER IF NOT EXISTS 'root'@'{host}' IDENTIFIED BY %s", (root_pw,))
                    cur.execute(f"ALTER USER 'root'@'{host}' IDENTIFIED BY %s", (root_pw,))
                    cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO 'root'@'{host}' WITH GRANT OPTION")
                for user, host in self._unmanaged_accounts(cur):
                    cur.execute("DROP USER %s@%s", (user, host))
                cur.execute("FLUSH PRIVILEGES")
            conn.commit()
        finally:
            conn.close()
        (self.dir / "root-password-set").touch()

    @staticmethod
    def _unmanaged_accounts(cur) -> list[tuple[str, str]]:
        """What mariadb-install-db makes besides ours: passwordless root@<hostname>, root@::1 and anonymous
        users (reachable only through a bind address or name resolution we do not use; dropped anyway)."""
        cur.execute(f"SELECT User, Host FROM mysql.global_priv WHERE User = '' OR "
                    f"(User IN ('root', '{USER}') AND Host NOT IN ('{LOOPBACK}', 'localhost'))")
        return list(cur.fetchall())

    def url(self) -> str:
        return f"mysql://{USER}:{secrets.get(self.cfg, 'mariadb_emr')}@{LOOPBACK}:{self.port}/{DATABASE}"
