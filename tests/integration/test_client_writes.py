"""Many writes at once on the real SQLite-backed Airflow: each lands, or fails with a clear error.

Airflow 3.3 on SQLite takes one write at a time; concurrent requests that meet the lock are
rolled back and answered 500 "Database error" (503 for backfills). The client sends them
again (lab.transport), so 30 runs triggered at once all exist afterwards. The DAG stays paused:
the runs are only created, never run, and deleted at the end.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from lab.bench.strategies import BASELINE, STRATEGIES
from lab.client import AirflowError

pytestmark = pytest.mark.airflow

DAG_ID = STRATEGIES[BASELINE].dag_id  # any DAG would do: this one's runs take no part in other tests
RUNS = 30


def test_thirty_runs_triggered_at_once_are_all_created(airflow):
    airflow.wait_for_dag(DAG_ID, timeout=180)
    was_paused = airflow.dag(DAG_ID)["is_paused"]
    airflow.set_paused(DAG_ID, True)
    run_ids = [f"client_writes_{i:02}" for i in range(RUNS)]
    conf = {"events_per_partition": 1, "latency_s": 0}

    def trigger(run_id: str):
        try:
            return airflow.trigger(DAG_ID, conf, run_id=run_id, unpause=False)["dag_run_id"]
        except AirflowError as exc:  # a clear, final refusal is allowed; a raw traceback is not
            return exc

    try:
        with ThreadPoolExecutor(RUNS) as pool:
            outcomes = list(pool.map(trigger, run_ids))
        refused = [str(o) for o in outcomes if isinstance(o, AirflowError)]
        assert refused == [], refused
        assert outcomes == run_ids
        created = set(airflow.runs(DAG_ID)["dag_run_id"])
        assert set(run_ids) <= created
    finally:
        for run_id in set(airflow.runs(DAG_ID).get("dag_run_id", [])) & set(run_ids):
            airflow.delete_run(DAG_ID, run_id)
        airflow.set_paused(DAG_ID, was_paused)
