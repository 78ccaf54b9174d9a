"""The benchmarked strategies: one `Strategy` entry each, next to its DAG file in dags/bench/.

A new strategy is its DAG file plus one entry in `STRATEGIES`: the runner reads the entry's
fields (how it is started, what conf it takes, how its task instances are labelled, how slow
its first run and its trials may be) and never asks for a strategy by name. The names below
the entries are roles: the yardsticks every speedup is measured against, and the lab's claim.

Kept free of heavy imports: the DAG files import it at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Launch(Enum):
    """How the runner starts a strategy's work on N partitions."""

    TRIGGER = "trigger"  # one manual run; its conf names the range (start_date, end_date)
    BACKFILL = "backfill"  # one run per partition, created by one backfill with max_active_runs = P

    def runs_for(self, partitions: int) -> int:
        """How many DAG runs a trial of `partitions` partitions creates."""
        return 1 if self is Launch.TRIGGER else partitions


@dataclass(frozen=True)
class Strategy:
    name: str
    dag_id: str
    launch: Launch
    summary: str
    # Benchmark parameters (BenchConfig fields) its DAG takes as Params besides the work and the range.
    extra_conf: tuple[str, ...] = ()
    # The prefix of its mapped task's map_index_template ("Partition: "), stripped from the
    # labels of the timeline; None when nothing is mapped.
    label_prefix: str | None = None
    # A one-time cost on its first run (a virtualenv to build): run once, untimed, before the trials.
    slow_setup: bool = False
    # Its trials may take this many times longer than a plain task's before the runner gives up.
    timeout_factor: float = 1.0

    @property
    def table(self) -> str:
        """The lake table this strategy writes: each its own, so outputs are verified apart."""
        return f"bench_{self.name}"


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            "sequential_loop",
            "bench_sequential_loop",
            Launch.TRIGGER,
            "one task loops over all partitions (the anti-pattern)",
        ),
        Strategy(
            "catchup_backfill",
            "bench_catchup_backfill",
            Launch.BACKFILL,
            "a @daily DAG, one run per partition, backfilled with max_active_runs = P",
        ),
        Strategy(
            "dynamic_mapping",
            "bench_dynamic_mapping",
            Launch.TRIGGER,
            "one run, one mapped task instance per partition",
            label_prefix="Partition: ",
        ),
        Strategy(
            "chunked_mapping",
            "bench_chunked_mapping",
            Launch.TRIGGER,
            "one run, one mapped task instance per chunk of chunk_size partitions",
            extra_conf=("chunk_size",),
            label_prefix="Chunk: ",
        ),
        Strategy(
            "partitioned_runs",
            "bench_partitioned_runs",
            Launch.BACKFILL,
            "CronPartitionTimetable: one run per partition_key, backfilled with max_active_runs = P",
        ),
        Strategy(
            "mapping_virtualenv_cached",
            "bench_mapping_virtualenv_cached",
            Launch.TRIGGER,
            "dynamic mapping with @task.virtualenv and venv_cache_path",
            label_prefix="Partition: ",
            slow_setup=True,
            timeout_factor=4,
        ),
        Strategy(
            "mapping_virtualenv_uncached",
            "bench_mapping_virtualenv_uncached",
            Launch.TRIGGER,
            "dynamic mapping with @task.virtualenv, a new virtualenv per task",
            label_prefix="Partition: ",
            slow_setup=True,
            timeout_factor=4,
        ),
    )
}

BASELINE = "sequential_loop"  # every speedup is over the anti-pattern, and the sweep's baseline
BACKFILL_BASELINE = "catchup_backfill"  # the classic Airflow answer: the second yardstick
HEADLINE = "dynamic_mapping"  # the lab's claim; one mapped instance per partition
