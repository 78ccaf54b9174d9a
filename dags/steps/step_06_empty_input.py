"""Step 6: an empty list maps to zero instances, and the mapped task is skipped.

`process_partition.expand(date_str=get_new_dates())` with `get_new_dates()` returning `[]`
creates no task instance: the mapped task is marked `skipped` (one row, `map_index` -1), which
is not a failure. Downstream tasks with the default trigger rule (`all_success`) are skipped
too; `report` uses `trigger_rule="none_failed"`, so it still runs and the run succeeds.

Nothing is written when there is nothing to do; `process_partition` would write to the lake
table `step_06` through `lab.lake.write_partition`.
"""

from __future__ import annotations

from airflow.sdk import dag, task

TABLE = "step_06"
EVENTS_PER_PARTITION = 100


@dag(dag_id="step_06_empty_input", schedule=None, tags=["lab", "steps"])
def step_06_empty_input():
    @task
    def get_new_dates() -> list[str]:
        return []  # e.g. no new data arrived today: an empty list is a normal answer

    @task
    def process_partition(date_str: str) -> dict:
        from lab.lake import write_partition

        written = write_partition(date_str, EVENTS_PER_PARTITION, table=TABLE)
        return {"partition": written["partition"], "rows": written["rows"]}

    @task(trigger_rule="none_failed")
    def report() -> str:
        return "run finished; nothing failed"

    process_partition.expand(date_str=get_new_dates()) >> report()


step_06_empty_input()
