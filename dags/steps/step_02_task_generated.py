"""Step 2: map over a list that an upstream task returns (task-generated mapping).

`get_dates()` computes the partitions when the run starts and returns them (through XCom);
`process_partition.expand(date_str=get_dates())` makes one task instance per returned date.
How many instances there will be is only known once `get_dates` has finished: that is what
"dynamic" means, and why one DAG can serve a one-day load and a month-long reload.

Each instance writes its partition to the lake table `step_02` through `lab.lake.write_partition`.
"""

from __future__ import annotations

from airflow.sdk import dag, task

TABLE = "step_02"
EVENTS_PER_PARTITION = 100


@dag(dag_id="step_02_task_generated", schedule=None, tags=["lab", "steps"])
def step_02_task_generated():
    @task
    def get_dates() -> list[str]:
        from lab.partitions import date_range

        return date_range("2024-01-01", "2024-01-04")

    @task
    def process_partition(date_str: str) -> dict:
        from lab.lake import write_partition

        written = write_partition(date_str, EVENTS_PER_PARTITION, table=TABLE)
        return {"partition": written["partition"], "rows": written["rows"]}

    process_partition.expand(date_str=get_dates())


step_02_task_generated()
