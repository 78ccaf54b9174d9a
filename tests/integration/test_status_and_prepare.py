"""`lab status` shows the running profile and CPU; `lab prepare` of an unchanged home does nothing."""

import json
import subprocess
import sys

import pytest

from lab import profiles
from lab.airflow_home import log_dir
from lab.config import settings

pytestmark = pytest.mark.airflow


def lab_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_status_shows_the_profile_and_the_cpu_of_the_running_airflow(airflow):
    done = lab_cli("status", "--json", "--cpu-window", "1")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["healthy"]
    assert report["profile"] == profiles.selected()
    assert report["cpu_window_s"] == 1
    assert isinstance(report["cpu_percent"], float) and report["cpu_percent"] >= 0


def test_a_second_prepare_of_an_unchanged_home_migrates_nothing(airflow):
    migrate_log = log_dir(settings()) / "db-migrate.log"
    written = migrate_log.stat().st_mtime_ns  # by the prepare of the session's `up`

    done = lab_cli("prepare")

    assert done.returncode == 0, done.stderr
    assert "prepared and unchanged since" in done.stdout
    assert migrate_log.stat().st_mtime_ns == written
