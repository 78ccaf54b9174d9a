"""Parse a participant's DAG file the way Airflow's dag-processor does, without a running Airflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from lab.config import REPO_ROOT

_INSPECT = r"""
import json, sys, warnings
from airflow.dag_processing.dagbag import DagBag
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    bag = DagBag(dag_folder=sys.argv[1])
def seconds(value):
    return value.total_seconds() if hasattr(value, "total_seconds") else value
out = {"import_errors": {k: str(v)[-1500:] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        t.task_id: {
            "mapped": type(t).__name__.endswith("MappedOperator"),
            "pool": t.pool,
            "pool_slots": t.pool_slots,
            "max_active_tis_per_dagrun": t.max_active_tis_per_dagrun,
            "retries": t.retries,
            "retry_delay_s": seconds(t.retry_delay),
            "downstream": sorted(t.downstream_task_ids),
        }
        for t in dag.tasks
    }
with open(sys.argv[2], "w") as handle:
    json.dump(out, handle)
"""


def inspect_dag_file(path: str | Path, timeout: float = 180.0) -> dict:
    """Parse one DAG file the way the dag-processor does (DagBag), in a separate Python process.

    Returns {"import_errors": {file: error}, "dags": {dag_id: {task_id: {mapped, pool, retries, ...}}}}.
    A throw-away AIRFLOW_HOME keeps the parse away from the lab's running Airflow.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no DAG file at {path.name}: run the cell that writes it first")
    with tempfile.TemporaryDirectory(prefix="lab-exercise-") as tmp:
        env = {
            **os.environ,
            "AIRFLOW_HOME": tmp,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
        }
        out = Path(tmp) / "dag.json"
        proc = subprocess.run(
            [sys.executable, "-c", _INSPECT, str(path), str(out)],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"parsing the DAG file failed:\n{(proc.stderr or proc.stdout)[-1500:]}")
        return json.loads(out.read_text())
