"""Helpers the tests share (fixtures stay in the conftest files; test modules import only from here).

One place for what more than one test module needs: parsing DAG files as the dag-processor
does, the conf of a date x country run, a mapped task's instances, waiting for a condition,
the locked package versions, and the second, offline lab of the fault drills.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import warnings
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from lab import airflow_local, lake
from lab.client import Airflow
from lab.config import REPO_ROOT, settings
from lab.processes import free_port

LAB = str(Path(sys.executable).parent / "lab")
SCRATCH_DAGS = ("dynamic_task_mapping_demo.py", "partitioned_events.py")


# ------------------------------------------------------------------ DAG files


@dataclasses.dataclass
class ParsedDags:
    """What parsing DAG files gave: the DagBag, the warnings raised from DAG files, the SQL run meanwhile."""

    bag: object
    warnings: list[str]
    queries: list[str]

    @property
    def dags(self) -> dict:
        return self.bag.dags


def parse_dags(path: Path) -> ParsedDags:
    """Parse a DAG file (or a folder of them) with DagBag, as the dag-processor does.

    Records the warnings that point into dags/ and every SQL statement any SQLAlchemy engine ran
    while parsing: a DAG file must not query the metadata database at import time (Airflow's own
    example-DAG tests assert the same), because every parse and every task start pays for it.
    """
    from airflow.dag_processing.dagbag import DagBag

    queries: list[str] = []

    def count(conn, cursor, statement, *args):
        queries.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bag = DagBag(dag_folder=str(path))
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    ours = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught if "dags" in str(w.filename)]
    return ParsedDags(bag, ours, queries)


def dag_bag(*paths: Path) -> dict:
    """The DAGs of these files or folders, asserting they import cleanly and without warnings."""
    found = {}
    for path in paths:
        parsed = parse_dags(path)
        assert parsed.bag.import_errors == {}
        assert parsed.warnings == []
        found.update(parsed.dags)
    return found


def mapped_instances(client: Airflow, dag_id: str, run_id: str, task_id: str):
    """The mapped instances of one task in one run, in map-index order."""
    tis = client.task_instances(dag_id, run_id)
    return tis[tis.task_id == task_id].sort_values("map_index").reset_index(drop=True)


def events_conf(
    start_date: str,
    end_date: str,
    countries: list[str],
    events_per_partition: int,
    mode: str = "range",
    **extra,
) -> dict:
    """The conf (Params) of a partitioned_events run: `mode` over the dates x countries."""
    return {
        "mode": mode,
        "start_date": start_date,
        "end_date": end_date,
        "countries": countries,
        "events_per_partition": events_per_partition,
        **extra,
    }


# ------------------------------------------------------------------ waiting, the lake


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


def no_staging_leftovers(lake_dir: Path) -> list[str]:
    """Staging directories of partition writes still in the lake, every table (a finished write leaves none)."""
    staging = lake_dir / lake.STAGING
    return sorted(str(p.relative_to(staging)) for p in staging.glob("*/*")) if staging.exists() else []


# ------------------------------------------------------------------ packages


def normalize(name: str) -> str:
    """A package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, set[str]]:
    """Every version uv.lock holds of each package."""
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    versions: dict[str, set[str]] = {}
    for package in lock["package"]:
        if "version" in package:
            versions.setdefault(normalize(package["name"]), set()).add(package["version"])
    return versions


# ------------------------------------------------------------------ a second, offline lab


def offline_env() -> dict[str, str]:
    """Outbound network blocked for everything that honours proxies, uv and pip told to stay offline."""
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: every proxied call is refused
    env = {var: dead for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
    env.update({var.lower(): dead for var in env})
    env.update({"UV_OFFLINE": "1", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return env


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


def model_costs():
    """Round, made-up Airflow costs for the cost model's unit tests (`lab.bench.model.Overheads`):
    easy to add up by hand; no Airflow was measured."""
    from lab.bench.model import Overheads

    return Overheads(
        trigger_s=1.0,
        plan_s=0.5,
        expand_s=0.25,
        task_wall_s=0.4,
        task_cpu_s=0.2,
        slot_gap_s=0.1,
        run_create_s=0.01,
        backfill_start_s=0.75,
        run_task_wall_s=0.5,
        run_gap_s=0.3,
        run_cpu_s=0.3,
        write_s=0.02,
        write_per_row_s=1e-5,
        active_cores=0.0,
        max_tis_per_query=16,
    )
