"""What the benchmark measures before its trials: the machine, the software, the local Airflow's
capacity, and t_partition (one partition's work in-process, without Airflow).

Each trial's numbers are only comparable with the machine and versions they ran on, so the
results record both (`results.json`).
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import replace
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

from lab import airflow_local, lake
from lab.bench.workload import WINDOW_START
from lab.config import settings

INPROCESS_TABLE = "bench_inprocess"


def machine_info() -> dict:
    import psutil

    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def software_versions() -> dict:
    found = {"python": platform.python_version()}
    for package in ("apache-airflow", "apache-airflow-providers-standard", "duckdb", "pandas", "papermill"):
        found[package] = version(package)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=settings().repo_root, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain")
        found["lab_commit"] = commit + ("+changes" if dirty else "") if commit else None
    except (OSError, subprocess.SubprocessError):
        found["lab_commit"] = None
    return found


def airflow_parallelism(cfg=None) -> int | None:
    """[core] parallelism of the running managed Airflow, read from its scheduler's environment."""
    import psutil

    cfg = cfg or settings()
    inst = airflow_local.Instance.load(cfg.airflow_home)
    pid = inst.pids.get("scheduler") if inst else None
    if not pid:
        return None
    try:
        value = psutil.Process(pid).environ().get("AIRFLOW__CORE__PARALLELISM")
    except psutil.Error:
        return None
    return int(value) if value and value.isdigit() else None


# A LocalExecutor worker stays busy after its task has ended until the task's supervisor notices
# the process exit, which can take up to [workers] min_heartbeat_interval (5 s). With only P
# workers that wait becomes a second, hidden cap (the next wave starts only as workers free up);
# 2 x P workers absorb it while the pool still lets at most P tasks run.
EXECUTOR_HEADROOM = 2


def ensure_capacity(needed: int, quiet: bool = False) -> int:
    """Make sure the local Airflow runs with [core] parallelism >= `needed` (headroom x the largest P).

    The cap P of each trial is the pool; [core] parallelism must not be a second, lower cap
    (see EXECUTOR_HEADROOM). A managed Airflow started with less is restarted with
    LAB_PARALLELISM = needed; an external one (LAB_AIRFLOW_URL) is trusted.
    Returns the parallelism Airflow runs with (or `needed` when it cannot be read).
    """
    cfg = settings()
    if not cfg.is_managed:
        return needed
    current = airflow_parallelism(cfg)
    if current is not None and current >= needed and airflow_local.status(cfg)["healthy"]:
        return current
    target = max(needed, cfg.parallelism)
    if current is not None:
        if not quiet:
            print(
                f"Restarting the local Airflow with [core] parallelism = {target} (it ran with {current})",
                flush=True,
            )
        airflow_local.down(cfg, quiet=True)
    airflow_local.up(replace(cfg, parallelism=target), quiet=True, timeout=300)
    return airflow_parallelism(cfg) or target


def measure_partition(events_per_partition: int, latency_s: float, samples: int = 3) -> list[float]:
    """Seconds to write one partition in this process, no Airflow: the unit of the wave bound.

    The same call the tasks make, into a scratch table of the same lake (same disk), first
    call excluded (imports and DuckDB start-up are a one-time cost, not per partition).
    """
    lake.delete_table(INPROCESS_TABLE)
    try:
        lake.write_partition(WINDOW_START, events_per_partition, table=INPROCESS_TABLE, latency_s=0)
        times = []
        for i in range(samples):
            started = time.perf_counter()
            lake.write_partition(
                WINDOW_START + timedelta(days=i),
                events_per_partition,
                table=INPROCESS_TABLE,
                latency_s=latency_s,
            )
            times.append(round(time.perf_counter() - started, 4))
        return times
    finally:
        lake.delete_table(INPROCESS_TABLE)
