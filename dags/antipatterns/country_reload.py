"""ANTI-PATTERN, do not copy. Exhibit 3 of 3: reload one country over a date range, looping inside ONE task.

This is one of three copy-pasted DAGs shown in lesson 01 (notebooks/01_dag_proliferation.ipynb):
`daily_load.py`, `date_range_reload.py` and `country_reload.py` in this folder repeat the same
loop on purpose. It is the only deliberate duplication in the repository, kept so the lesson
can measure it. The fix is one DAG whose mapped task runs one task instance per partition
(`dags/dynamic_task_mapping_demo.py` for dates; date x country in a later lesson).

What is wrong with it:
- the loop processes the partitions one after another, whatever `[core] parallelism` allows;
- Airflow sees one task: the UI cannot tell which partition failed, and a retry redoes them all;
- the same loop lives in three files, so every fix has to be made three times; this copy
  already drifted (a `country` was added to the partition and to the Params).

It is written for Airflow 3 (`airflow.sdk` imports, Params with a trigger form) and writes the
date x country table `events_by_country` (`event_date=YYYY-MM-DD/country=CC/`) through
`lab.lake.write_partition`. The task returns when each partition started and ended.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

TABLE = "events_by_country"


@dag(
    dag_id="antipattern_country_reload",
    dag_display_name="Anti-pattern 3/3: single-country reload (sequential loop)",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["lab", "antipattern"],
    params={
        "country": Param(
            "DE", type="string", pattern="^[A-Z]{2}$", description="Two-letter ISO code, e.g. DE"
        ),
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
def antipattern_country_reload():
    @task
    def reload_country(params: dict) -> list[dict]:
        from lab.lake import write_partition
        from lab.partitions import check_country, check_events_per_partition, date_range

        country = check_country(params["country"])
        rows = check_events_per_partition(params["events_per_partition"])
        dates = date_range(params["start_date"], params["end_date"])
        processed = []
        for day in dates:  # one partition after the other, all inside this one task
            started = datetime.now(UTC)
            written = write_partition(day, rows, country=country, table=TABLE, latency_s=params["latency_s"])
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

    reload_country()


antipattern_country_reload()
