"""Write stamps, the sequential loop the lesson compares with, and the concurrency limits table."""

import pytest

from lab import concurrency, lake
from lab.failures import LoopFailed, rewritten, sequential_loop, write_stamps
from lab.partitions import plan_partitions

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
