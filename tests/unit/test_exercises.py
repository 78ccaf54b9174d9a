"""The exercise checkers (lab/exercises.py): right answers PASS, each kind of wrong answer FAILs in words."""

from __future__ import annotations

from datetime import date

import pytest

from lab import exercises as ex
from lab.partitions import PartitionError, check_country, date_range, known_countries


def plan_ok(dates, countries=None):
    codes = list(known_countries()) if countries is None else [check_country(c) for c in countries]
    if not codes or len(set(codes)) != len(codes):
        raise PartitionError("empty or repeated")
    return [{"country": c, "event_date": d} for c in codes for d in dates]  # another order: still right


def not_done(*args):
    raise NotImplementedError


def test_result_reads_as_pass_or_fail():
    passed = ex.Result("Exercise 9", True, 3)
    failed = ex.Result("Exercise 9", False, 3, ["case a: wrong"], hint="try b")
    assert bool(passed) and not bool(failed)
    assert str(passed) == "PASS  Exercise 9: all 3 checks passed."
    assert str(failed).splitlines() == [
        "FAIL  Exercise 9: 1 of 3 checks failed.",
        "  - case a: wrong",
        "  Hint: try b",
    ]
    assert "FAIL" in failed._repr_html_() and "&lt;" in ex.Result("x", False, 1, ["<b>"])._repr_html_()


def test_countries_filter_passes_a_right_answer():
    assert ex.check_countries_filter(plan_ok).passed


def no_validation(dates, countries=None):
    return [{"event_date": d, "country": c} for d in dates for c in (countries or known_countries())]


def tuples(dates, countries=None):
    return [(p["event_date"], p["country"]) for p in plan_ok(dates, countries)]


def wrong_keys(dates, countries=None):
    return [{"date_str": p["event_date"], "country": p["country"]} for p in plan_ok(dates, countries)]


def first_date_only(dates, countries=None):
    return plan_ok(dates[:1], countries)


@pytest.mark.parametrize(
    "wrong, problem",
    [
        (no_validation, "a lower-case code"),
        (tuples, "list of dicts"),
        (wrong_keys, "exactly the keys"),
        (first_date_only, "two dates x two countries"),
    ],
)
def test_countries_filter_fails_wrong_answers_with_a_reason(wrong, problem):
    result = ex.check_countries_filter(wrong)
    assert not result.passed
    assert any(problem in p for p in result.problems), result.problems
    assert str(result).startswith("FAIL")


def test_unfinished_starter_is_one_clear_fail_not_an_exception():
    for checker in (ex.check_countries_filter, ex.check_weekday_dates):
        result = checker(not_done)
        assert not result.passed
        assert result.problems == [result.problems[0]] and result.problems[0].startswith("not done yet")


def test_a_crashing_answer_is_a_fail_with_its_error():
    result = ex.check_weekday_dates(lambda start, end: 1 / 0)
    assert not result.passed and "ZeroDivisionError: division by zero" in str(result)
    assert not ex.check_weekday_dates("weekday_dates()").passed  # not a function


def test_weekday_dates_checker():
    assert ex.check_weekday_dates(
        lambda s, e: [d for d in date_range(s, e) if date.fromisoformat(d).weekday() < 5]
    ).passed
    everything = ex.check_weekday_dates(date_range)
    assert not everything.passed and any("Friday to Monday" in p for p in everything.problems)
    # Skipping weekends without validating the range: reversed input must still raise.
    lax = ex.check_weekday_dates(
        lambda s, e: [d for d in (date_range(s, e) if s <= e else []) if date.fromisoformat(d).weekday() < 5]
    )
    assert not lax.passed and any("reversed range" in p for p in lax.problems)
    as_dates = ex.check_weekday_dates(lambda s, e: [date.fromisoformat(d) for d in date_range(s, e)])
    assert any("'YYYY-MM-DD' strings" in p for p in as_dates.problems)


RIGHT_SQL = """
SELECT day::DATE AS event_date, count(e.event_id) AS rows
FROM range(DATE '{start}', DATE '{end}' + INTERVAL 1 DAY, INTERVAL 1 DAY) AS expected(day)
LEFT JOIN {events} AS e ON e.event_date = day::DATE
GROUP BY 1 HAVING count(e.event_id) <> {rows} ORDER BY 1
"""


def test_validation_lake_holds_the_problems_it_reports(tmp_path):
    problems = ex.build_validation_lake(tmp_path, "broken")
    assert problems == {"2024-01-03": 60, "2024-01-04": 0}
    df = ex.run_validation_query(
        "SELECT event_date, count(*) AS n FROM {events} GROUP BY 1 ORDER BY 1",
        tmp_path,
        "2024-01-01",
        "2024-01-31",
        1,
    )
    assert {str(d)[:10]: int(n) for d, n in zip(df["event_date"], df["n"], strict=False)} == {
        "2024-01-01": 100,
        "2024-01-02": 100,
        "2024-01-03": 60,
        "2024-01-05": 100,
        "2024-01-09": 100,
    }
    with pytest.raises(PartitionError):
        ex.run_validation_query(RIGHT_SQL, tmp_path, "2024-01-01'; DROP TABLE x; --", "2024-01-02", 1)


def test_validation_query_checker():
    assert ex.check_validation_query(RIGHT_SQL).passed
    naive = ex.check_validation_query(
        "SELECT event_date, count(*) AS rows FROM {events} GROUP BY 1 HAVING count(*) <> {rows}"
    )
    assert not naive.passed and any("'2024-01-04': 0" in p for p in naive.problems)
    hard_coded = ex.check_validation_query(
        "SELECT * FROM (VALUES (DATE '2024-01-03', 60), (DATE '2024-01-04', 0)) t(event_date, rows) WHERE '{events}' <> ''"
    )
    assert not hard_coded.passed and any(p.startswith("healthy lake") for p in hard_coded.problems)
    broken_sql = ex.check_validation_query("SELEC event_date FROM {events}")
    assert not broken_sql.passed and "query failed" in str(broken_sql)
    assert not ex.check_validation_query("SELECT 1").passed  # does not read the lake


def test_pool_checker_reports_a_missing_file_without_parsing(tmp_path):
    result = ex.check_pool_dag(tmp_path / "nowhere.py")
    assert not result.passed and "run the cell that writes it first" in str(result)
