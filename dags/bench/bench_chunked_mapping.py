"""Benchmark strategy `chunked_mapping`: one run mapping over batches of `chunk_size` partitions.

Every task instance costs the same fixed overhead (queueing, a new process, talking to the
API server) whatever it does. When one partition's work is small next to that overhead,
mapping over ceil(N / k) chunks of k partitions, each written in a loop, wins over one
instance per partition; when the work is large, smaller chunks keep more slots busy.

Triggered by `lab.bench` with conf {start_date, end_date, events_per_partition, latency_s,
chunk_size}; writes the lake table `bench_chunked_mapping` through `lab.lake.write_partition`.
"""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import Param, dag, task

from lab.bench.strategies import STRATEGIES
from lab.bench.workload import POOL, chunks, partition_dates, range_params, write_days

STRATEGY = STRATEGIES["chunked_mapping"]


@dag(
    dag_id=STRATEGY.dag_id,
    dag_display_name="Benchmark: mapping over chunks of partitions",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params=range_params(
        chunk_size=Param(4, type="integer", minimum=1, description="Partitions per mapped task instance"),
    ),
    default_args={"pool": POOL},
    max_active_tasks=256,  # the pool is the cap, not the DAG's default of 16
    tags=["lab", "benchmark"],
)
def bench_chunked_mapping():
    @task(task_display_name="Plan chunks")
    def plan_chunks(params: dict) -> list[list[str]]:
        return chunks(partition_dates(params), params["chunk_size"])

    @task(
        task_display_name="Process chunk",
        map_index_template="Chunk: {{ task.op_kwargs['days'][0] }}..{{ task.op_kwargs['days'][-1] }}",
        multiple_outputs=False,  # one XCom; `-> dict` alone would also push each key as its own XCom
    )
    def process_chunk(days: list[str], params: dict) -> dict:
        entered = time.time()  # the task's own code starts here
        return write_days(days, params, STRATEGY.table, entered)

    process_chunk.expand(days=plan_chunks())


bench_chunked_mapping()
