"""Starting and stopping the lab's own Airflow: idempotent up, clear errors, nothing left behind."""

import json
import os
import socket
import subprocess
import sys

import psutil
import pytest

from lab import airflow_local
from lab.config import settings
from lab.processes import STATE_FILE, alive, free_port

pytestmark = pytest.mark.own_airflow


@pytest.fixture
def own_home(tmp_path, monkeypatch):
    """Settings for a second, private Airflow (not the session's)."""
    port = free_port()
    monkeypatch.setenv("LAB_AIRFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LAB_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("LAB_AIRFLOW_PORT", str(port))
    monkeypatch.setenv("LAB_PARALLELISM", "2")
    monkeypatch.delenv("LAB_AIRFLOW_URL", raising=False)
    yield settings()
    airflow_local.down(quiet=True)


def test_port_taken_by_another_program_is_a_clear_error(own_home):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", own_home.port))
        blocker.listen()
        with pytest.raises(airflow_local.AirflowStartError, match=f"Port {own_home.port} .* already in use"):
            airflow_local.up(own_home, timeout=30, quiet=True)
    assert airflow_local.lab_processes(own_home.airflow_home) == []


def test_up_is_idempotent_and_down_leaves_no_process(own_home):
    own_home.airflow_home.mkdir(parents=True)
    # A stale state file from a crashed lab: its pids are long gone.
    (own_home.airflow_home / STATE_FILE).write_text(
        json.dumps(
            {
                "home": str(own_home.airflow_home),
                "url": own_home.url,
                "port": own_home.port,
                "pids": {"scheduler": 999_999},
                "started_at": 0,
            }
        )
    )
    first = airflow_local.up(own_home, timeout=300, quiet=True)
    assert airflow_local.status(own_home)["healthy"]
    again = airflow_local.up(own_home, timeout=60, quiet=True)
    assert again.pids == first.pids  # reused, not restarted
    # Listening on loopback only.
    listening = {
        c.laddr.ip
        for c in psutil.net_connections("tcp")
        if c.status == "LISTEN" and c.laddr.port == own_home.port
    }
    assert listening == {"127.0.0.1"}
    pids = [p.pid for p in airflow_local.lab_processes(own_home.airflow_home)]
    assert len(pids) >= 4
    # The CLI, as `make down` runs it.
    env = {**os.environ}
    subprocess.run([sys.executable, "-m", "lab.cli", "down"], env=env, check=True)
    assert airflow_local.lab_processes(own_home.airflow_home) == []
    assert not any(alive(psutil.Process(pid)) for pid in pids if psutil.pid_exists(pid))
    assert not (own_home.airflow_home / STATE_FILE).exists()
