"""One DAG for the daily load and every date-range reload, mapped over date partitions.

Shows:
- Params with a trigger form: `mode` (daily | range), `start_date`, `end_date`, `events_per_partition`;
- a task that computes the partition list with `lab.partitions.plan_run`, the planner every DAG
  of the lab shares (daily mode uses `dag_run.run_after`: on Airflow 3 a manual run has no
  `ds` / logical date);
- dynamic task mapping: `.partial()` for what every partition shares, `.expand()` over dates,
  so the scheduler runs the partitions in parallel, up to `[core] parallelism`;
- `map_index_template` so each mapped instance is labelled "Partition: 2024-01-01" in the UI;
- `@task.virtualenv` with a cached venv: the partition is written by a task whose Python
  environment holds only duckdb (pinned to the lab's locked version).

The partition itself is written by `lab.lake.write_partition`, the one implementation that
every DAG of the lab shares.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lab.config import settings
from lab.partitions import MIN_EVENTS_PER_PARTITION
from lab.venv import partition_venv

CFG = settings()


@dag(
    dag_id="dynamic_task_mapping_demo",
    dag_display_name="Dynamic Task Mapping demo: one DAG, many partitions",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,  # "{{ params.events_per_partition }}" renders as an int
    tags=["lab", "dynamic-task-mapping"],
    params={
        "mode": Param(
            "daily",
            enum=["daily", "range"],  # the planner's modes without a country
            description="daily: yesterday's partition. range: every date from start_date to end_date.",
        ),
        "start_date": Param(
            "2024-01-01", type="string", format="date", description="First date (range mode)"
        ),
        "end_date": Param("2024-01-03", type="string", format="date", description="Last date (range mode)"),
        "events_per_partition": Param(
            1000, type="integer", minimum=MIN_EVENTS_PER_PARTITION, description="Rows written per partition"
        ),
    },
)
def dynamic_task_mapping_demo():
    @task(task_display_name="Get date range")
    def get_date_range(params: dict, dag_run=None) -> list[str]:
        from airflow.sdk import conf

        from lab.partitions import plan_run

        partitions = plan_run(params, dag_run.run_after, max_partitions=conf.getint("core", "max_map_length"))
        dates = [p.key for p in partitions]  # the JSON form of a date-only partition: "2024-01-01"
        print(f"{len(dates)} partition(s): {dates}")
        return dates

    @task.virtualenv(
        task_display_name="Process partition",
        # duckdb pinned to the locked version, venv cached under the Airflow home (lab/venv.py)
        **partition_venv(),
        map_index_template="Partition: {{ task.op_kwargs['date_str'] }}",
    )
    def process_partition(date_str: str, events_per_partition: int, lake_dir: str, repo_root: str) -> dict:
        # Runs inside the cached virtualenv: only duckdb is installed there, so the lab's
        # code is imported from the repository itself.
        import sys

        sys.path.insert(0, repo_root)
        from lab.lake import write_partition

        written = write_partition(date_str, events_per_partition, lake_dir=lake_dir)
        print(f"wrote {written['rows']} events to {written['path']}")
        return written

    process_partition.partial(
        events_per_partition="{{ params.events_per_partition }}",
        lake_dir=str(CFG.lake_dir),
        repo_root=str(CFG.repo_root),
    ).expand(date_str=get_date_range())


dynamic_task_mapping_demo()
