"""Date x country partition plans and every validation rule of the partitioned_events DAG, without Airflow."""

from datetime import UTC, datetime

import pytest

from lab.partitions import (
    MAX_LATENCY_S,
    Partition,
    PartitionError,
    check_count,
    check_fail_partitions,
    check_latency_s,
    known_countries,
    parse_countries,
    plan_partitions,
    plan_run,
)
from tests.helpers import events_conf

RUN_AFTER = datetime(2024, 3, 1, 0, 30, tzinfo=UTC)
RANGE = events_conf("2024-01-01", "2024-01-02", ["DE", "FR"], 10)


def keys(plan):
    return [p.key for p in plan]


def test_range_is_the_cross_product_dates_outer_countries_inner():
    plan = plan_partitions("range", "2024-01-01", "2024-01-03", ["DE", "FR"], RUN_AFTER)
    assert keys(plan) == [
        "2024-01-01/DE",
        "2024-01-01/FR",
        "2024-01-02/DE",
        "2024-01-02/FR",
        "2024-01-03/DE",
        "2024-01-03/FR",
    ]
    assert plan[0] == Partition("2024-01-01", "DE")
    # the JSON form: one mapped instance's kwargs
    assert plan[0].as_kwargs() == {"event_date": "2024-01-01", "country": "DE"}


def test_daily_is_yesterday_of_run_after_for_every_country():
    plan = plan_partitions("daily", None, None, list(known_countries()), RUN_AFTER)
    assert keys(plan) == [f"2024-02-29/{c}" for c in known_countries()]
    assert keys(plan_partitions("daily", "2020-01-01", "2020-12-31", ["NL"], "2024-03-01T00:30:00Z")) == [
        "2024-02-29/NL"
    ]


def test_daily_counts_against_max_map_length_too():
    with pytest.raises(
        PartitionError, match=r"8 partitions \(1 date x 8 countries\) .* max_map_length = 4\)"
    ):
        plan_partitions("daily", None, None, list(known_countries()), RUN_AFTER, max_partitions=4)


def test_daily_needs_run_after():
    with pytest.raises(PartitionError, match="run_after"):
        plan_partitions("daily", None, None, ["DE"], None)


def test_country_reload_is_one_country_over_the_range():
    plan = plan_partitions("country_reload", "2024-01-30", "2024-02-01", ["FR"], RUN_AFTER)
    assert keys(plan) == ["2024-01-30/FR", "2024-01-31/FR", "2024-02-01/FR"]


def test_country_reload_refuses_several_countries():
    with pytest.raises(PartitionError, match=r"country_reload reloads one country: .* got 2: DE, FR"):
        plan_partitions("country_reload", "2024-01-01", "2024-01-02", ["DE", "FR"], RUN_AFTER)


@pytest.mark.parametrize("mode", ["range", "country_reload"])
def test_ranges_need_both_dates(mode):
    with pytest.raises(PartitionError, match=f"{mode} mode needs both start_date and end_date"):
        plan_partitions(mode, "2024-01-01", "", ["DE"], RUN_AFTER)


def test_reversed_range_is_refused():
    with pytest.raises(
        PartitionError, match="end_date 2024-01-01 is before start_date 2024-01-05: swap them"
    ):
        plan_partitions("range", "2024-01-05", "2024-01-01", ["DE"], RUN_AFTER)


def test_impossible_date_is_refused():
    with pytest.raises(PartitionError, match="start_date '2024-02-30' is not a real calendar date"):
        plan_partitions("range", "2024-02-30", "2024-03-01", ["DE"], RUN_AFTER)


@pytest.mark.parametrize("mode", ["weekly", "custom", "", None])
def test_unknown_mode_is_refused(mode):
    with pytest.raises(PartitionError, match="unknown mode .*: choose one of daily, range, country_reload"):
        plan_partitions(mode, "2024-01-01", "2024-01-02", ["DE"], RUN_AFTER)


def test_the_cross_product_counts_against_max_map_length():
    # 128 dates alone fit, 128 dates x 8 countries = 1024 just fit, one more date does not.
    assert (
        len(plan_partitions("range", "2024-01-01", "2024-05-07", list(known_countries()), RUN_AFTER)) == 1024
    )
    with pytest.raises(
        PartitionError,
        match=r"1032 partitions \(129 dates x 8 countries\) is more than .* "
        r"max_map_length = 1024.*AIRFLOW__CORE__MAX_MAP_LENGTH",
    ):
        plan_partitions("range", "2024-01-01", "2024-05-08", list(known_countries()), RUN_AFTER)
    assert (
        len(
            plan_partitions(
                "range", "2024-01-01", "2024-05-08", list(known_countries()), RUN_AFTER, max_partitions=2048
            )
        )
        == 1032
    )


