"""Step 3: `partial()` for the arguments every mapped instance shares.

`.partial(events_per_partition=25, table="step_03")` fixes the constants once;
`.expand(date_str=...)` varies only the date. Arguments given to `partial` are not mapped over:
every instance gets the same value. (Passing a list to `partial` would hand the whole list to
every instance; only `expand` maps.)

Each instance writes its partition, 25 rows, to the lake table `step_03` through
`lab.lake.write_partition`.
"""

from __future__ import annotations

from airflow.sdk import dag, task


@dag(dag_id="step_03_partial", schedule=None, tags=["lab", "steps"])
def step_03_partial():
    @task
    def get_dates() -> list[str]:
        from lab.partitions import date_range

        return date_range("2024-01-01", "2024-01-03")

    @task
    def process_partition(date_str: str, events_per_partition: int, table: str) -> dict:
        from lab.lake import write_partition

        written = write_partition(date_str, events_per_partition, table=table)
        return {"partition": written["partition"], "rows": written["rows"]}

    process_partition.partial(events_per_partition=25, table="step_03").expand(date_str=get_dates())


step_03_partial()
