"""The partition-status matrix on the session's real Airflow: real runs, then the lake made to disagree.

Each scenario runs a DAG on a few partitions of its own dates (used by no other test), then
deletes one partition's files and writes others directly with lab.lake.write_partition, and
checks the verdict of every partition against what was done to it.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from lab import lake
from lab.partitions import COUNTRY_TABLE
from lab.reconcile import partition_status, status_grid

pytestmark = pytest.mark.airflow


def by_partition(status, *columns) -> dict:
    """partition -> the values of `columns`; a missing value (no attempt) is None."""
    keys = ["event_date", "country"] if "country" in status else ["event_date"]
    return {
        tuple(row[k] for k in keys) if len(keys) > 1 else row[keys[0]]: tuple(
            None if pd.isna(row[c]) else row[c] for c in columns
        )
        for _, row in status.iterrows()
    }


def test_partitioned_events_matrix_flags_every_disagreement(airflow):
    lake.write_partition(
        "2022-02-02", 7, "FR", table=COUNTRY_TABLE
    )  # an older file the run will fail to replace
    run = airflow.trigger_and_wait(
        "partitioned_events",
        {
            "mode": "range",
            "start_date": "2022-02-01",
            "end_date": "2022-02-02",
            "countries": ["DE", "FR"],
            "events_per_partition": 30,
            "fail_partitions": ["2022-02-02/FR"],
            "fail_tries": 2,  # both tries fail: the latest attempt stays failed
        },
        timeout=300,
        progress=False,
    )
    assert run["state"] == "failed"
    shutil.rmtree(lake.partition_dir("2022-02-01", "DE", COUNTRY_TABLE))  # lost after its run succeeded
    lake.write_partition("2022-02-01", 5, "FR", table=COUNTRY_TABLE)  # rewritten by hand after the run
    lake.write_partition("2022-02-03", 9, "DE", table=COUNTRY_TABLE)  # no run ever wrote it

    status = partition_status("partitioned_events", "2022-02-01", "2022-02-03", ["DE", "FR"], client=airflow)

    assert by_partition(status, "state", "tries", "files", "rows", "verdict", "flagged") == {
        ("2022-02-01", "DE"): ("success", 1, 0, 0, "success, no files", True),
        ("2022-02-01", "FR"): ("success", 1, 1, 5, "files newer than the run", True),
        ("2022-02-02", "DE"): ("success", 1, 1, 30, "ok", False),
        ("2022-02-02", "FR"): ("failed", 2, 1, 7, "failed, older files", True),
        ("2022-02-03", "DE"): (None, 0, 1, 9, "files, no successful run", True),
        ("2022-02-03", "FR"): (None, 0, 0, 0, "not loaded", False),
    }
    assert set(status.loc[status["state"].notna(), "run_id"]) == {run["dag_run_id"]}
    assert status_grid(status).loc["2022-02-02"].tolist() == ["ok, 30 rows", "failed, older files"]

    # The latest attempt decides: a cleared instance that has not run again yet is in progress
    # (the DAG is paused, so it waits), and once it has run, the partition is ok again.
    with airflow.paused("partitioned_events"):
        tis = airflow.task_instances("partitioned_events", run["dag_run_id"], task_id="write_partition")
        index = int(tis[tis["rendered_map_index"] == "2022-02-01 / DE"]["map_index"].iloc[0])
        airflow.clear("partitioned_events", run["dag_run_id"], "write_partition", [index])
        again = partition_status("partitioned_events", "2022-02-01", "2022-02-01", ["DE"], client=airflow)
        assert again["verdict"].tolist() == ["in progress"]
    airflow.wait("partitioned_events", run["dag_run_id"], timeout=300, progress=False)
    healed = partition_status("partitioned_events", "2022-02-01", "2022-02-01", ["DE"], client=airflow)
    assert by_partition(healed, "state", "files", "rows", "verdict") == {
        ("2022-02-01", "DE"): ("success", 1, 30, "ok")
    }


def test_demo_matrix_is_one_row_per_date(airflow):
    run = airflow.trigger_and_wait(
        "dynamic_task_mapping_demo",
        {"mode": "range", "start_date": "2022-03-01", "end_date": "2022-03-02", "events_per_partition": 20},
        timeout=300,
        progress=False,
    )
    assert run["state"] == "success"
    shutil.rmtree(lake.partition_dir("2022-03-02"))
    lake.write_partition("2022-03-03", 4)

    status = partition_status("dynamic_task_mapping_demo", "2022-03-01", "2022-03-04", client=airflow)

    assert "country" not in status
    assert by_partition(status, "state", "rows", "verdict") == {
        "2022-03-01": ("success", 20, "ok"),
        "2022-03-02": ("success", 0, "success, no files"),
        "2022-03-03": (None, 4, "files, no successful run"),
        "2022-03-04": (None, 0, "not loaded"),
    }
