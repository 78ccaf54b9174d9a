"""The floors to measure orchestration against: the same no-op partitions without a scheduler.

- `inprocess_reference`: `lab.lake.write_partition` called in this process, one partition after
  another, first call excluded (`lab.bench.probes.measure_partition`, today's t_partition);
- `dag_test_reference`: the benchmark's dynamic_mapping DAG run by `dag.test()`, which runs the
  tasks one at a time inside its own process, through the in-process Execution API: Airflow's
  task machinery without scheduler, executor, fork or HTTP. Its task instances are taken apart
  by `lab.bench.overhead` like a real trial's. Run it while the lab's Airflow is stopped: it
  writes a run into the same metadata database.

    python -m lab.bench.references DAG_ID CONF_JSON   (what dag_test_reference runs, in a fresh process)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import pandas as pd

from lab import airflow_local
from lab.bench import overhead
from lab.bench.config import BenchConfig
from lab.bench.probes import measure_partition
from lab.bench.strategies import STRATEGIES
from lab.config import settings

DAG_TEST = "dag.test()"
BARE_WRITE = "in-process write_partition"  # the floor under every other: no Airflow at all


def _dag_test_main(dag_id: str, conf_json: str) -> None:
    """In a fresh process with the lab's Airflow environment: dag.test() one run, print its task instances."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag = DagBag(dag_folder=str(settings().dags_dir / "bench")).dags[dag_id]
    started = time.time()
    run = dag.test(run_conf=json.loads(conf_json), logical_date=None)
    finished = time.time()
    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run.run_id)).all()
        xcoms = session.scalars(
            select(XComModel).where(XComModel.run_id == run.run_id, XComModel.key == "return_value")
        ).all()
        values = {(x.task_id, x.map_index): XComModel.deserialize_value(x) for x in xcoms}
        rows = [
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": str(ti.state.value if hasattr(ti.state, "value") else ti.state),
                "scheduled_when": ti.scheduled_dttm.isoformat() if ti.scheduled_dttm else None,
                "start_date": ti.start_date.isoformat() if ti.start_date else None,
                "end_date": ti.end_date.isoformat() if ti.end_date else None,
                "report": values.get((ti.task_id, ti.map_index)),
            }
            for ti in tis
        ]
    print(json.dumps({"started": started, "finished": finished, "tis": rows}, default=str))


def dag_test_reference(partitions: int, cfg=None) -> dict:
    """The no-op dynamic_mapping run through dag.test() (no scheduler, no executor, no fork); Airflow must be down."""
    cfg = cfg or settings()
    days = BenchConfig(partitions=partitions).dates
    conf = {"events_per_partition": 1, "latency_s": 0.0, "start_date": days[0], "end_date": days[-1]}
    env = airflow_local.airflow_env(cfg)
    env.pop(airflow_local.MARKER)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab.bench.references",
            STRATEGIES["dynamic_mapping"].dag_id,
            json.dumps(conf),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=cfg.airflow_home,
        timeout=900,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    tis = pd.DataFrame(data["tis"])
    for column in ("scheduled_when", "start_date", "end_date"):
        tis[column] = pd.to_datetime(tis[column], utc=True, format="ISO8601")
    tis["queued_when"] = pd.NaT
    reports = [r if isinstance(r, dict) and "work_s" in r else None for r in tis.pop("report")]
    d = overhead.decompose(overhead.add_reports(tis, reports))
    mapped = d[d["task_id"] == "process_partition"]
    ran = d.dropna(subset=["start_date", "end_date"])
    span = (ran["end_date"].max() - ran["start_date"].min()).total_seconds()
    return {
        "reference": DAG_TEST,
        "partitions": partitions,
        "verified": bool((d["state"] == "success").all() and len(mapped) == partitions),
        "span_s": round(span, 3),
        "per_task_s": round(span / len(ran), 3),
        "median_duration_s": round(float(mapped["duration_s"].median()), 3),
        "median_startup_s": round(float(mapped["startup_s"].median()), 3),
        "median_function_s": round(float(mapped["function_s"].median()), 3),
        "median_finish_s": round(float(mapped["finish_s"].median()), 3),
        "call_s": round(data["finished"] - data["started"], 3),
    }


def inprocess_reference(partitions: int) -> dict:
    """The same no-op partitions written in this process, one after another (today's t_partition)."""
    samples = measure_partition(1, 0.0, samples=partitions)
    return {
        "reference": BARE_WRITE,
        "partitions": partitions,
        "verified": True,
        "span_s": round(sum(samples), 3),
        "per_task_s": round(statistics.median(samples), 4),
    }


if __name__ == "__main__":
    _dag_test_main(*sys.argv[1:3])
