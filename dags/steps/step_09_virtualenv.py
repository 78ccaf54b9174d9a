"""Step 9: `@task.virtualenv`, a mapped task that runs in its own Python environment.

`@task.virtualenv(requirements=[...])` runs the function in a virtualenv that holds only the
listed packages (here duckdb, pinned to the lab's locked version), built with uv and cached in
`venv_cache_path` so it is built once, not once per instance. `system_site_packages=False`
keeps Airflow's packages out. The function is shipped to that interpreter as source, so it
imports what it needs inside its body, and arguments must be serializable; `partial`,
`expand` and `map_index_template` work as for `@task`.

Each instance writes its partition to the lake table `step_09` through
`lab.lake.write_partition`, imported from the repository (the venv has no `lab` package).
"""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

from airflow.sdk import dag, task

from lab.config import settings

CFG = settings()
DUCKDB_REQUIREMENT = f"duckdb=={version('duckdb')}"  # the version uv.lock installed
VENV_CACHE = Path(os.environ.get("AIRFLOW_HOME", CFG.airflow_home)) / "venv-cache"


@dag(dag_id="step_09_virtualenv", schedule=None, tags=["lab", "steps"])
def step_09_virtualenv():
    @task
    def get_dates() -> list[str]:
        from lab.partitions import date_range

        return date_range("2024-01-01", "2024-01-02")

    @task.virtualenv(
        requirements=[DUCKDB_REQUIREMENT],
        venv_cache_path=str(VENV_CACHE),
        system_site_packages=False,
        map_index_template="Partition: {{ task.op_kwargs['date_str'] }}",
    )
    def process_partition(date_str: str, events_per_partition: int, lake_dir: str, repo_root: str) -> dict:
        import sys

        import duckdb

        sys.path.insert(0, repo_root)
        from lab.lake import write_partition

        written = write_partition(date_str, events_per_partition, table="step_09", lake_dir=lake_dir)
        return {"partition": written["partition"], "rows": written["rows"], "duckdb": duckdb.__version__}

    process_partition.partial(
        events_per_partition=100, lake_dir=str(CFG.lake_dir), repo_root=str(CFG.repo_root)
    ).expand(date_str=get_dates())


step_09_virtualenv()
