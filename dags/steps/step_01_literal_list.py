"""Step 1: map over a literal list, one task instance per element.

`process_partition.expand(date_str=[...])` turns one task into as many task instances as the
list has elements, each with its own `map_index` (0, 1, 2). The list is fixed in the DAG file,
so this is the smallest possible mapping; the next steps compute it at run time.

Each instance writes its date's partition to the lake table `step_01` through
`lab.lake.write_partition`, like every DAG of the lab.
"""

from __future__ import annotations

from airflow.sdk import dag, task

TABLE = "step_01"
EVENTS_PER_PARTITION = 100


@dag(dag_id="step_01_literal_list", schedule=None, tags=["lab", "steps"])
def step_01_literal_list():
    @task
    def process_partition(date_str: str) -> dict:
        from lab.lake import write_partition

        written = write_partition(date_str, EVENTS_PER_PARTITION, table=TABLE)
        return {"partition": written["partition"], "rows": written["rows"]}

    process_partition.expand(date_str=["2024-01-01", "2024-01-02", "2024-01-03"])


step_01_literal_list()
