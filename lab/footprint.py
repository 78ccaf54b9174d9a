"""What a set of processes costs in CPU: seconds used, and % of a core over a window (PSS: airflow_local).

CPU is counted with what each process's reaped children used (`children_user/system`):
Airflow forks short-lived processes (a task, a DAG file parse) and reaps them, so their CPU
shows up in their parent's counters even though they are gone when we look.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds per pid so far, the process's own plus its reaped children's."""
    used = {}
    for proc in procs:
        try:
            t = proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        used[proc.pid] = t.user + t.system + t.children_user + t.children_system
    return used


def cpu_used_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two `cpu_seconds` snapshots; a process born in between counts whole."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def cpu_percent(find: Callable[[], list[psutil.Process]], window_s: float) -> float:
    """Average CPU use over `window_s` seconds, in % of one core, of the processes `find()` returns."""
    if window_s <= 0:
        raise ValueError(f"the window must be a positive number of seconds, got {window_s}")
    before = cpu_seconds(find())
    started = time.monotonic()
    time.sleep(window_s)
    after = cpu_seconds(find())
    return round(100 * cpu_used_between(before, after) / (time.monotonic() - started), 1)
