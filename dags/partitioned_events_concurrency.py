"""The same partitioned load under each of Airflow's concurrency controls: one DAG per control.

Each DAG maps one `write_partition` instance per (date, country), like `partitioned_events`,
and differs only in the one limit it sets (the numbers live in `lab.concurrency`), so a run
shows what that limit caps:

- `concurrency_max_active_tis_per_dagrun`: the mapped task's `max_active_tis_per_dagrun=2`:
  at most 2 instances of this task run at once within one run;
- `concurrency_max_active_tasks`: the DAG's `max_active_tasks=3`: at most 3 task instances run
  at once within one run of this DAG, whatever the task. Airflow 3 counts per DAG run, so two
  runs at once may run 6 (lesson 06 shows it); Airflow 2 counted over all the DAG's runs;
- `concurrency_pool`: the mapped task takes a slot of the pool `lab_partitions`; the pool's size
  (set through the REST API: `lab.concurrency.trigger` sizes it before each run) caps every
  task in it, in any DAG. A task whose pool does not exist is never scheduled: create the pool
  before triggering;
- `concurrency_parallelism`: no limit of its own; only `[core] parallelism` (LAB_PARALLELISM,
  8 by default), the cap on task instances running in the whole Airflow, holds it back.

`latency_s` stands for waiting on a remote warehouse, so the partitions overlap and the limits
show in the task-instance timeline (`lab.timeline.max_concurrency`, `lab.plots.gantt`).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lab.concurrency import MAX_ACTIVE_TASKS, MAX_ACTIVE_TIS_PER_DAGRUN, POOL
from lab.partitions import (
    COUNTRY_TABLE,
    LABEL_TEMPLATE,
    MAX_LATENCY_S,
    MIN_EVENTS_PER_PARTITION,
    known_countries,
)

# control -> the one limit its DAG sets ("dag": on the DAG, "task": on the mapped task)
LIMITS = {
    "max_active_tis_per_dagrun": {"task": {"max_active_tis_per_dagrun": MAX_ACTIVE_TIS_PER_DAGRUN}},  # 2
    "max_active_tasks": {"dag": {"max_active_tasks": MAX_ACTIVE_TASKS}},  # 3
    "pool": {"task": {"pool": POOL}},  # as many as the pool has slots
    "parallelism": {},  # only [core] parallelism
}


def concurrency_dag(control: str, limits: dict):
    @dag(
        dag_id=f"concurrency_{control}",
        dag_display_name=f"Concurrency control: {control}",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        render_template_as_native_obj=True,
        tags=["lab", "concurrency"],
        params={
            "start_date": Param("2024-06-01", type="string", format="date"),
            "end_date": Param("2024-06-03", type="string", format="date"),
            "countries": Param(
                ["DE", "FR"],
                type="array",
                items={"type": "string", "enum": list(known_countries())},
                minItems=1,
            ),
            "events_per_partition": Param(100, type="integer", minimum=MIN_EVENTS_PER_PARTITION),
            "latency_s": Param(1.0, type="number", minimum=0, maximum=MAX_LATENCY_S),
        },
        **limits.get("dag", {}),
    )
    def capped():
        @task(task_display_name="Plan partitions")
        def plan_partitions(params: dict) -> list[dict[str, str]]:
            from airflow.sdk import conf

            from lab.partitions import plan_run

            partitions = plan_run(
                {**params, "mode": "range"}, max_partitions=conf.getint("core", "max_map_length")
            )
            return [p.as_kwargs() for p in partitions]

        @task(
            task_display_name="Write partition",
            map_index_template=LABEL_TEMPLATE,
            **limits.get("task", {}),
        )
        def write_partition(
            event_date: str, country: str, events_per_partition: int, latency_s: float
        ) -> int:
            from lab import lake

            return lake.write_partition(
                event_date, events_per_partition, country, table=COUNTRY_TABLE, latency_s=latency_s
            )["rows"]

        write_partition.partial(
            events_per_partition="{{ params.events_per_partition }}", latency_s="{{ params.latency_s }}"
        ).expand_kwargs(plan_partitions())

    return capped()


for _control, _limits in LIMITS.items():
    concurrency_dag(_control, _limits)
