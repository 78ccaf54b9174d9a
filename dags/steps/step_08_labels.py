"""Step 8: names people can read: `map_index_template`, `task_display_name`, `dag_display_name`.

Mapped instances are numbered 0, 1, 2 ... by default, which says nothing in the UI.
`map_index_template="Partition: {{ task.op_kwargs['date_str'] }}"` is rendered for each
instance from its own arguments, so the UI lists "Partition: 2024-01-01" (the REST API returns
it as `rendered_map_index`). `task_display_name` and `dag_display_name` give the task and the
DAG readable names while their ids stay stable for code, logs and URLs.

Each instance writes its partition to the lake table `step_08` through `lab.lake.write_partition`.
"""

from __future__ import annotations

from airflow.sdk import dag, task

TABLE = "step_08"
EVENTS_PER_PARTITION = 100


@dag(
    dag_id="step_08_labels",
    dag_display_name="Step 8: readable names for the DAG, the task and each partition",
    schedule=None,
    tags=["lab", "steps"],
)
def step_08_labels():
    @task(task_display_name="Get date range")
    def get_dates() -> list[str]:
        from lab.partitions import date_range

        return date_range("2024-01-01", "2024-01-03")

    @task(
        task_display_name="Process partition",
        map_index_template="Partition: {{ task.op_kwargs['date_str'] }}",
    )
    def process_partition(date_str: str) -> dict:
        from lab.lake import write_partition

        written = write_partition(date_str, EVENTS_PER_PARTITION, table=TABLE)
        return {"partition": written["partition"], "rows": written["rows"]}

    process_partition.expand(date_str=get_dates())


step_08_labels()
