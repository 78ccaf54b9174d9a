"""Exercise 3: a pool for the writers, checked by parsing the participant's DAG file with DagBag."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lab.exercises.dagfile import inspect_dag_file
from lab.exercises.verdict import Checks, Result

POOL_NAME = "lake_writers"
POOL_DAG_ID = "exercise_pool"
POOL_TASK_ID = "write"


def check_pool_dag(path: str | Path) -> Result:
    """The DAG file at `path` defines `exercise_pool`, whose mapped task `write` runs in the `lake_writers` pool."""
    checks = Checks(
        "Exercise 3 (a pool for the writers)",
        hint=f'give the mapped task `pool="{POOL_NAME}"` in its @task(...) arguments; '
        "a pool caps the running instances of every task and every run that uses it.",
    )
    try:
        parsed = inspect_dag_file(path)
    except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        checks.expect(False, f"could not parse the DAG file: {exc}")
        return checks.result()
    if parsed["import_errors"]:
        error = next(iter(parsed["import_errors"].values())).strip().splitlines()[-1]
        checks.expect(False, f"the DAG file does not import (Airflow would list it as broken): {error}")
        return checks.result()
    tasks = parsed["dags"].get(POOL_DAG_ID)
    if not checks.expect(
        tasks is not None, f"no DAG with dag_id {POOL_DAG_ID!r} in the file (found {sorted(parsed['dags'])})"
    ):
        return checks.result()
    write = tasks.get(POOL_TASK_ID)
    if not checks.expect(
        write is not None, f"no task {POOL_TASK_ID!r} in {POOL_DAG_ID} (found {sorted(tasks)})"
    ):
        return checks.result()
    checks.expect(
        write["mapped"], f"task {POOL_TASK_ID!r} is no longer mapped: keep `.expand(event_date=...)`"
    )
    checks.expect(
        write["pool"] == POOL_NAME,
        f"task {POOL_TASK_ID!r} runs in pool {write['pool']!r}, expected {POOL_NAME!r}",
    )
    checks.expect(
        write["pool_slots"] == 1,
        f"each partition should take 1 slot of the pool, got pool_slots={write['pool_slots']}",
    )
    others = {tid: t["pool"] for tid, t in tasks.items() if tid != POOL_TASK_ID and t["pool"] == POOL_NAME}
    checks.expect(
        not others, f"only the writer belongs in {POOL_NAME!r}; {sorted(others)} would take its slots too"
    )
    return checks.result()
