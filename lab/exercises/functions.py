"""Exercises 1 and 2: functions a planning task calls, checked on cases with known answers.

| exercise | checker | what it checks |
|---|---|---|
| 1 countries filter | `check_countries_filter(fn)` | dates x chosen countries as `expand_kwargs` input, bad codes refused |
| 2 skip weekends | `check_weekday_dates(fn)` | a reload's dates without Saturdays and Sundays |
"""

from __future__ import annotations

from datetime import date

from lab.exercises.verdict import Checks, Result, call, expect_partition_error, head, unfinished
from lab.partitions import date_range, known_countries


def check_countries_filter(plan_partitions) -> Result:
    """`plan_partitions(dates, countries)` -> [{'event_date': d, 'country': c}, ...] for `.expand_kwargs()`.

    countries=None means every known country; each code is checked; an empty list or a code
    given twice is refused with a PartitionError (the order of the pairs does not matter).
    """
    checks = Checks(
        "Exercise 1 (countries filter)",
        hint="loop over dates and countries; check every code with lab.partitions.check_country; "
        "raise PartitionError for an empty list or a repeated code.",
    )
    dates = ["2024-01-01", "2024-01-02"]
    if (not_done := unfinished(checks, plan_partitions, dates, ["DE"])) is not None:
        return not_done

    def pairs(value) -> list[tuple] | None:
        if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
            return None
        return [(p.get("event_date"), p.get("country")) for p in value]

    cases = [
        ((dates, ["DE", "FR"]), [(d, c) for d in dates for c in ["DE", "FR"]], "two dates x two countries"),
        (
            (dates, None),
            [(d, c) for d in dates for c in known_countries()],
            "countries=None (every known country)",
        ),
        ((["2024-03-01"], ["NL"]), [("2024-03-01", "NL")], "one date x one country"),
    ]
    for args, expected, what in cases:
        value, error = call(plan_partitions, *args)
        if error:
            checks.expect(False, f"{what}: your function raised {error}")
            continue
        got = pairs(value)
        if got is None:
            checks.expect(
                False,
                f"{what}: expected a list of dicts like {{'event_date': ..., 'country': ...}}, got {value!r:.200}",
            )
            continue
        keys = {tuple(sorted(p)) for p in value}
        if not checks.expect(
            keys == {("country", "event_date")},
            f"{what}: every dict needs exactly the keys 'event_date' and 'country' "
            f"(the mapped task's argument names), got {sorted(keys)}",
        ):
            continue
        checks.expect(
            sorted(got) == sorted(expected) and len(got) == len(set(got)),
            f"{what}: expected the {len(expected)} pairs {head(sorted(expected))}, got {len(got)}: {head(got)}",
        )
    expect_partition_error(checks, plan_partitions, (dates, ["de"]), "a lower-case code")
    expect_partition_error(checks, plan_partitions, (dates, ["XX"]), "an unknown country")
    expect_partition_error(checks, plan_partitions, (dates, []), "an empty countries list")
    expect_partition_error(checks, plan_partitions, (dates, ["DE", "DE"]), "a country named twice")
    return checks.result()


def check_weekday_dates(weekday_dates) -> Result:
    """`weekday_dates(start_date, end_date)` -> the dates of the range that are Monday to Friday."""
    checks = Checks(
        "Exercise 2 (skip weekends)",
        hint="start from lab.partitions.date_range(start, end) and keep the dates whose "
        "date.fromisoformat(d).weekday() is below 5 (Monday is 0).",
    )
    if (not_done := unfinished(checks, weekday_dates, "2024-01-05", "2024-01-08")) is not None:
        return not_done
    cases = [
        ("2024-01-05", "2024-01-08", "Friday to Monday"),
        ("2024-01-01", "2024-01-14", "two full weeks"),
        ("2024-01-06", "2024-01-07", "a weekend only"),
        ("2024-02-28", "2024-03-04", "across a leap day"),
    ]
    for start, end, what in cases:
        expected = [d for d in date_range(start, end) if date.fromisoformat(d).weekday() < 5]
        value, error = call(weekday_dates, start, end)
        if error:
            checks.expect(False, f"{what} ({start}..{end}): your function raised {error}")
        elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            checks.expect(
                False,
                f"{what}: expected a list of 'YYYY-MM-DD' strings (what XCom carries to .expand()), got {value!r:.200}",
            )
        else:
            checks.expect(value == expected, f"{what} ({start}..{end}): expected {expected}, got {value}")
    expect_partition_error(checks, weekday_dates, ("2024-01-10", "2024-01-01"), "a reversed range")
    expect_partition_error(checks, weekday_dates, ("2024-02-30", "2024-03-01"), "an impossible date")
    return checks.result()
