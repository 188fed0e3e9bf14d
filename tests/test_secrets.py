"""Generated credentials: random, stable once made, private (folder 0700, files 0600)."""
import stat

import pytest

from labkit import LabError, secrets, state

from helpers import isolated_lab


def test_generated_once_and_private(monkeypatch):
    with isolated_lab(monkeypatch, "secrets") as cfg:
        first = secrets.get(cfg, "postgres_airline")
        assert len(first) >= 24
        assert secrets.get(cfg, "postgres_airline") == first
        assert secrets.get(cfg, "mariadb_emr") != first
        assert stat.S_IMODE(cfg.secrets_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((cfg.secrets_dir / "postgres_airline").stat().st_mode) == 0o600
        # the first secret of a fresh lab marks its state folder as labkit's (else the next `up` refuses it)
        assert state.is_state_dir(cfg.state_dir)


def test_missing_or_empty_secret_is_a_clear_error(monkeypatch):
    with isolated_lab(monkeypatch, "secrets2") as cfg:
        with pytest.raises(LabError, match="labkit up"):
            secrets.get(cfg, "airflow_admin", create=False)
        secrets.ensure_dir(cfg)
        (cfg.secrets_dir / "broken").write_text("")
        with pytest.raises(LabError, match="empty"):
            secrets.get(cfg, "broken")
