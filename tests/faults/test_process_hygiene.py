"""Faults in the lab's process handling, injected against the real servers: two `labkit up` at once."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # tests/helpers.py
from helpers import isolated_lab  # noqa: E402

from labkit import services  # noqa: E402

pytestmark = pytest.mark.services
LABKIT = str(Path(sys.executable).with_name("labkit"))


def test_two_ups_at_once_start_each_server_once(monkeypatch):
    """The second `up` waits for the first (saying so), then reuses what it started: no server is started
    twice, none is taken for "running but not answering" and restarted."""
    with isolated_lab(monkeypatch, "two-ups") as cfg:
        argv = [LABKIT, "up", "postgres", "mariadb"]
        runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
                for _ in range(2)]
        outputs = [run.communicate(timeout=300) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        said = "".join(out for out, _ in outputs)
        for name in ("postgres", "mariadb"):
            assert said.count(f"{name}: starting on") == 1, said
            assert said.count(f"{name}: already running") == 1, said
        assert "restarting" not in said
        assert said.count("waiting for `labkit up` (pid ") == 1, said
        assert all(s.status().healthy for s in services.all_services(cfg) if s.name in ("postgres", "mariadb"))
