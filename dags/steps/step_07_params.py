"""Step 7: Params, so whoever triggers the DAG picks the dates (UI trigger form or REST `conf`).

`params={...}` with `Param(..., type=..., format="date", minimum=1)` declares what a run accepts:
the UI renders it as a trigger form, and Airflow refuses a run whose values break the schema
before anything starts. `get_dates(params)` turns the chosen range into the partition list
(a reversed range fails there, before anything is written), and
`"{{ params.events_per_partition }}"` in `partial()` is rendered per run;
`render_template_as_native_obj=True` makes it arrive as an int, not a string.

Each instance writes its partition to the lake table `step_07` through `lab.lake.write_partition`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task


@dag(
    dag_id="step_07_params",
    schedule=None,
    render_template_as_native_obj=True,
    tags=["lab", "steps"],
    params={
        "start_date": Param("2024-01-01", type="string", format="date", description="First date"),
        "end_date": Param("2024-01-03", type="string", format="date", description="Last date"),
        "events_per_partition": Param(100, type="integer", minimum=1, description="Rows per partition"),
    },
)
def step_07_params():
    @task
    def get_dates(params: dict) -> list[str]:
        from lab.partitions import date_range

        return date_range(params["start_date"], params["end_date"])

    @task
    def process_partition(date_str: str, events_per_partition: int) -> dict:
        from lab.lake import write_partition

        written = write_partition(date_str, events_per_partition, table="step_07")
        return {"partition": written["partition"], "rows": written["rows"]}

    process_partition.partial(events_per_partition="{{ params.events_per_partition }}").expand(
        date_str=get_dates()
    )


step_07_params()
