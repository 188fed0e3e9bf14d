"""Settings: lab.toml plus LAB_* overrides; every invalid value is a one-line LabError naming the setting."""
import pytest

import labkit
from labkit import LabError
from labkit.config import SCALE_RANGES


def test_defaults_come_from_lab_toml(monkeypatch):
    for var in ("LAB_PROFILE", "LAB_SCALE", "LAB_STATE_DIR", "LAB_PORT_POSTGRES"):
        monkeypatch.delenv(var, raising=False)
    cfg = labkit.load()
    assert cfg.profile == "local"
    assert cfg.scale == "full"
    assert cfg.state_dir == cfg.root / ".lab"
    assert cfg.ports["postgres"] == 54320
    assert cfg.secrets_dir == cfg.state_dir / "secrets"


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_PROFILE", "aws")
    monkeypatch.setenv("LAB_SCALE", "smoke")
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("LAB_PORT_AIRFLOW", "28080")
    cfg = labkit.load()
    assert (cfg.profile, cfg.scale, cfg.state_dir, cfg.ports["airflow"]) == ("aws", "smoke", tmp_path, 28080)
    assert cfg.date_range == SCALE_RANGES["smoke"]


@pytest.mark.parametrize("var, value, words", [
    ("LAB_PROFILE", "gcp", ["unknown profile 'gcp'", "local, aws", "LAB_PROFILE"]),
    ("LAB_SCALE", "huge", ["unknown scale 'huge'", "smoke, full", "LAB_SCALE"]),
    ("LAB_PORT_POSTGRES", "abc", ["LAB_PORT_POSTGRES='abc'", "ports.postgres"]),
    ("LAB_PORT_MARIADB", "80", ["ports.mariadb", "between 1024 and 65535"]),
])
def test_bad_values_name_the_setting(monkeypatch, var, value, words):
    monkeypatch.setenv(var, value)
    with pytest.raises(LabError) as err:
        labkit.load()
    for word in words:
        assert word in str(err.value)
    assert "\n" not in str(err.value)


def test_two_services_on_one_port(monkeypatch):
    monkeypatch.setenv("LAB_PORT_MARIADB", "54320")
    monkeypatch.setenv("LAB_PORT_POSTGRES", "54320")
    with pytest.raises(LabError, match="both 54320"):
        labkit.load()


def test_unknown_setting_in_file_lists_valid_ones(tmp_path, monkeypatch):
    bad = tmp_path / "lab.toml"
    bad.write_text('[lab]\nprofile = "local"\nscael = "smoke"\n')
    monkeypatch.setenv("LAB_CONFIG", str(bad))
    with pytest.raises(LabError) as err:
        labkit.load()
    assert "scael" in str(err.value) and "profile, scale, state_dir, workspace_dir, service_user" in str(err.value)


def test_unknown_section_and_broken_toml(tmp_path, monkeypatch):
    bad = tmp_path / "lab.toml"
    bad.write_text("[gcp]\nregion = 'x'\n")
    monkeypatch.setenv("LAB_CONFIG", str(bad))
    with pytest.raises(LabError, match="unknown section"):
        labkit.load()
    bad.write_text("[lab\n")
    with pytest.raises(LabError, match="not valid TOML"):
        labkit.load()


def test_the_workspace_is_a_setting_and_its_dags_folder_is_inside_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_WORKSPACE_DIR", str(tmp_path / "mine"))
    cfg = labkit.load()
    assert cfg.workspace_dir == tmp_path / "mine" and cfg.workspace_dags_dir == tmp_path / "mine" / "dags"
    monkeypatch.delenv("LAB_WORKSPACE_DIR")
    assert labkit.load().workspace_dir == labkit.load().root / "workspace"
