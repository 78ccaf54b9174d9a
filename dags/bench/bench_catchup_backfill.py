"""Benchmark strategy `catchup_backfill`: a @daily DAG, one partition per run, backfilled.

The classic Airflow answer to "reload these N days": a daily DAG whose run for a day
processes that day (`ds`, the run's logical date), and a backfill that creates one run per day.
`lab.bench` creates it as one scheduler-managed backfill (REST `POST /api/v2/backfills`,
the same as `airflow backfill create`) with `max_active_runs = P` and the work Params as
`dag_run_conf`. Each run is a whole DAG run (created, queued, started, finished, recorded):
that bookkeeping is what this strategy pays per partition on top of a task's overhead.

`catchup=False` and an `end_date` in the past: the scheduler never starts a run of its own,
only the backfill's. Writes the lake table `bench_catchup_backfill`.
"""

from __future__ import annotations

import time

from airflow.sdk import dag, task

from lab.bench.strategies import STRATEGIES
from lab.bench.workload import POOL, WINDOW_END_AT, WINDOW_START_AT, work_params, write_days

STRATEGY = STRATEGIES["catchup_backfill"]


@dag(
    dag_id=STRATEGY.dag_id,
    dag_display_name="Benchmark: one daily run per partition (backfill)",
    schedule="@daily",
    start_date=WINDOW_START_AT,
    end_date=WINDOW_END_AT,
    catchup=False,
    params=work_params(),
    default_args={"pool": POOL},
    max_active_tasks=256,  # the pool and the backfill's max_active_runs are the caps
    tags=["lab", "benchmark"],
)
def bench_catchup_backfill():
    @task(
        task_display_name="Process the run's day",
        multiple_outputs=False,  # one XCom; `-> dict` alone would also push each key as its own XCom
    )
    def process_day(params: dict, ds: str | None = None) -> dict:
        entered = time.time()  # the task's own code starts here
        return write_days([ds], params, STRATEGY.table, entered)

    process_day()


bench_catchup_backfill()
