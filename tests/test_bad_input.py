"""Bad input gets one actionable line, starts nothing, and deletes nothing."""
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import labkit
from labkit import LabError, doctor, java, services, state

from helpers import isolated_lab

LABKIT = str(Path(sys.executable).with_name("labkit"))


def test_port_taken_by_another_program(monkeypatch):
    with isolated_lab(monkeypatch, "port") as cfg, socket.socket() as squatter:
        squatter.bind(("127.0.0.1", cfg.ports["mariadb"]))
        squatter.listen()
        with pytest.raises(LabError) as err:
            services.up(cfg, report=lambda _: None)
        msg = str(err.value)
        assert f"port {cfg.ports['mariadb']} for mariadb is taken" in msg
        assert "LAB_PORT_MARIADB" in msg
        # checked before anything starts: no half-started lab
        assert all(s.pid() is None for s in services.all_services(cfg))
        # and from the CLI: exit 2 and one line on stderr, no traceback
        out = subprocess.run([LABKIT, "up"], capture_output=True, text=True, env=os.environ)
        assert out.returncode == 2
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("labkit: error: port")
        assert "Traceback" not in out.stderr


def test_foreign_state_folder_is_refused_and_kept(monkeypatch):
    with isolated_lab(monkeypatch, "foreign") as cfg:
        cfg.state_dir.mkdir()
        precious = cfg.state_dir / "thesis.tex"
        precious.write_text("do not delete")
        with pytest.raises(LabError, match="not a labkit state folder"):
            services.up(cfg, report=lambda _: None)
        with pytest.raises(LabError, match="not deleting"):
            services.down(cfg, purge=True, report=lambda _: None)
        assert precious.read_text() == "do not delete"


def test_corrupted_database_folder_is_refused_and_kept(monkeypatch):
    with isolated_lab(monkeypatch, "corrupt") as cfg:
        state.ensure_state_dir(cfg)
        data = cfg.state_dir / "postgres" / "data"
        data.mkdir(parents=True)
        (data / "half-written").write_text("x")
        with pytest.raises(LabError, match="not a PostgreSQL data folder.*--purge"):
            services.up(cfg, only=["postgres"], report=lambda _: None)
        assert (data / "half-written").exists()
        assert services.get(cfg, "postgres").pid() is None


def _path_without_java(tmp_path: Path, fake_version: str | None = None) -> str:
    bindir = tmp_path / "bin"
    bindir.mkdir(parents=True)
    if fake_version:
        java = bindir / "java"
        java.write_text(f'#!/bin/sh\necho \'openjdk version "{fake_version}" 2020-01-01\' >&2\n')
        java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return str(bindir)


def test_java_missing(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", _path_without_java(tmp_path))
    assert java.java_version() is None
    with isolated_lab(monkeypatch, "java") as cfg:
        assert any(p.startswith("Java not found") and "make setup" in p for p in doctor.check(cfg))
        with pytest.raises(LabError, match="Java not found"):
            services.up(cfg, report=lambda _: None)
        assert all(s.pid() is None for s in services.all_services(cfg))


def test_java_too_old(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", _path_without_java(tmp_path, "11.0.2"))
    assert java.java_version() == 11
    assert "Java 11 is too old" in java.java_problem()
    monkeypatch.setenv("PATH", _path_without_java(tmp_path / "old", "1.8.0_292"))
    assert java.java_version() == 8


@pytest.mark.skipif(os.geteuid() != 0, reason="the service account is only used when labkit runs as root")
def test_missing_service_account(monkeypatch):
    monkeypatch.setenv("LAB_SERVICE_USER", "no-such-lab-user")
    with isolated_lab(monkeypatch, "user") as cfg:
        with pytest.raises(LabError, match="'no-such-lab-user'.*make setup"):
            services.up(cfg, only=["postgres"], report=lambda _: None)


def test_unknown_profile_from_the_cli():
    env = dict(os.environ, LAB_PROFILE="gcp")
    out = subprocess.run([LABKIT, "status"], capture_output=True, text=True, env=env)
    assert out.returncode == 2
    assert out.stderr.strip() == ("labkit: error: unknown profile 'gcp': valid values are local, aws "
                                  "(set LAB_PROFILE or lab.toml)")


def test_unknown_service_name():
    out = subprocess.run([LABKIT, "logs", "redis"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown service 'redis'" in out.stderr
    names = [s.name for s in services.all_services(labkit.load())]
    assert f"valid ones are {', '.join(names)}" in out.stderr


def test_purge_needs_confirmation_without_a_terminal(monkeypatch):
    with isolated_lab(monkeypatch, "purge") as cfg:
        state.ensure_state_dir(cfg)
        out = subprocess.run([LABKIT, "down", "--purge"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert out.returncode == 2 and "--yes" in out.stderr
        assert cfg.state_dir.exists()
        out = subprocess.run([LABKIT, "down", "--purge", "--yes"], capture_output=True, text=True)
        assert out.returncode == 0 and not cfg.state_dir.exists()
