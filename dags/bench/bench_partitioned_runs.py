"""Benchmark strategy `partitioned_runs`: Airflow 3.2+ native partitions, backfilled.

`CronPartitionTimetable` makes every run a run *for a partition*: the run carries a
`partition_key` (here the day, formatted YYYY-MM-DD) instead of a data interval, and a
backfill over a date range creates one run per key (`POST /api/v2/backfills`, as for any
periodic DAG, with `max_active_runs = P`). The task reads the key from `dag_run.partition_key`.
It is still one DAG run per partition, so it pays the same per-run bookkeeping as
`catchup_backfill`; what it adds is that the partition is a first-class field of the run
(shown in the UI, deduplicated by backfills) rather than derived from a logical date.

An `end_date` in the past keeps the scheduler from starting runs of its own. Writes the lake
table `bench_partitioned_runs` through `lab.lake.write_partition`.
"""

from __future__ import annotations

import time

from airflow.sdk import CronPartitionTimetable, dag, task

from lab.bench.strategies import STRATEGIES
from lab.bench.workload import POOL, WINDOW_END_AT, WINDOW_START_AT, work_params, write_days

STRATEGY = STRATEGIES["partitioned_runs"]


@dag(
    dag_id=STRATEGY.dag_id,
    dag_display_name="Benchmark: one partitioned run per partition_key (backfill)",
    schedule=CronPartitionTimetable("0 0 * * *", timezone="UTC", key_format="%Y-%m-%d"),
    start_date=WINDOW_START_AT,
    end_date=WINDOW_END_AT,
    catchup=False,
    params=work_params(),
    default_args={"pool": POOL},
    max_active_tasks=256,  # the pool and the backfill's max_active_runs are the caps
    tags=["lab", "benchmark"],
)
def bench_partitioned_runs():
    @task(
        task_display_name="Process the run's partition",
        multiple_outputs=False,  # one XCom; `-> dict` alone would also push each key as its own XCom
    )
    def process_partition_key(params: dict, dag_run=None) -> dict:
        entered = time.time()  # the task's own code starts here
        # The run's partition_key is its day, e.g. "2024-01-01" (the timetable's key_format).
        return write_days([dag_run.partition_key], params, STRATEGY.table, entered)

    process_partition_key()


bench_partitioned_runs()
