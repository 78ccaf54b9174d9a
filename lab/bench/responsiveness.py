"""What a tuned Airflow must keep for participants: saved DAG files show up fast, the UI answers fast.

    from lab.bench.responsiveness import dag_file_latency, api_latency
    dag_file_latency(Airflow(), settings().dags_dir)   # seconds until Airflow shows what was saved
    api_latency(Airflow())                             # the UI's REST calls, median and max ms

`dag_file_latency` saves a new DAG file, then a broken one, then edits the first, into the
DAGs folder of the running Airflow, and times each until the REST API shows it (the DAG, its
import error, the edit); it removes its files and the probe DAG afterwards, whatever happens.
"""

from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path

from lab.client import Airflow, AirflowError

PROBE = '''"""A probe DAG written by lab.bench.responsiveness; deleted after the probe."""
from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, start_date=datetime(2024, 1, 1), tags=["{tag}"])
def probe():
    @task
    def noop():
        pass

    noop(){more}


probe()
'''


def _until(check, timeout: float, poll: float = 0.25) -> float:
    """Seconds until `check()` is true; raises TimeoutError after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not seen after {timeout:.0f} s")
        time.sleep(poll)
    return round(time.monotonic() - started, 2)


def _dag_tags(af: Airflow, dag_id: str) -> list[str] | None:
    try:
        return [t["name"] for t in af.dag(dag_id).get("tags", [])]
    except AirflowError as exc:
        if exc.status_code == 404:
            return None
        raise


def _task_ids(af: Airflow, dag_id: str) -> set[str]:
    try:
        return {t["task_id"] for t in af.request("GET", f"/dags/{dag_id}/tasks")["tasks"]}
    except AirflowError as exc:
        if exc.status_code == 404:
            return set()
        raise


def dag_file_latency(af: Airflow, dags_dir: Path, timeout: float = 120.0) -> dict[str, float]:
    """Seconds until a new DAG file, a broken one, an edited one (a tag: the DAG's row) and an
    edit of its structure (a new task, saved seconds after the first: the serialized DAG, which
    Airflow rewrites at most every `[core] min_serialized_dag_update_interval`) are visible
    through the REST API."""
    dag_id = f"lab_probe_{uuid.uuid4().hex[:8]}"
    good, broken = dags_dir / f"{dag_id}.py", dags_dir / f"{dag_id}_broken.py"
    try:
        good.write_text(PROBE.format(dag_id=dag_id, tag="first", more=""))
        new_dag = _until(lambda: _dag_tags(af, dag_id) is not None, timeout)
        # Mentions airflow and dag: the dag-processor skips files without both (dag_discovery_safe_mode).
        broken.write_text("from airflow.sdk import dag\n\nthis is not Python (\n")
        import_error = _until(lambda: any(f.endswith(broken.name) for f in af.import_errors()), timeout)
        good.write_text(PROBE.format(dag_id=dag_id, tag="edited", more=""))
        edited = _until(lambda: _dag_tags(af, dag_id) == ["edited"], timeout)
        good.write_text(
            PROBE.format(dag_id=dag_id, tag="edited", more="\n    noop.override(task_id='more')()")
        )
        restructured = _until(lambda: "more" in _task_ids(af, dag_id), timeout)
        return {
            "new_dag_file_s": new_dag,
            "import_error_s": import_error,
            "edited_dag_file_s": edited,
            "new_task_s": restructured,
        }
    finally:
        good.unlink(missing_ok=True)
        broken.unlink(missing_ok=True)
        try:
            af.request("DELETE", f"/dags/{dag_id}")
        except AirflowError:
            pass  # never parsed, or already gone


def api_latency(af: Airflow, calls: int = 10) -> dict[str, float]:
    """Median and max milliseconds of what the UI's home page asks (DAG list, import errors, health)."""
    paths = ["/dags?limit=50", "/importErrors?limit=50", "/monitor/health"]
    seconds = []
    for _ in range(calls):
        for path in paths:
            started = time.perf_counter()
            af.request("GET", path)
            seconds.append(time.perf_counter() - started)
    return {
        "api_median_ms": round(1000 * statistics.median(seconds), 1),
        "api_max_ms": round(1000 * max(seconds), 1),
    }
