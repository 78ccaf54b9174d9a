"""Benchmark strategy `mapping_virtualenv`: dynamic mapping with a `@task.virtualenv` per partition.

Two DAGs from one definition, to price the virtualenv per task:
- `bench_mapping_virtualenv_cached` keeps the venv in `venv_cache_path` (as the demo does):
  built once, then every task only starts a new Python in it;
- `bench_mapping_virtualenv_uncached` has no cache: every mapped task instance creates a
  virtualenv and installs duckdb into it (uv makes that seconds, not minutes) before working.

Inside the venv only duckdb is installed (the host's release, so the work is the same), and
the lab's code is imported from the repository, so that the partition is written by the same
`lab.lake.write_partition` as every other strategy and the task reports its own clock. The
demo's virtualenv task differs on purpose: it ships the self-contained writer alone and runs
it on a duckdb release of its own (lesson 02), which proves the isolation but is not what a
timing comparison with the in-process strategies wants.
Triggered by `lab.bench` with conf {start_date, end_date, events_per_partition, latency_s}.
"""

from __future__ import annotations

import os
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

from airflow.sdk import dag, task

from lab.bench.strategies import STRATEGIES
from lab.bench.workload import POOL, partition_dates, range_params
from lab.config import settings

CFG = settings()
DUCKDB_REQUIREMENT = f"duckdb=={version('duckdb')}"  # the version uv.lock installed
VENV_CACHE = Path(os.environ.get("AIRFLOW_HOME", CFG.airflow_home)) / "venv-cache"  # shared with the demo


def mapping_virtualenv_dag(strategy_name: str, venv_cache_path: str | None, display_name: str):
    strategy = STRATEGIES[strategy_name]

    @dag(
        dag_id=strategy.dag_id,
        dag_display_name=display_name,
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        params=range_params(),
        default_args={"pool": POOL},
        max_active_tasks=256,  # the pool is the cap, not the DAG's default of 16
        render_template_as_native_obj=True,  # "{{ params.events_per_partition }}" renders as a number
        tags=["lab", "benchmark"],
    )
    def bench_mapping_virtualenv():
        @task(task_display_name="Plan partitions")
        def plan(params: dict) -> list[str]:
            return partition_dates(params)

        @task.virtualenv(
            task_display_name="Process partition (virtualenv)",
            requirements=[DUCKDB_REQUIREMENT],
            venv_cache_path=venv_cache_path,
            system_site_packages=False,
            map_index_template="Partition: {{ task.op_kwargs['day'] }}",
            multiple_outputs=False,  # one XCom; `-> dict` alone would also push each key as its own XCom
        )
        def process_partition(
            day: str, events_per_partition: int, latency_s: float, table: str, lake_dir: str, repo_root: str
        ) -> dict:
            import sys
            import time

            entered = time.time()  # the task's own code starts here
            sys.path.insert(0, repo_root)
            from lab.bench.workload import report
            from lab.lake import write_partition

            written = write_partition(
                day, events_per_partition, table=table, lake_dir=lake_dir, latency_s=latency_s
            )
            return report([written], entered)

        process_partition.partial(
            events_per_partition="{{ params.events_per_partition }}",
            latency_s="{{ params.latency_s }}",
            table=strategy.table,
            lake_dir=str(CFG.lake_dir),
            repo_root=str(CFG.repo_root),
        ).expand(day=plan())

    return bench_mapping_virtualenv()


mapping_virtualenv_dag(
    "mapping_virtualenv_cached", str(VENV_CACHE), "Benchmark: mapping with @task.virtualenv (cached venv)"
)
mapping_virtualenv_dag(
    "mapping_virtualenv_uncached", None, "Benchmark: mapping with @task.virtualenv (new venv per task)"
)