def test_a_huge_range_is_refused_without_building_it():
    with pytest.raises(PartitionError, match=r"36524 partitions \(36524 dates x 1 country\)"):
        plan_partitions("range", "1900-01-01", "1999-12-31", ["DE"], RUN_AFTER)


def test_check_count_keeps_its_old_message():
    with pytest.raises(PartitionError, match=r"^2000 partitions is more than one mapped task"):
        check_count(2000, 1024)


@pytest.mark.parametrize(
    "value, expected",
    [
        (["DE", "FR"], ["DE", "FR"]),
        ("DE, FR", ["DE", "FR"]),
        ("NL FR;IT", ["NL", "FR", "IT"]),
        (("US",), ["US"]),
    ],
)
def test_countries_from_a_list_or_a_string(value, expected):
    assert parse_countries(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        (["XX"], "unknown country 'XX'"),
        (["de"], "two-letter upper-case ISO code"),
        (["DEU"], "two-letter upper-case ISO code"),
        (["D'"], "two-letter upper-case ISO code"),
        ([" DE"], "two-letter upper-case ISO code"),
        ([42], "two-letter upper-case ISO code"),
        ("DE, de", "two-letter upper-case ISO code"),
        ([], "countries is empty"),
        ("", "countries is empty"),
        (None, "must be a list of country codes"),
        ({"DE": 1}, "must be a list of country codes"),
        (["DE", "FR", "DE"], "countries lists DE more than once"),
    ],
)
def test_bad_countries_are_refused(value, message):
    with pytest.raises(PartitionError, match=message):
        parse_countries(value)


def test_fail_partitions_must_be_partitions_of_the_run():
    plan = plan_partitions("range", "2024-01-01", "2024-01-02", ["DE", "FR"], RUN_AFTER)
    assert check_fail_partitions(["2024-01-02/FR"], plan) == ["2024-01-02/FR"]
    assert check_fail_partitions(None, plan) == []
    with pytest.raises(
        PartitionError, match="fail_partitions names 2024-01-03/DE, which this run does not process"
    ):
        check_fail_partitions(["2024-01-03/DE"], plan)
    with pytest.raises(PartitionError, match="must be a list"):
        check_fail_partitions("2024-01-01/DE", plan)


@pytest.mark.parametrize("bad", [-1, 601, "1", True, None])
def test_latency_must_be_a_sane_number_of_seconds(bad):
    with pytest.raises(PartitionError, match="latency_s must be a number of seconds from 0 to 600"):
        check_latency_s(bad)
    assert check_latency_s(MAX_LATENCY_S) == 600.0


def test_plan_run_checks_every_param_and_returns_the_pairs():
    assert keys(plan_run(RANGE, RUN_AFTER)) == [
        "2024-01-01/DE",
        "2024-01-01/FR",
        "2024-01-02/DE",
        "2024-01-02/FR",
    ]
    every = list(known_countries())
    assert len(plan_run({"mode": "daily", "countries": every, "events_per_partition": 1}, RUN_AFTER)) == len(
        every
    )


def test_plan_run_without_countries_plans_dates_alone():
    """The demo DAG's Params have no countries: its partitions are dates (keys 'YYYY-MM-DD')."""
    plan = plan_run(
        {"mode": "range", "start_date": "2024-01-01", "end_date": "2024-01-02", "events_per_partition": 5}
    )
    assert keys(plan) == ["2024-01-01", "2024-01-02"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"events_per_partition": 0}, "events_per_partition must be a whole number of at least 1"),
        ({"latency_s": -2}, "latency_s must be a number"),
        ({"fail_tries": -1}, "fail_tries must be a whole number"),
        ({"fail_partitions": ["2024-01-01/IT"]}, "fail_partitions names 2024-01-01/IT"),
        ({"mode": "weekly"}, "unknown mode 'weekly'"),
        ({"countries": ["XX"]}, "unknown country 'XX'"),
        ({"start_date": "2024-02-30"}, "not a real calendar date"),
        ({"start_date": "2024-01-09"}, "is before start_date"),
    ],
)
def test_plan_run_refuses_bad_params(change, message):
    with pytest.raises(PartitionError, match=message):
        plan_run({**RANGE, **change}, RUN_AFTER)
