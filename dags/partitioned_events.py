"""One DAG for the daily load and every reload, mapped over (date, country) partitions.

It replaces the three copy-pasted DAGs of the anti-pattern (daily load, date-range reload,
single-country reload) with one DAG and a `mode` Param:

- daily:          yesterday (the day before `dag_run.run_after`) x every country in `countries`;
- range:          every date from start_date to end_date x every country (a cross product);
- country_reload: every date of the range for the one country in `countries`.

Shows:
- Params whose JSON schema refuses bad values in the trigger form and the REST API (an unknown
  mode, an impossible date, an unknown country, events_per_partition < 1) before a run exists;
- one planning task that checks the rest (a reversed range, more partitions than
  `[core] max_map_length`, ...) with `lab.partitions.plan_run` and returns explicit
  (date, country) pairs, so bad input fails the run before any partition is written;
- `expand_kwargs` over those pairs: the mapped task gets exactly the pairs the mode asks for
  (`expand(event_date=..., country=...)` would always be the full cross product), and
  `map_index_template=LABEL_TEMPLATE` (a Jinja template over the instance's own kwargs,
  `{{ task.op_kwargs['event_date'] }} ...`) labels each instance with both, "2024-01-01 / DE";
- retries per mapped instance: a failing partition retries alone, and clearing one mapped
  instance re-runs only that partition. `fail_partitions` is the lab's hook to make chosen
  partitions fail on purpose (before they write anything) for their first `fail_tries` tries;
- atomic, idempotent writes through `lab.lake.write_partition` into the table
  `events_by_country/event_date=YYYY-MM-DD/country=CC/` (the demo DAG owns the date-only
  `events` table; mixing both layouts in one directory would break hive reads).

The same code builds two DAGs:

- `partitioned_events` (`schedule=None`): the lab triggers every run of it itself;
- `partitioned_events_daily`: the same DAG on `schedule="@daily"`, as it runs in production,
  where the scheduler makes the daily runs and people trigger the reloads. On Airflow 3
  `@daily` is a CronTriggerTimetable: the run for day D is due at D 00:00, its logical date
  (`ds`) is D and its `run_after` is D 00:00, so daily mode loads D - 1, the day that just
  ended. Its `end_date` lies in the past only so that the lab never runs it by itself: a
  scheduled DAG that is unpaused creates its latest due run at once, even with
  `catchup=False` (the lab replays scheduled days with a backfill instead). It also sets the
  limits lesson 05 shows when a large reload meets the daily run (`lab.concurrency.DAILY`):
  one active run at a time (backfills have their own limit), two instances per run, and the
  pool `lab_warehouse` for the warehouse's slots, which must exist before a run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from lab.concurrency import DAILY
from lab.partitions import (
    COUNTRY_TABLE,
    DATE_COUNTRY_KEY_PATTERN,
    LABEL_TEMPLATE,
    MAX_LATENCY_S,
    MIN_EVENTS_PER_PARTITION,
    MODES,
    known_countries,
)

RETRIES = 1
RETRY_DELAY = timedelta(seconds=2)


def partitioned_events_dag(dag_id: str, schedule=None, write_limits: dict | None = None, **dag_options):
    """The DAG, under `dag_id`; `write_limits` go to the mapped task (max_active_tis_per_dagrun, pool)."""
    title = "Partitioned events: one DAG for every reload (date x country)"

    @dag(
        dag_id=dag_id,
        dag_display_name=title if schedule is None else f"{title}, {schedule}",
        schedule=schedule,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        render_template_as_native_obj=True,  # "{{ params.countries }}" renders as a list, not a string
        tags=["lab", "dynamic-task-mapping"],
        params={
            "mode": Param(
                "daily",
                enum=list(MODES),
                description="daily: yesterday x countries. range: every date x countries. "
                "country_reload: every date of the range for one country.",
            ),
            "start_date": Param(
                "2024-01-01", type="string", format="date", description="First date (not for daily)"
            ),
            "end_date": Param(
                "2024-01-03", type="string", format="date", description="Last date (not for daily)"
            ),
            "countries": Param(
                list(known_countries()),
                type="array",
                items={"type": "string", "enum": list(known_countries())},
                minItems=1,
                uniqueItems=True,
                description="ISO codes from data/countries.csv; exactly one for country_reload",
            ),
            "events_per_partition": Param(
                1000,
                type="integer",
                minimum=MIN_EVENTS_PER_PARTITION,
                description="Rows written per partition",
            ),
            "latency_s": Param(
                0,
                type="number",
                minimum=0,
                maximum=MAX_LATENCY_S,
                description="Seconds each partition waits (a remote warehouse)",
            ),
            "fail_partitions": Param(
                [],
                type="array",
                items={"type": "string", "pattern": DATE_COUNTRY_KEY_PATTERN},
                description="Test hook: partitions (YYYY-MM-DD/CC) that fail on purpose, before writing",
            ),
            "fail_tries": Param(
                1,
                type="integer",
                minimum=0,
                description=f"How many tries of each fail_partitions entry fail (1: the retry heals it; "
                f"{RETRIES + 1}: it stays failed until you clear it)",
            ),
        },
        **dag_options,
    )
    def partitioned_events():
        @task(task_display_name="Plan partitions")
        def plan_partitions(params: dict, dag_run=None) -> list[dict[str, str]]:
            from airflow.sdk import conf

            from lab.partitions import plan_run

            partitions = plan_run(
                params, dag_run.run_after, max_partitions=conf.getint("core", "max_map_length")
            )
            print(f"{len(partitions)} partition(s): {[p.key for p in partitions]}")
            return [p.as_kwargs() for p in partitions]  # one dict of kwargs per mapped instance

        @task(
            task_display_name="Write partition",
            map_index_template=LABEL_TEMPLATE,
            retries=RETRIES,
            retry_delay=RETRY_DELAY,
            **(write_limits or {}),
        )
        def write_partition(
            event_date: str,
            country: str,
            events_per_partition: int,
            latency_s: float,
            fail_partitions: list[str],
            fail_tries: int,
            ti=None,
        ) -> dict:
            from lab import lake
            from lab.partitions import Partition

            key = Partition(event_date, country).key
            if key in fail_partitions and ti.try_number <= fail_tries:
                raise RuntimeError(
                    f"partition {key} fails on purpose on try {ti.try_number} (fail_partitions)"
                )
            written = lake.write_partition(
                event_date, events_per_partition, country, table=COUNTRY_TABLE, latency_s=latency_s
            )
            print(f"try {ti.try_number}: wrote {written['rows']} events to {key} in {written['seconds']} s")
            return {k: written[k] for k in ("event_date", "country", "rows", "files")}

        write_partition.partial(
            events_per_partition="{{ params.events_per_partition }}",
            latency_s="{{ params.latency_s }}",
            fail_partitions="{{ params.fail_partitions }}",
            fail_tries="{{ params.fail_tries }}",
        ).expand_kwargs(plan_partitions())

    return partitioned_events()


partitioned_events_dag("partitioned_events")

partitioned_events_dag(
    "partitioned_events_daily",
    schedule="@daily",
    end_date=datetime(2024, 12, 31),
    max_active_runs=DAILY.max_active_runs,
    write_limits={"max_active_tis_per_dagrun": DAILY.max_active_tis_per_dagrun, "pool": DAILY.pool},
)
