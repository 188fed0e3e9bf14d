"""labkit.notebook: the helpers a notebook's cells call."""
import sys

import pytest

import labkit
from labkit import notebook
from labkit.errors import LabError


def test_airflow_cli_says_the_command_at_once_then_streams_its_lines(capsys):
    # any command runs the same way (the lab's Airflow environment); a short Python program stands in for airflow
    program = "import sys, time; print('first', flush=True); time.sleep(0.2); print('\\x1b[1mlast\\x1b[0m')"
    out = notebook.airflow_cli(labkit.load(), f'{sys.executable} -c "{program}"')
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"$ {sys.executable} -c") and "running" in printed[0]
    assert printed[1:] == ["first", "last"] and out == "first\nlast\n"      # colour codes removed


def test_airflow_cli_failure_is_one_line_with_the_last_error_line():
    program = "import sys; print('a', file=sys.stderr); sys.exit('the real reason')"
    with pytest.raises(LabError, match=r"failed \(exit 1\): the real reason$"):
        notebook.airflow_cli(labkit.load(), f'{sys.executable} -c "{program}"')



def test_start_with_airflow_cli_gives_the_kernel_the_labs_airflow_environment(monkeypatch):
    """`!airflow ...` cells talk to the lab's Airflow: its AIRFLOW_HOME and config, and no inherited AIRFLOW__ override."""
    import os

    saved = dict(os.environ)
    try:
        os.environ["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"
        cfg = notebook.start(airflow_cli=True)
        assert os.environ["AIRFLOW_HOME"] == str(cfg.service_dir("airflow"))
        assert os.environ["AIRFLOW_CONFIG"] == str(cfg.service_dir("airflow") / "airflow.cfg")
        assert "AIRFLOW__CORE__EXECUTOR" not in os.environ
        assert notebook.link(cfg, cfg.workspace_dags_dir / "x.py") == \
            os.path.relpath(cfg.workspace_dags_dir / "x.py", cfg.notebooks_dir)
    finally:
        os.environ.clear()
        os.environ.update(saved)
