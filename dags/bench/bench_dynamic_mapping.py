"""Benchmark strategy `dynamic_mapping`: one run, one mapped task instance per partition.

`plan` computes the partition list at run time; `.expand()` turns it into N task instances
that the scheduler runs side by side. They all run in the pool `lab_bench`, whose P slots
cap how many run at once (`max_active_tis_per_dagrun` would do the same per run, but it is
fixed when this file is parsed; a pool's size can be changed between runs).

Triggered by `lab.bench` with conf {start_date, end_date, events_per_partition, latency_s};
writes the lake table `bench_dynamic_mapping` through `lab.lake.write_partition`.
"""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import dag, task

from lab.bench.strategies import STRATEGIES
from lab.bench.workload import POOL, partition_dates, range_params, write_days

STRATEGY = STRATEGIES["dynamic_mapping"]


@dag(
    dag_id=STRATEGY.dag_id,
    dag_display_name="Benchmark: dynamic task mapping",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params=range_params(),
    default_args={"pool": POOL},
    max_active_tasks=256,  # the pool is the cap, not the DAG's default of 16
    tags=["lab", "benchmark"],
)
def bench_dynamic_mapping():
    @task(task_display_name="Plan partitions")
    def plan(params: dict) -> list[str]:
        return partition_dates(params)

    @task(
        task_display_name="Process partition",
        map_index_template="Partition: {{ task.op_kwargs['day'] }}",
        multiple_outputs=False,  # one XCom; `-> dict` alone would also push each key as its own XCom
    )
    def process_partition(day: str, params: dict) -> dict:
        entered = time.time()  # the task's own code starts here
        return write_days([day], params, STRATEGY.table, entered)

    process_partition.expand(day=plan())


bench_dynamic_mapping()
