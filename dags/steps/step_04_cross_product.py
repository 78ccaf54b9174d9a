"""Step 4: `expand()` over two arguments maps over their cross product.

`.expand(date_str=<2 dates>, country=["DE", "FR", "NL"])` makes 2 x 3 = 6 task instances, one
for every (date, country) combination: the shape of "reload these dates for all these
countries". One list comes from a task, the other is literal; both kinds mix freely.

Each instance writes its date x country partition (`event_date=.../country=...`) to the lake
table `step_04` through `lab.lake.write_partition`.
"""

from __future__ import annotations

from airflow.sdk import dag, task

TABLE = "step_04"


@dag(dag_id="step_04_cross_product", schedule=None, tags=["lab", "steps"])
def step_04_cross_product():
    @task
    def get_dates() -> list[str]:
        from lab.partitions import date_range

        return date_range("2024-01-01", "2024-01-02")

    @task
    def process_partition(date_str: str, country: str, events_per_partition: int) -> dict:
        from lab.lake import write_partition

        written = write_partition(date_str, events_per_partition, country=country, table=TABLE)
        return {"partition": written["partition"], "rows": written["rows"]}

    process_partition.partial(events_per_partition=40).expand(
        date_str=get_dates(), country=["DE", "FR", "NL"]
    )


step_04_cross_product()
