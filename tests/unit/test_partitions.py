"""Date partitions (the demo DAG's modes) and the single-value checks, without Airflow."""

from datetime import UTC, date, datetime

import pytest

from lab.partitions import (
    PartitionError,
    check_country,
    check_events_per_partition,
    daily_partition,
    date_range,
    known_countries,
    parse_date,
    plan_partitions,
)


def keys(plan):
    return [p.key for p in plan]


def test_date_range_includes_both_ends():
    assert date_range("2024-01-30", "2024-02-02") == ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"]


def test_single_day_range():
    assert date_range("2024-02-29", "2024-02-29") == ["2024-02-29"]


def test_reversed_range_is_refused():
    with pytest.raises(PartitionError, match="end_date 2024-01-01 is before start_date 2024-01-03"):
        date_range("2024-01-03", "2024-01-01")


@pytest.mark.parametrize("bad", ["2024-02-30", "2023-02-29", "2024-13-01"])
def test_impossible_dates_are_refused(bad):
    with pytest.raises(PartitionError, match="not a real calendar date"):
        parse_date(bad)


@pytest.mark.parametrize("bad", ["01/02/2024", "2024-1-2", "", None, 20240101, "2024-01-01; DROP TABLE x"])
def test_malformed_dates_are_refused(bad):
    with pytest.raises(PartitionError, match="YYYY-MM-DD"):
        parse_date(bad)


def test_range_longer_than_max_map_length_is_refused():
    with pytest.raises(PartitionError, match=r"1096 partitions .* max_map_length = 1024"):
        date_range("2024-01-01", "2026-12-31")
    assert len(date_range("2024-01-01", "2026-12-31", max_partitions=2000)) == 1096


def test_daily_is_the_day_before_run_after():
    run_after = datetime(2024, 3, 1, 0, 30, tzinfo=UTC)
    assert daily_partition(run_after) == "2024-02-29"
    assert daily_partition("2024-03-01T00:30:00Z") == "2024-02-29"
    assert keys(plan_partitions("daily", None, None, run_after=run_after)) == ["2024-02-29"]
    assert plan_partitions("daily", run_after=run_after)[0].country is None  # no countries: dates alone


def test_a_bad_run_after_is_refused():
    with pytest.raises(PartitionError, match="run_after must be an ISO timestamp"):
        daily_partition("yesterday")


def test_range_mode_without_countries_is_dates_alone():
    assert keys(plan_partitions("range", "2024-01-01", "2024-01-03", run_after=date(2030, 1, 1))) == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
    ]


def test_range_mode_needs_both_dates():
    with pytest.raises(PartitionError, match="range mode needs both start_date and end_date"):
        plan_partitions("range", "2024-01-01", None, run_after=date(2030, 1, 1))


@pytest.mark.parametrize("mode", ["weekly", "custom"])
def test_unknown_mode_is_refused(mode):
    with pytest.raises(
        PartitionError, match=f"unknown mode '{mode}': choose one of daily, range, country_reload"
    ):
        plan_partitions(mode, "2024-01-01", "2024-01-02", run_after=date(2030, 1, 1))


def test_country_reload_needs_a_country():
    with pytest.raises(PartitionError, match="country_reload reloads one country: .* got none"):
        plan_partitions("country_reload", "2024-01-01", "2024-01-02")


def test_a_long_date_only_range_is_refused_with_the_plain_message():
    with pytest.raises(PartitionError, match=r"^1096 partitions is more than .* max_map_length = 1024"):
        plan_partitions("range", "2024-01-01", "2026-12-31")


@pytest.mark.parametrize("bad", [0, -5, 1.5, "10", True, None])
def test_events_per_partition_must_be_a_positive_int(bad):
    with pytest.raises(PartitionError, match="events_per_partition"):
        check_events_per_partition(bad)


def test_countries_come_from_the_reference_file():
    assert "DE" in known_countries() and len(known_countries()) == len(set(known_countries()))
    assert check_country("DE") == "DE"
    with pytest.raises(PartitionError, match="unknown country 'ZZ'"):
        check_country("ZZ")
    with pytest.raises(PartitionError, match="two-letter"):
        check_country("de'; --")
