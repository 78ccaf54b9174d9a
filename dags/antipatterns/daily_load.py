"""ANTI-PATTERN, do not copy. Exhibit 1 of 3: the daily load, a loop over yesterday inside ONE task.

This is one of three copy-pasted DAGs shown in lesson 01 (notebooks/01_dag_proliferation.ipynb):
`daily_load.py`, `date_range_reload.py` and `country_reload.py` in this folder repeat the same
loop on purpose. It is the only deliberate duplication in the repository, kept so the lesson
can measure it. The fix is `dags/dynamic_task_mapping_demo.py`: one DAG whose mapped task runs
one task instance per partition, in `daily` mode for this job.

What is wrong with it:
- it already loops, over a list of one date; the copies grew that list into a range, loop and all;
- Airflow sees one task: the UI cannot tell which partition failed, and a retry redoes them all;
- the same loop lives in three files, so every fix has to be made three times.

It is written for Airflow 3: the day comes from `dag_run.run_after`, because a manually
triggered run has no logical date (the Airflow 2 original used `{{ ds }}`). It writes the
date-only table `antipattern_events` through `lab.lake.write_partition`, and returns when each
partition started and ended. `max_active_runs=1`: unpausing it starts the latest scheduled run,
and a manual run next to it would write the same partition at the same time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

TABLE = "antipattern_events"
EVENTS_PER_PARTITION = 1000
LATENCY_S = 0.0


@dag(
    dag_id="antipattern_daily_load",
    dag_display_name="Anti-pattern 1/3: daily load (sequential loop)",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["lab", "antipattern"],
)
def antipattern_daily_load():
    @task
    def load_yesterday(dag_run=None) -> list[dict]:
        from lab.lake import write_partition
        from lab.partitions import check_events_per_partition, daily_partition

        rows = check_events_per_partition(EVENTS_PER_PARTITION)
        dates = [daily_partition(dag_run.run_after)]
        processed = []
        for day in dates:  # one partition after the other, all inside this one task
            started = datetime.now(UTC)
            written = write_partition(day, rows, table=TABLE, latency_s=LATENCY_S)
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

    load_yesterday()


antipattern_daily_load()
