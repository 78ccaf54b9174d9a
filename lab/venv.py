"""The virtualenv of the demo's `@task.virtualenv`: one spec, and a way to build it ahead of time.

What "isolated" means here, and how the spec gets it:
- its own packages: only duckdb, pinned to `VENV_DUCKDB`, on purpose not the host's release
  (uv.lock pins another), so a run shows which environment did the work;
- none of the host's packages: `system_site_packages=False` (no Airflow, pandas or lab);
- none of the host's environment: `inherit_env=False`. Airflow's default (`True`) would hand
  the task the worker's variables, among them the lab's PYTHONPATH with the repository root,
  and the venv could import `lab` after all. Airflow still appends the DAG bundle's folder
  (`dags/`) to the venv's PYTHONPATH, so helper modules shipped next to the DAGs can be imported;
  the lab's package is not there.
So the task's function must carry everything it needs: the lab's writer
(`lab.lake_writer.write_events_partition`) is self-contained for exactly that.

Airflow builds a task's virtualenv the first time the task runs (with uv, from PyPI). Built
here instead, when the lab prepares its Airflow home (`lab prepare`, `make setup`, `lab up`),
the tasks find it ready in the cache and run without network. The DAGs and the warm-up share
`partition_venv()`, so they hash alike.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

VENV_DUCKDB = "1.5.6"  # the latest 1.5.x; the host runs the 2.x release that uv.lock pins


def partition_venv(home: Path | str | None = None) -> dict:
    """Keyword arguments for `@task.virtualenv`: only duckdb `VENV_DUCKDB`, cached, nothing inherited.
    `home`: the Airflow home whose cache to use (default: AIRFLOW_HOME, else the lab's)."""
    home = home or os.environ.get("AIRFLOW_HOME")
    if not home:
        from lab.config import settings

        home = settings().airflow_home
    return {
        "requirements": [f"duckdb=={VENV_DUCKDB}"],
        "venv_cache_path": str(Path(home) / "venv-cache"),
        "system_site_packages": False,
        "inherit_env": False,
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
