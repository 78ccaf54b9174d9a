"""Benchmark strategy `sequential_loop`: one task loops over every partition, one after another.

The anti-pattern the lab replaces: however many slots Airflow has, the partitions are written
in series inside one task, so the run takes about N x (time per partition), and a failure
on partition 15 of 16 means re-running all 16.

Triggered by `lab.bench` with conf {start_date, end_date, events_per_partition, latency_s};
writes the lake table `bench_sequential_loop` through `lab.lake.write_partition`, like every
strategy.
"""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import dag, task

from lab.bench.strategies import STRATEGIES
from lab.bench.workload import POOL, partition_dates, range_params, write_days

STRATEGY = STRATEGIES["sequential_loop"]


@dag(
    dag_id=STRATEGY.dag_id,
    dag_display_name="Benchmark: sequential loop",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params=range_params(),
    default_args={"pool": POOL},
    tags=["lab", "benchmark"],
)
def bench_sequential_loop():
    @task(
        task_display_name="Process all partitions in a loop",
        multiple_outputs=False,  # one XCom; `-> dict` alone would also push each key as its own XCom
    )
    def process_all_partitions(params: dict) -> dict:
        entered = time.time()  # the task's own code starts here
        return write_days(partition_dates(params), params, STRATEGY.table, entered)

    process_all_partitions()


bench_sequential_loop()
