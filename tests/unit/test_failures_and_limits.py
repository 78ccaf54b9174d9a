"""Write stamps, the sequential loop the lesson compares with, and the concurrency limits table."""

import subprocess
import sys

import pandas as pd
import pytest

from lab import concurrency, lake
from lab.failures import (
    KilledWriter,
    LoopFailed,
    kill_mid_write,
    rewritten,
    sequential_loop,
    staging_leftovers,
    write_stamps,
)
from lab.partitions import plan_partitions
from lab.timeline import max_concurrency

T0 = pd.Timestamp("2024-01-01T00:00:00Z")

TABLE = "events_by_country"
PLAN = plan_partitions("range", "2024-01-01", "2024-01-02", ["DE", "FR"])


def test_a_rewrite_with_identical_bytes_changes_the_stamp_not_the_checksum(tmp_path):
    lake.write_partition("2024-01-01", 20, "DE", table=TABLE, lake_dir=tmp_path)
    lake.write_partition("2024-01-01", 20, "FR", table=TABLE, lake_dir=tmp_path)
    sums, stamps = lake.checksums(TABLE, tmp_path), write_stamps(TABLE, tmp_path)
    lake.write_partition("2024-01-01", 20, "DE", table=TABLE, lake_dir=tmp_path)
    assert lake.checksums(TABLE, tmp_path) == sums  # idempotent: same bytes
    assert rewritten(stamps, write_stamps(TABLE, tmp_path)) == ["event_date=2024-01-01/country=DE"]


def test_rewritten_lists_new_partitions_too():
    assert rewritten({"a": (1,)}, {"a": (1,), "b": (2,)}) == ["b"]
    assert rewritten({"a": (1,)}, {"a": (1,)}) == []


def test_sequential_loop_stops_at_the_first_failure_and_its_retry_rewrites_everything(tmp_path):
    with pytest.raises(LoopFailed, match="stopped at 2024-01-02/DE after writing 2") as failed:
        sequential_loop(PLAN, 10, fail={"2024-01-02/DE"}, table=TABLE, lake_dir=tmp_path)
    assert failed.value.written == ["2024-01-01/DE", "2024-01-01/FR"]
    assert sorted(lake.partition_files(TABLE, tmp_path)) == [
        "event_date=2024-01-01/country=DE",
        "event_date=2024-01-01/country=FR",
    ]  # 2024-01-02/FR was never reached
    before = write_stamps(TABLE, tmp_path)
    assert len(sequential_loop(PLAN, 10, table=TABLE, lake_dir=tmp_path)) == 4  # the retry: the whole loop
    after = write_stamps(TABLE, tmp_path)
    assert rewritten(before, after) == sorted(after)  # the two good partitions were written again


def test_limits_table():
    assert [concurrency.dag_id(c) for c in concurrency.CONTROLS] == [
        "concurrency_max_active_tis_per_dagrun",
        "concurrency_max_active_tasks",
        "concurrency_pool",
        "concurrency_parallelism",
    ]
    assert concurrency.limit("max_active_tis_per_dagrun") == 2
    assert concurrency.limit("max_active_tasks") == 3
    assert concurrency.limit("pool", pool_slots=5) == 5
    assert concurrency.limit("parallelism", parallelism=4) == 4
    with pytest.raises(ValueError, match="unknown concurrency control 'workers'"):
        concurrency.limit("workers")


def test_country_grid_is_dates_by_countries(tmp_path):
    assert lake.country_grid(TABLE, tmp_path).empty
    lake.write_partition("2024-01-02", 5, "FR", table=TABLE, lake_dir=tmp_path)
    lake.write_partition("2024-01-01", 7, "DE", table=TABLE, lake_dir=tmp_path)
    grid = lake.country_grid(TABLE, tmp_path)
    assert grid.to_dict("index") == {"2024-01-01": {"DE": 7, "FR": 0}, "2024-01-02": {"DE": 0, "FR": 5}}


def test_the_daily_dag_limits_leave_room_for_the_daily_run():
    daily = concurrency.DAILY
    assert daily.max_active_runs == 1
    # a reload capped per run leaves pool slots for the daily run
    assert 1 < daily.max_active_tis_per_dagrun < daily.pool_slots


def observation(control, starts_ends):
    frame = pd.DataFrame(
        [
            {"start_date": T0 + pd.Timedelta(seconds=a), "end_date": T0 + pd.Timedelta(seconds=b)}
            for a, b in starts_ends
        ]
    )
    return concurrency.Observation(
        control=control,
        limit=concurrency.limit(control),
        observed=max_concurrency(frame),
        partitions=len(frame),
        run={"state": "success", "dag_run_id": "r"},
        tis=frame,
    )


def test_runs_table_numbers_runs_of_one_control_and_adds_their_total():
    table = concurrency.runs_table(
        [
            observation("max_active_tasks", [(0, 2), (0, 2), (0, 2)]),
            observation("max_active_tasks", [(1, 3)] * 3),
        ]
    )
    assert table["run"].tolist() == ["max_active_tasks #1", "max_active_tasks #2", "all runs together"]
    assert table["observed at once"].tolist() == [3, 3, 6]
    assert table["partitions"].tolist() == [3, 3, 6]


def test_kill_mid_write_kills_only_a_task_of_the_lab_airflow(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_AIRFLOW_HOME", str(tmp_path / "no-airflow"))  # no lab Airflow: no task is its
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        part = tmp_path / lake.STAGING / TABLE / f"{bystander.pid}-abc" / "out" / "x" / "data_0.parquet"
        part.parent.mkdir(parents=True)
        part.write_bytes(b"PAR1 half a file")
        with pytest.raises(
            RuntimeError, match=f"process {bystander.pid} .* is not a task of the lab's Airflow"
        ):
            kill_mid_write(TABLE, timeout=5, lake_dir=tmp_path)
        assert bystander.poll() is None  # still alive
        assert staging_leftovers(TABLE, tmp_path) == [f"{bystander.pid}-abc"]
        killed = KilledWriter(pid=bystander.pid, staging_dir=part.parents[2], partial_bytes=16)
        assert killed.leftovers() == ["out/x/data_0.parquet"]
    finally:
        bystander.kill()
        bystander.wait()


def test_kill_mid_write_says_what_to_do_when_nothing_writes(tmp_path):
    with pytest.raises(
        RuntimeError, match=r"no task started writing .* within 0.2 s: .*\(events_per_partition=3_000_000\)"
    ):
        kill_mid_write(TABLE, timeout=0.2, lake_dir=tmp_path)
    assert staging_leftovers(TABLE, tmp_path) == []
