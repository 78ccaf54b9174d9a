"""Two labs on one machine (two participants on one JupyterHub host): side by side, apart, stopped apart.

Lab A is the session's Airflow, lab B the second lab of tests/integration/conftest.py: two
Airflow homes, two lakes, two DAGs folders, two ports, as two checkouts would have (a second
clone adds nothing these settings do not: every path the lab uses comes from them).
"""

from __future__ import annotations

import socket

import psutil
import pytest

from lab import airflow_local, lake
from lab.config import settings
from lab.partitions import COUNTRY_TABLE

pytestmark = [pytest.mark.airflow, pytest.mark.second_lab, pytest.mark.timeout(900)]


def listening(port: int) -> set[str]:
    return {
        c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port
    }


def test_a_port_another_lab_holds_is_refused_naming_the_lab_and_the_variable(airflow, second_lab, tmp_path):
    a = settings()
    third = second_lab.env | {
        "LAB_AIRFLOW_HOME": str(tmp_path / "home"),
        "LAB_LAKE_DIR": str(tmp_path / "lake"),
        "LAB_AIRFLOW_PORT": str(a.port),  # the default port is the same in every checkout
    }
    result = second_lab.lab("up", env=third)
    assert result.returncode == 1
    assert f"Port {a.port} on 127.0.0.1 is already in use by the Airflow of another lab" in result.stdout
    assert f"Airflow home {a.airflow_home}" in result.stdout
    assert "LAB_AIRFLOW_PORT=" in result.stdout
    assert airflow_local.lab_processes(tmp_path / "home") == []

    with socket.socket() as blocker:  # JupyterLab's port, taken
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        result = second_lab.lab("jupyter", env=second_lab.env | {"LAB_JUPYTER_PORT": str(taken)})
    assert result.returncode == 1
    assert f"Port {taken} on 127.0.0.1 is already in use" in result.stdout
    assert "LAB_JUPYTER_PORT=" in result.stdout
    assert airflow_local.status(a)["healthy"]


def test_two_labs_run_side_by_side_and_stop_apart(airflow, second_lab):
    a, b = settings(), second_lab.cfg
    assert (
        len({a.airflow_home, b.airflow_home}) == len({a.lake_dir, b.lake_dir}) == len({a.port, b.port}) == 2
    )
    assert airflow_local.status(a)["healthy"] and airflow_local.status(b)["healthy"]
    a_pids = {p.pid for p in airflow_local.lab_processes(a.airflow_home)}
    b_pids = {p.pid for p in airflow_local.lab_processes(b.airflow_home)}
    assert a_pids and b_pids and not a_pids & b_pids
    assert listening(a.port) == listening(b.port) == {"127.0.0.1"}  # and nothing else of theirs listens
    for pids in (a_pids, b_pids):
        ports = {c.laddr.port for pid in pids for c in _connections(pid) if c.status == "LISTEN"}
        assert ports <= {a.port, b.port}, ports

    # A run in each writes to its own lake only.
    run_a = airflow.trigger_and_wait(
        "partitioned_events", _one_day("2024-09-01"), timeout=600, progress=False
    )
    run_b = second_lab.client().trigger_and_wait(
        "partitioned_events", _one_day("2024-09-02"), timeout=600, progress=False
    )
    assert run_a["state"] == run_b["state"] == "success"
    in_a = lake.partition_files(COUNTRY_TABLE, a.lake_dir)
    in_b = lake.partition_files(COUNTRY_TABLE, b.lake_dir)
    assert "event_date=2024-09-01/country=DE" in in_a and "event_date=2024-09-01/country=DE" not in in_b
    assert "event_date=2024-09-02/country=DE" in in_b and "event_date=2024-09-02/country=DE" not in in_a

    # `lab down` in B leaves A running, untouched.
    a_components = airflow_local.Instance.load(a.airflow_home).pids
    down = second_lab.lab("down")
    assert down.returncode == 0, down.stdout
    assert second_lab.processes() == []
    assert airflow_local.Instance.load(a.airflow_home).pids == a_components
    assert {p.pid for p in airflow_local.lab_processes(a.airflow_home)} >= set(a_components.values())
    assert airflow_local.status(a)["healthy"]


def _one_day(day: str) -> dict:
    return {
        "mode": "range",
        "start_date": day,
        "end_date": day,
        "countries": ["DE"],
        "events_per_partition": 30,
    }


def _connections(pid: int):
    try:
        return psutil.Process(pid).net_connections("tcp")
    except psutil.Error:
        return []
