"""Airflow's concurrency controls, each observed on a real run: how many partitions ran at once.

The DAGs in dags/partitioned_events_concurrency.py take their limits from here, so the limit a
lesson or test compares with is the one the DAG was parsed with:

    control                      where it is set              caps
    max_active_tis_per_dagrun    the (mapped) task            instances of that task in one run
    max_active_tasks             the DAG                      task instances of one run of the DAG
                                                              (Airflow 2: of all its runs together)
    pool (N slots)               the task; slots via REST     every task in the pool, any DAG
    [core] parallelism           airflow.cfg / env (LAB_PARALLELISM)   task instances in the whole Airflow

`DAILY` holds the limits of `partitioned_events_daily`, the scheduled DAG of lesson 05 that
also takes reloads: max_active_runs (the DAG's scheduled and manual runs; a backfill has its
own), max_active_tis_per_dagrun on its mapped task, and the pool its writes share.

"Observed" means computed from the task instances' own start and end times
(`lab.timeline.max_concurrency`), never assumed from the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ACTIVE_TIS_PER_DAGRUN = 2
MAX_ACTIVE_TASKS = 3
POOL = "lab_partitions"
POOL_SLOTS = 2  # the default size the lab gives the pool; any size can be set before a run
CONTROLS = ("max_active_tis_per_dagrun", "max_active_tasks", "pool", "parallelism")
MAPPED_TASK = "write_partition"


@dataclass(frozen=True)
class DailyLimits:
    """The limits of `partitioned_events_daily` (dags/partitioned_events.py reads them from here)."""

    max_active_runs: int = 1  # running scheduled + manual runs of the DAG (backfill runs count apart)
    max_active_tis_per_dagrun: int = 2  # mapped instances running at once in one run
    pool: str = "lab_warehouse"  # every write of the DAG takes a slot: the warehouse's capacity
    pool_slots: int = 3  # the size lesson 05 gives the pool (set through the REST API)


DAILY = DailyLimits()


def dag_id(control: str) -> str:
    if control not in CONTROLS:
        raise ValueError(f"unknown concurrency control {control!r}: choose one of {', '.join(CONTROLS)}")
    return f"concurrency_{control}"


def limit(control: str, pool_slots: int = POOL_SLOTS, parallelism: int | None = None) -> int:
    """The number of partitions `control` lets run at once."""
    from lab.config import settings

    dag_id(control)  # refuses an unknown control
    return {
        "max_active_tis_per_dagrun": MAX_ACTIVE_TIS_PER_DAGRUN,
        "max_active_tasks": MAX_ACTIVE_TASKS,
        "pool": pool_slots,
        "parallelism": parallelism or settings().parallelism,
    }[control]


@dataclass
class Observation:
    control: str
    limit: int
    observed: int
    partitions: int
    run: dict
    tis: object  # the mapped task instances (a DataFrame), for lab.plots.gantt

    def row(self) -> dict:
        return {
            "control": self.control,
            "limit": self.limit,
            "observed at once": self.observed,
            "partitions": self.partitions,
            "state": self.run["state"],
        }


def observe(client, control: str, run_id: str, pool_slots: int = POOL_SLOTS) -> Observation:
    """Measure a finished run of `concurrency_<control>`: peak partitions running at once vs its limit."""
    from lab.timeline import max_concurrency

    tis = client.task_instances(dag_id(control), run_id)
    mapped = tis[tis["task_id"] == MAPPED_TASK].reset_index(drop=True)
    return Observation(
        control=control,
        limit=limit(control, pool_slots),
        observed=max_concurrency(mapped),
        partitions=len(mapped),
        run=client.run(dag_id(control), run_id),
        tis=mapped,
    )


def trigger(client, control: str, conf: dict | None = None, pool_slots: int = POOL_SLOTS) -> dict:
    """Start a run of `concurrency_<control>`; for the pool control, size the pool first."""
    if control == "pool":
        client.set_pool(POOL, pool_slots, description="partitions of concurrency_pool (the lab's lesson 06)")
    return client.trigger(dag_id(control), conf or {})


def run(
    client,
    control: str,
    conf: dict | None = None,
    pool_slots: int = POOL_SLOTS,
    timeout: float = 300.0,
    progress: bool = True,
) -> Observation:
    """Trigger `concurrency_<control>`, wait for it, and observe it."""
    started = trigger(client, control, conf, pool_slots)
    client.wait(dag_id(control), started["dag_run_id"], timeout=timeout, progress=progress)
    return observe(client, control, started["dag_run_id"], pool_slots)


def side_by_side(
    client, runs: list[tuple[str, dict]], pool_slots: int = POOL_SLOTS, timeout: float = 400.0
) -> list[Observation]:
    """Trigger several runs at once, `(control, conf)` each, wait for all, observe each.

    A control may appear more than once: two runs of `concurrency_max_active_tasks` side by side
    show that its limit holds per run. Give each run its own dates, so no two write the same
    partition.
    """
    started = [(control, trigger(client, control, conf, pool_slots)) for control, conf in runs]
    for control, run_ in started:
        client.wait(dag_id(control), run_["dag_run_id"], timeout=timeout, progress=False)
    return [observe(client, control, run_["dag_run_id"], pool_slots) for control, run_ in started]


def run_all(
    client, confs: dict[str, dict], pool_slots: int = POOL_SLOTS, timeout: float = 400.0
) -> dict[str, Observation]:
    """One run of each control's DAG (one conf each), all at once: `side_by_side`, keyed by control."""
    observed = side_by_side(client, list(confs.items()), pool_slots, timeout)
    return {seen.control: seen for seen in observed}


def runs_table(observed: list[Observation]):
    """One row per observed run (numbered within its control), then one for all of them together.

    The last row is what no single limit caps when the runs are of one DAG with a per-run limit:
    how many of their partitions ran at once in all.
    """
    import pandas as pd

    from lab.timeline import max_concurrency

    seen_count: dict[str, int] = {}
    rows = []
    for seen in observed:
        seen_count[seen.control] = seen_count.get(seen.control, 0) + 1
        rows.append({"run": f"{seen.control} #{seen_count[seen.control]}", **seen.row()})
    everything = pd.concat([seen.tis for seen in observed], ignore_index=True)
    rows.append(
        {
            "run": "all runs together",
            "observed at once": max_concurrency(everything),
            "partitions": len(everything),
        }
    )
    return pd.DataFrame(rows).drop(columns="control")


def together(client, observed: dict[str, Observation] | list[Observation]):
    """Every task instance of the observed runs (planning tasks included), with a `control` column."""
    import pandas as pd

    frames = []
    for seen in observed.values() if isinstance(observed, dict) else observed:
        tis = client.task_instances(dag_id(seen.control), seen.run["dag_run_id"])
        frames.append(tis.assign(control=seen.control))
    return pd.concat(frames, ignore_index=True)
