"""CPU seconds a trial cost, per part of the local Airflow, read with psutil before and after it
(and `idle_usage`: CPU and memory of an idle Airflow, for `lab.bench.tuning` and `lab.bench.startup`).

    probe = CpuProbe.for_home(cfg.airflow_home)   # None when no managed Airflow runs there
    before = probe.snapshot()
    ...                                           # the trial
    used = probe.used(before, probe.snapshot())   # {"scheduler": 1.2, "tasks": 30.5, ...}

Every component of `lab up` leads its own session (`lab.airflow_local.Instance.pids`), so a
process's session id says whose it is. The scheduler's session holds three kinds of work,
told apart by who did it:

    scheduler   the scheduler's own process: its loop (expanding maps, queueing, bookkeeping)
    executor    the LocalExecutor's workers: each runs the supervisor of the task it was given
    tasks       the task processes themselves: each is forked by a worker's supervisor and
                reaped by it when it exits, so its CPU lands in that worker's children counters

The other sessions count whole (process and reaped children): api-server (the REST and
Execution API), dag-processor (with its parsing processes), triggerer. `runner` is this
process (the client that triggers, polls and verifies) and `machine` every core of the host,
other users included: it tells a shared machine's noise from the lab's own use. AIRFLOW_PARTS
is what a trial needs from the machine: the CPU bound (lab.bench.metrics) is their sum / cores.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from lab import airflow_local, footprint

AIRFLOW_PARTS = ("scheduler", "executor", "tasks", "api-server", "dag-processor", "triggerer")
PARTS = (*AIRFLOW_PARTS, "other", "runner", "machine")


def cores() -> int:
    """The cores this process may run on (what the tasks and Airflow share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _own(t) -> float:
    return t.user + t.system


def _children(t) -> float:
    return t.children_user + t.children_system


def _machine_busy() -> float:
    t = psutil.cpu_times()  # guest time is inside user; steal was not ours to use
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


@dataclass
class CpuProbe:
    home: Path

    @classmethod
    def for_home(cls, home: Path) -> CpuProbe | None:
        """A probe for the managed Airflow of `home`, or None when none is recorded there."""
        inst = airflow_local.Instance.load(home)
        return cls(home) if inst and inst.pids else None

    def snapshot(self) -> dict[str, dict[int, float]]:
        """Per part, CPU seconds so far per pid (the machine's under pid 0)."""
        inst = airflow_local.Instance.load(self.home)
        session_of = {pid: name for name, pid in (inst.pids if inst else {}).items()}
        scheduler = (inst.pids if inst else {}).get("scheduler")
        parts: dict[str, dict[int, float]] = {name: {} for name in PARTS}
        for proc in airflow_local.lab_processes(self.home):
            try:
                t, sid = proc.cpu_times(), os.getsid(proc.pid)
            except (psutil.Error, OSError):
                continue
            name = session_of.get(sid, "other")
            if name != "scheduler":
                parts[name][proc.pid] = _own(t) + _children(t)
            elif proc.pid == scheduler:
                parts["scheduler"][proc.pid] = _own(t)
                parts["executor"][-proc.pid] = _children(t)  # workers that exited and were reaped
            else:
                parts["executor"][proc.pid] = _own(t)
                parts["tasks"][proc.pid] = _children(t)
        me = psutil.Process().cpu_times()
        parts["runner"][os.getpid()] = _own(me) + _children(me)
        parts["machine"][0] = _machine_busy()
        return parts

    @staticmethod
    def used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
        """CPU seconds per part between two snapshots (a process born in between counts whole;
        one gone in between is lost unless its parent reaped it)."""
        return {
            name: round(
                sum(max(0.0, v - before.get(name, {}).get(pid, 0.0)) for pid, v in after[name].items()), 3
            )
            for name in after
        }


def airflow_cpu_s(used: dict[str, float]) -> float:
    """What the tasks and Airflow's components used: the numerator of the CPU bound."""
    return round(sum(used.get(name, 0.0) for name in AIRFLOW_PARTS), 3)


def idle_usage(home: Path, window_s: float) -> dict:
    """CPU (% of one core, per component and in all) over `window_s` and PSS of an idle Airflow."""
    inst = airflow_local.Instance.load(home)
    component = {pid: name for name, pid in (inst.pids if inst else {}).items()}

    def by_component() -> dict[str, dict[int, float]]:
        groups: dict[str, dict[int, float]] = {}
        for pid, used in footprint.cpu_seconds(airflow_local.lab_processes(home)).items():
            try:
                name = component.get(os.getsid(pid), "other")
            except OSError:
                continue
            groups.setdefault(name, {})[pid] = used
        return groups

    before, started = by_component(), time.monotonic()
    time.sleep(window_s)
    after, elapsed = by_component(), time.monotonic() - started
    usage = {
        f"cpu_{name}_pct": round(100 * footprint.cpu_used_between(before.get(name, {}), used) / elapsed, 1)
        for name, used in after.items()
    }
    usage["cpu_pct"] = round(sum(usage.values()), 1)
    procs = airflow_local.lab_processes(home)
    usage["pss_mib"] = round(airflow_local.memory_pss(procs) / 2**20, 1)
    for name in after:  # each component with its children (the scheduler's executor workers, say)
        mine = [p for p in procs if p.pid in after[name]]
        usage[f"pss_{name}_mib"] = round(airflow_local.memory_pss(mine) / 2**20, 1)
    return usage
