"""One DAG for the daily load and every date-range reload, mapped over date partitions.

Shows:
- Params with a trigger form: `mode` (daily | range), `start_date`, `end_date`, `events_per_partition`;
- a task that computes the partition list with `lab.partitions.plan_run`, the planner every DAG
  of the lab shares (daily mode: the day before `dag_run.run_after`, which every run has; on
  Airflow 3 a run triggered through the API has no logical date, so no `ds`);
- dynamic task mapping: `.partial()` for what every partition shares, `.expand()` over dates,
  so the scheduler runs the partitions in parallel, up to `[core] parallelism`;
- `map_index_template` so each mapped instance is labelled "Partition: 2024-01-01" in the UI;
- `@task.virtualenv`: each partition is written in a cached virtualenv that holds only its own
  duckdb release (`lab.venv`), inherits nothing from the worker, and runs the lab's one writer,
  `lab.lake_writer.write_events_partition`, whose source is all it receives.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lab.lake import writer_arguments
from lab.lake_writer import write_events_partition
from lab.partitions import MIN_EVENTS_PER_PARTITION
from lab.venv import partition_venv


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

    # The writer itself is the task: its source runs in the venv, which cannot import `lab`.
    process_partition = task.virtualenv(
        task_id="process_partition",
        task_display_name="Process partition",
        map_index_template="Partition: {{ task.op_kwargs['event_date'] }}",
        **partition_venv(),
    )(write_events_partition)

    process_partition.partial(
        events_per_partition="{{ params.events_per_partition }}",
        **writer_arguments("events"),  # table_dir, staging_dir, countries: plain values
    ).expand(event_date=get_date_range())


dynamic_task_mapping_demo()
