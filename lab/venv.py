"""The cached virtualenv of the demo's `@task.virtualenv`: one spec, and a way to build it ahead of time.

Airflow builds a task's virtualenv the first time the task runs (with uv, from PyPI). Built
here instead, when the lab prepares its Airflow home, the tasks find it ready in the cache and
run without network. The DAG and the warm-up share `partition_venv()`, so they hash alike.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from pathlib import Path

from lab.config import settings


def partition_venv(home: Path | None = None) -> dict:
    """Keyword arguments for `@task.virtualenv`: only duckdb, pinned to the locked version."""
    home = Path(home or os.environ.get("AIRFLOW_HOME") or settings().airflow_home)
    return {
        "requirements": [f"duckdb=={version('duckdb')}"],
        "venv_cache_path": str(home / "venv-cache"),
        "system_site_packages": False,
    }


def warm() -> Path:
    """Build (or find) the cached venv exactly as the task would. Needs AIRFLOW_HOME's DB migrated."""
    from airflow.providers.standard.operators.python import PythonVirtualenvOperator

    spec = partition_venv()
    warm_partition_venv = PythonVirtualenvOperator(
        task_id="warm_partition_venv", python_callable=_noop, **spec
    )
    return warm_partition_venv._ensure_venv_cache_exists(Path(spec["venv_cache_path"]))


def _noop() -> None:
    pass


if __name__ == "__main__":
    print(f"virtualenv ready: {warm()}", file=sys.stderr)
