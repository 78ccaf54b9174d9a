"""A second lab, as a second checkout on the same machine would run it, with the network blocked.

The fault drills kill its components, the offline test runs a lesson on it, and the two-labs
test runs it next to the session's Airflow. It has its own Airflow home, lake, DAGs folder (a
scratch copy of two lesson DAGs, where a drill may save a broken file) and ports, and it is
started offline: every proxy variable points at a closed local port and uv / pip are told not
to use an index, as on a workshop machine whose Wi-Fi is gone after `make setup`. Started once,
on first use, and stopped at the end of the session with nothing left running.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from lab import airflow_local, lake
from lab.client import Airflow
from lab.config import REPO_ROOT, settings
from lab.processes import free_port

LAB = str(Path(sys.executable).parent / "lab")
SCRATCH_DAGS = ("dynamic_task_mapping_demo.py", "partitioned_events.py")


def offline_env() -> dict[str, str]:
    """Outbound network blocked for everything that honours proxies, uv and pip told to stay offline."""
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: every proxied call is refused
    env = {var: dead for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
    env.update({var.lower(): dead for var in env})
    env.update({"UV_OFFLINE": "1", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return env


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "second_lab: uses a second, offline lab of its own (tests/integration/conftest.py)"
    )


def pytest_collection_modifyitems(config, items):
    """Run the second lab's tests one after the other, so that it runs only while they do."""
    mine = [item for item in items if item.get_closest_marker("second_lab")]
    if mine:
        first = items.index(mine[0])
        others = [item for item in items if not item.get_closest_marker("second_lab")]
        items[:] = others[:first] + mine + others[first:]


def pytest_runtest_teardown(item, nextitem):
    """Stop the second lab after its last test: it would only take CPU from the tests after it."""
    lab = getattr(item.config, "_second_lab", None)
    if lab and item.get_closest_marker("second_lab"):
        if nextitem is None or not nextitem.get_closest_marker("second_lab"):
            lab.down()


@dataclasses.dataclass
class SecondLab:
    base: Path
    offline: dict[str, str]
    port: int = dataclasses.field(default_factory=free_port)
    jupyter_port: int = dataclasses.field(default_factory=free_port)

    @property
    def lab_env(self) -> dict[str, str]:
        """The LAB_* settings of this lab (what a second checkout's defaults would give)."""
        return {
            "LAB_AIRFLOW_HOME": str(self.base / "home"),
            "LAB_LAKE_DIR": str(self.base / "lake"),
            "LAB_DAGS_DIR": str(self.dags_dir),
            "LAB_AIRFLOW_PORT": str(self.port),
            "LAB_JUPYTER_PORT": str(self.jupyter_port),
            "LAB_PARALLELISM": "4",
        }

    @property
    def env(self) -> dict[str, str]:
        """Environment of a command run in this lab's terminal (offline)."""
        env = {k: v for k, v in os.environ.items() if k.upper() != "NO_PROXY" and k != "LAB_AIRFLOW_URL"}
        return {**env, **self.lab_env, **self.offline}

    @property
    def dags_dir(self) -> Path:
        return self.base / "dags"

    @property
    def lake_dir(self) -> Path:
        return self.base / "lake"

    @property
    def cfg(self):
        return dataclasses.replace(
            settings(),
            airflow_home=self.base / "home",
            lake_dir=self.lake_dir,
            dags_dir=self.dags_dir,
            port=self.port,
            url=f"http://127.0.0.1:{self.port}",
            jupyter_port=self.jupyter_port,
            parallelism=4,
        )

    def up(self) -> None:
        """Start it offline, or reuse it (restarting what a drill left dead)."""
        self.dags_dir.mkdir(parents=True, exist_ok=True)
        for name in SCRATCH_DAGS:
            if not (self.dags_dir / name).exists():
                shutil.copy(REPO_ROOT / "dags" / name, self.dags_dir / name)
        with self.activated():
            airflow_local.up(self.cfg, extra_env=self.offline, timeout=420, quiet=True)

    def down(self) -> None:
        airflow_local.down(self.cfg, quiet=True)

    def client(self) -> Airflow:
        return Airflow(cfg=self.cfg)

    def processes(self) -> list[psutil.Process]:
        return airflow_local.lab_processes(self.cfg.airflow_home)

    def component_pids(self) -> dict[str, int]:
        return dict(airflow_local.Instance.load(self.cfg.airflow_home).pids)

    def lab(self, *args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
        """`lab ARGS` in this lab's terminal (or with `env`); stdout and stderr together in .stdout."""
        return subprocess.run(
            [LAB, *args],
            env=env or self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )

    @contextmanager
    def activated(self):
        """LAB_* of this lab in this process (for code that reads settings(), as a notebook kernel does)."""
        saved = {key: os.environ.get(key) for key in self.lab_env}
        os.environ.update(self.lab_env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture(scope="session")
def second_lab_session(request, tmp_path_factory):
    lab = SecondLab(base=tmp_path_factory.mktemp("second-lab"), offline=offline_env())
    request.config._second_lab = lab
    yield lab
    lab.down()
    assert lab.processes() == [], "the second lab left processes behind"


@pytest.fixture
def second_lab(second_lab_session) -> SecondLab:
    """The second lab, running and healthy (started on first use, repaired if a drill broke it)."""
    second_lab_session.up()
    return second_lab_session


def no_staging_leftovers(lake_dir: Path) -> list[str]:
    """Staging directories of partition writes still in the lake (a finished write leaves none)."""
    staging = lake_dir / lake.STAGING
    return sorted(str(p.relative_to(staging)) for p in staging.glob("*/*")) if staging.exists() else []


def wait_until(condition, timeout: float, what: str, poll: float = 1.0):
    """Poll `condition()` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(poll)
