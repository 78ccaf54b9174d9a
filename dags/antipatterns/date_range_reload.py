"""ANTI-PATTERN, do not copy. Exhibit 2 of 3: reload a date range by looping over it inside ONE task.

This is one of three copy-pasted DAGs shown in lesson 01 (notebooks/01_dag_proliferation.ipynb):
`daily_load.py`, `date_range_reload.py` and `country_reload.py` in this folder repeat the same
loop on purpose. It is the only deliberate duplication in the repository, kept so the lesson
can measure it. The fix is `dags/dynamic_task_mapping_demo.py`: one DAG whose mapped task runs
one task instance per partition.

What is wrong with it:
- the loop processes the partitions one after another, whatever `[core] parallelism` allows;
- Airflow sees one task: the UI cannot tell which partition failed, and a retry redoes them all;
- the same loop lives in three files, so every fix has to be made three times.

It is written for Airflow 3 (`airflow.sdk` imports, Params with a trigger form) and writes the
date-only table `antipattern_events` through `lab.lake.write_partition`. The task returns when
each partition started and ended, so the lesson can draw the loop's timeline.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

TABLE = "antipattern_events"


@dag(
    dag_id="antipattern_date_range_reload",
    dag_display_name="Anti-pattern 2/3: date-range reload (sequential loop)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["lab", "antipattern"],
    params={
        "start_date": Param("2024-01-01", type="string", format="date", description="First date to reload"),
        "end_date": Param("2024-01-05", type="string", format="date", description="Last date to reload"),
        "events_per_partition": Param(
            1000, type="integer", minimum=1, description="Rows written per partition"
        ),
        "latency_s": Param(
            0.0,
            type="number",
            minimum=0,
            description="Seconds each partition waits (a stand-in for a remote warehouse)",
        ),
    },
)
def antipattern_date_range_reload():
    @task
    def reload_date_range(params: dict) -> list[dict]:
        from lab.lake import write_partition
        from lab.partitions import check_events_per_partition, date_range

        rows = check_events_per_partition(params["events_per_partition"])
        dates = date_range(params["start_date"], params["end_date"])
        processed = []
        for day in dates:  # one partition after the other, all inside this one task
            started = datetime.now(UTC)
            written = write_partition(day, rows, table=TABLE, latency_s=params["latency_s"])
            ended = datetime.now(UTC)
            partition = written["partition"]
            print(f"{partition}: {written['rows']} rows in {(ended - started).total_seconds():.2f} s")
            processed.append(
                {
                    "partition": partition,
                    "rows": written["rows"],
                    "start": started.isoformat(),
                    "end": ended.isoformat(),
                }
            )
        print(f"{len(processed)} partition(s) processed, one after the other")
        return processed

    reload_date_range()


antipattern_date_range_reload()
