"""What every benchmark DAG shares: their Params, their pool, their date window, their report.

Kept free of heavy imports: the DAG files import it at parse time. The strategies are
`lab.bench.strategies`. The work itself is not here: each DAG calls `lab.lake.write_partition`
(the lab's one partition writer) directly, so its file shows exactly what a task does.

The concurrency cap P is the pool `lab_bench`: every task of every benchmark DAG runs in it,
and the runner sets its slots to P before each trial (a pool's size can change at runtime,
while `max_active_tis_per_dagrun` is fixed when the DAG file is parsed). To trigger a
benchmark DAG by hand, create the pool first (Admin > Pools, or `lab airflow pools set
lab_bench 8 benchmark`): without it the scheduler never starts the tasks.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from lab.partitions import MAX_LATENCY_S, MIN_EVENTS_PER_PARTITION

POOL = "lab_bench"
# Backfilled DAGs are pinned to this window: no scheduled run ever happens by itself (the
# window is in the past), and every benchmark partition must fall inside it. It holds 1034
# days: room for one mapped task's limit of 1024 partitions ([core] max_map_length).
WINDOW_START = date(2024, 1, 1)
WINDOW_END = date(2026, 10, 30)
# The same window as the scheduled DAGs' start_date / end_date (midnight UTC).
WINDOW_START_AT = datetime.combine(WINDOW_START, datetime.min.time(), tzinfo=UTC)
WINDOW_END_AT = datetime.combine(WINDOW_END, datetime.min.time(), tzinfo=UTC)


def work_params(**extra) -> dict:
    """Params every benchmark DAG takes: the work per partition (events written, simulated wait)."""
    from airflow.sdk import Param

    return {
        "events_per_partition": Param(
            1000,
            type="integer",
            minimum=MIN_EVENTS_PER_PARTITION,
            description="Events (rows) written per partition",
        ),
        "latency_s": Param(
            0.0,
            type="number",
            minimum=0,
            maximum=MAX_LATENCY_S,
            description="Seconds each partition waits, standing for a remote warehouse (a plain sleep)",
        ),
        **extra,
    }


def range_params(**extra) -> dict:
    """Params of the triggered strategies: the partitions too (backfilled ones get them from the run)."""
    from airflow.sdk import Param

    return work_params(
        start_date=Param(
            WINDOW_START.isoformat(), type="string", format="date", description="First partition"
        ),
        end_date=Param(
            (WINDOW_START + timedelta(days=3)).isoformat(),
            type="string",
            format="date",
            description="Last partition",
        ),
        **extra,
    )


def partition_dates(params: dict) -> list[str]:
    """The partitions a triggered benchmark run processes: start_date..end_date, validated."""
    from lab.partitions import date_range

    return date_range(params["start_date"], params["end_date"])


def chunks(days: list[str], size: int) -> list[list[str]]:
    """Consecutive batches of `size` partitions (the last one may be shorter)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"chunk_size must be a whole number of at least 1, got {size!r}")
    return [days[i : i + size] for i in range(0, len(days), size)]


def write_days(days: list[str], params: dict, table: str, entered_at: float) -> dict:
    """What every in-process benchmark task does: write each day's partition of `table` with the
    trial's work (`params`), then return its report. `lab.lake` is imported here, inside the task's
    clock, as a task's own imports are (not by the DAG file, which every task process parses)."""
    from lab.lake import write_partition

    written = [
        write_partition(day, params["events_per_partition"], table=table, latency_s=params["latency_s"])
        for day in days
    ]
    return report(written, entered_at)


def report(written: list[dict], entered_at: float | None = None) -> dict:
    """What a benchmark task returns (its XCom): partitions, events written, seconds spent inside
    write_partition, and when (epoch seconds) its process was created, the task function was
    entered (`entered_at`, taken by its first line) and left (now). The runner reads it to split
    a task's duration into Airflow's start-up, the function, and Airflow's finish
    (`lab.bench.overhead`)."""
    return {
        "partitions": [w["event_date"] for w in written],
        "events": sum(w["rows"] for w in written),
        "work_s": round(sum(w["seconds"] for w in written), 4),
        "process_started_at": process_started_at(),
        "entered_at": entered_at,
        "exited_at": time.time(),
    }


def process_started_at() -> float | None:
    """When this process was created (forked), in epoch seconds, to about 10 ms; None off Linux.

    From /proc rather than psutil: the virtualenv task has no psutil, and psutil's boot time is
    rounded to whole seconds.
    """
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started_ticks = int(after_name[19])  # field 22, `starttime`, in clock ticks after boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return round(time.time() - uptime + started_ticks / os.sysconf("SC_CLK_TCK"), 3)
    except (OSError, ValueError, IndexError):
        return None
