"""One real local Airflow per test session, started only if a collected test needs it.

Tests marked `airflow` and every notebook cell (nbval) need it. It gets its own Airflow home,
lake and free port under pytest's temp dir, so a test run never touches the participant's
`.airflow/` or `data/lake/`, and it is stopped, every process of it, when the session ends.
The settings reach notebook kernels through the environment, set before a kernel starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from lab import airflow_local
from lab.client import Airflow
from lab.processes import free_port


def _needs_airflow(item: pytest.Item) -> bool:
    return item.get_closest_marker("airflow") is not None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.airflow)


class AirflowSession:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.client: Airflow | None = None
        self.error: Exception | None = None
        self.saved_env: dict[str, str | None] = {}

    def start(self) -> Airflow:
        if self.client or self.error:
            if self.error:
                pytest.fail(f"the session's Airflow did not start: {self.error}", pytrace=False)
            return self.client
        base = self.config._tmp_path_factory.mktemp("lab")
        env = {
            "LAB_AIRFLOW_HOME": str(base / "airflow-home"),
            "LAB_LAKE_DIR": str(base / "lake"),
            "LAB_AIRFLOW_PORT": str(free_port()),
            "LAB_PARALLELISM": os.environ.get("LAB_TEST_PARALLELISM", "8"),
        }
        for key, value in env.items():
            self.saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        os.environ.pop("LAB_AIRFLOW_URL", None)
        try:
            airflow_local.up(timeout=300)
        except Exception as exc:  # noqa: BLE001 - reported on every test that needs it
            self.error = exc
            pytest.fail(f"the session's Airflow did not start: {exc}", pytrace=False)
        self.client = Airflow()
        return self.client

    def stop(self) -> None:
        if self.client is not None or self.saved_env:
            airflow_local.down(quiet=True)
        for key, value in self.saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def pytest_configure(config):
    config._lab_airflow = AirflowSession(config)
    # Code that imports airflow in-process (DagBag tests) gets a throw-away home, not ~/airflow.
    config._lab_tmp_home = tempfile.mkdtemp(prefix="lab-test-airflow-home-")
    os.environ.setdefault("AIRFLOW_HOME", config._lab_tmp_home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "_lab_tmp_home", ""), ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if _needs_airflow(item):
        item.config._lab_airflow.start()


def pytest_sessionfinish(session):
    session.config._lab_airflow.stop()


@pytest.fixture
def airflow(request) -> Airflow:
    """The REST client of the session's Airflow (mark the test `airflow`)."""
    return request.config._lab_airflow.start()
