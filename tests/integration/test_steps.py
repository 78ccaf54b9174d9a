"""Lesson DAGs on the session's real Airflow: what notebook 01 and 02 do not already check.

Notebooks 01-03 run every step DAG and one anti-pattern under nbval (states, map indexes, labels,
row counts). These tests add what the lessons claim without showing: the loop's partitions never
overlap, a bad range fails the loop before anything is written, and an empty map writes nothing.
Dates are chosen away from the notebooks' own partitions, so their checked outputs stay valid.
"""

import pandas as pd
import pytest

from lab import lake
from lab.timeline import max_concurrency

pytestmark = pytest.mark.airflow
RANGE_RELOAD = "antipattern_date_range_reload"


def test_the_range_reload_is_one_task_whose_partitions_run_one_after_the_other(airflow):
    conf = {
        "start_date": "2023-06-01",
        "end_date": "2023-06-04",
        "events_per_partition": 30,
        "latency_s": 0.2,
    }
    run = airflow.trigger_and_wait(RANGE_RELOAD, conf, timeout=300, progress=False)
    assert run["state"] == "success"
    tis = airflow.task_instances(RANGE_RELOAD, run["dag_run_id"])
    assert tis[["task_id", "map_index", "state"]].values.tolist() == [["reload_date_range", -1, "success"]]

    parts = pd.DataFrame(airflow.xcom(RANGE_RELOAD, run["dag_run_id"], "reload_date_range"))
    parts["start_date"] = pd.to_datetime(parts["start"], utc=True, format="ISO8601")
    parts["end_date"] = pd.to_datetime(parts["end"], utc=True, format="ISO8601")
    expected = [f"event_date=2023-06-0{d}" for d in range(1, 5)]
    assert parts["partition"].tolist() == expected
    assert max_concurrency(parts) == 1
    assert (parts["start_date"].iloc[1:].to_numpy() >= parts["end_date"].iloc[:-1].to_numpy()).all()
    # every partition ran inside the one task instance
    assert (
        parts["start_date"].min() >= tis["start_date"].iloc[0]
        and parts["end_date"].max() <= tis["end_date"].iloc[0]
    )
    assert lake.validate(expected, 30, table="antipattern_events")["ok"]


def test_a_reversed_range_fails_the_loop_before_anything_is_written(airflow):
    before = lake.checksums("antipattern_events")
    conf = {"start_date": "2023-07-09", "end_date": "2023-07-01", "events_per_partition": 30}
    run = airflow.trigger_and_wait(RANGE_RELOAD, conf, timeout=300, progress=False)
    assert run["state"] == "failed"
    assert airflow.task_error(RANGE_RELOAD, run["dag_run_id"], "reload_date_range") == (
        "PartitionError: end_date 2023-07-01 is before start_date 2023-07-09: swap them"
    )
    assert lake.checksums("antipattern_events") == before


def test_an_empty_map_is_skipped_writes_nothing_and_the_run_succeeds(airflow):
    run = airflow.trigger_and_wait("step_06_empty_input", timeout=300, progress=False)
    assert run["state"] == "success"
    tis = airflow.task_instances("step_06_empty_input", run["dag_run_id"]).set_index("task_id")
    assert tis.loc["process_partition", "state"] == "skipped"
    assert tis.loc["process_partition", "map_index"] == -1
    assert tis.loc["report", "state"] == "success"
    assert not lake.has_data("step_06")


def test_step_09_venv_sees_only_its_own_packages_and_no_inherited_environment(airflow):
    from lab.config import settings
    from lab.venv import VENV_DUCKDB

    run = airflow.trigger_and_wait("step_09_virtualenv", timeout=600, progress=False)
    assert run["state"] == "success"
    isolated = airflow.xcom("step_09_virtualenv", run["dag_run_id"], "inspect_venv")
    inherited = airflow.xcom("step_09_virtualenv", run["dag_run_id"], "inspect_venv_inherit_env")
    venv = str(settings().airflow_home / "venv-cache" / "venv-")  # the session Airflow's home
    assert isolated["sys.prefix"].startswith(venv) and inherited["sys.prefix"] == isolated["sys.prefix"]
    assert isolated["duckdb"] == inherited["duckdb"] == VENV_DUCKDB
    assert isolated["can import airflow"] is inherited["can import airflow"] is False
    # Airflow only adds the DAG folder; inheriting the worker's environment brings the repository in.
    assert isolated["PYTHONPATH"] == str(settings().dags_dir) and isolated["AIRFLOW_HOME"] is None
    assert isolated["can import lab"] is False and inherited["can import lab"] is True
    assert lake.partition_counts("step_09")["rows"].tolist() == [100, 100]
