"""The demo DAG on the session's real Airflow: mapped runs, labels, the Parquet it writes."""

import re
from datetime import datetime, timedelta

import pytest

from lab import lake
from lab.client import AirflowError
from lab.config import settings
from lab.partitions import Partition
from lab.venv import VENV_DUCKDB
from tests.helpers import mapped_instances

pytestmark = pytest.mark.airflow
DAG_ID = "dynamic_task_mapping_demo"
THREE_DAYS = {
    "mode": "range",
    "start_date": "2024-01-01",
    "end_date": "2024-01-03",
    "events_per_partition": 120,
}
EXPECTED = ["event_date=2024-01-01", "event_date=2024-01-02", "event_date=2024-01-03"]


def mapped(airflow, run_id):
    return mapped_instances(airflow, DAG_ID, run_id, "process_partition")


def test_range_maps_one_instance_per_date(airflow):
    run = airflow.trigger_and_wait(DAG_ID, THREE_DAYS, timeout=300, progress=False)
    assert run["state"] == "success"
    tis = mapped(airflow, run["dag_run_id"])
    assert tis.map_index.tolist() == [0, 1, 2]
    assert tis.state.tolist() == ["success"] * 3
    assert tis.rendered_map_index.tolist() == [
        "Partition: 2024-01-01",
        "Partition: 2024-01-02",
        "Partition: 2024-01-03",
    ]
    assert sorted(lake.partition_files()) == EXPECTED
    assert lake.validate(EXPECTED, 120) == {
        "missing": [],
        "wrong_counts": {},
        "several_files": {},
        "ok": True,
    }


def test_each_partition_is_written_by_the_writer_inside_the_cached_venv(airflow):
    run = airflow.trigger_and_wait(DAG_ID, THREE_DAYS, timeout=300, progress=False)
    assert run["state"] == "success"
    for i, day in enumerate(["2024-01-01", "2024-01-02", "2024-01-03"]):
        written = airflow.xcom(DAG_ID, run["dag_run_id"], "process_partition", map_index=i)
        assert written["duckdb"] == VENV_DUCKDB  # not the host's release
        assert written["python"].startswith(str(settings().airflow_home / "venv-cache" / "venv-"))
        # the statement that ran is the one the lab renders for that partition
        staging = re.escape(str(lake.table_dir("events").parent / lake.STAGING / "events"))
        ran = re.sub(
            rf"TO '{staging}/\d+-[0-9a-f]{{32}}/out'",
            "TO '<lake>/.staging/events/<pid>-<uuid>/out'",
            written["sql"],
        )
        assert ran == lake.copy_statement(Partition(day), 120)


def test_rerun_of_the_same_range_keeps_counts_and_files(airflow):
    airflow.trigger_and_wait(DAG_ID, THREE_DAYS, timeout=300, progress=False)
    before = lake.checksums()
    run = airflow.trigger_and_wait(DAG_ID, THREE_DAYS, timeout=300, progress=False)
    assert run["state"] == "success"
    assert lake.checksums() == before  # same partitions, same bytes, no second file
    assert lake.validate(EXPECTED, 120)["ok"]


def test_daily_mode_processes_the_day_before_run_after(airflow):
    run = airflow.trigger_and_wait(
        DAG_ID, {"mode": "daily", "events_per_partition": 7}, timeout=300, progress=False
    )
    assert run["state"] == "success"
    assert run["logical_date"] is None  # a manual run on Airflow 3 has no logical date
    day = (
        (datetime.fromisoformat(run["run_after"].replace("Z", "+00:00")) - timedelta(days=1))
        .date()
        .isoformat()
    )
    tis = mapped(airflow, run["dag_run_id"])
    assert tis.rendered_map_index.tolist() == [f"Partition: {day}"]
    assert lake.validate([Partition(day)], 7)["ok"]


def test_reversed_range_fails_before_writing(airflow):
    before = lake.checksums()
    run = airflow.trigger_and_wait(
        DAG_ID,
        {**THREE_DAYS, "start_date": "2024-02-10", "end_date": "2024-02-01"},
        timeout=300,
        progress=False,
    )
    assert run["state"] == "failed"
    tis = airflow.task_instances(DAG_ID, run["dag_run_id"]).set_index("task_id")
    assert tis.loc["get_date_range", "state"] == "failed"
    assert tis.loc["process_partition", "state"] == "upstream_failed"
    assert airflow.task_error(DAG_ID, run["dag_run_id"], "get_date_range") == (
        "PartitionError: end_date 2024-02-01 is before start_date 2024-02-10: swap them"
    )
    assert lake.checksums() == before


def test_params_schema_refuses_bad_values_at_trigger_time(airflow):
    with pytest.raises(AirflowError, match="400"):
        airflow.trigger(DAG_ID, {**THREE_DAYS, "events_per_partition": 0})
    with pytest.raises(AirflowError, match="400"):
        airflow.trigger(DAG_ID, {**THREE_DAYS, "mode": "weekly"})
    for mode in ("custom", "country_reload"):  # the old name of range; a mode that needs countries
        with pytest.raises(AirflowError, match="400") as refused:
            airflow.trigger(DAG_ID, {**THREE_DAYS, "mode": mode})
        assert f"Invalid input for param mode: '{mode}' is not one of ['daily', 'range']" in str(
            refused.value
        )
