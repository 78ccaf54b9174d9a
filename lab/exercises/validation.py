"""Exercise 4: a validation query, run on small lakes with known problems written here."""

from __future__ import annotations

import tempfile
from pathlib import Path

from lab.exercises.verdict import Checks, Result, describe
from lab.partitions import date_range, parse_date

VALIDATION_START, VALIDATION_END, VALIDATION_ROWS = "2024-01-01", "2024-01-05", 100


def build_validation_lake(lake_dir: str | Path, scenario: str) -> dict[str, int]:
    """A small lake for exercise 4, written with lab.lake; returns the problems it contains (date -> rows).

    "broken": 2024-01-03 has too few rows, 2024-01-04 is missing, 2024-01-09 is outside the range.
    "healthy": every date of the range is there with the right count.
    """
    from lab.lake import write_partition

    dates = date_range(VALIDATION_START, VALIDATION_END)
    rows = {d: VALIDATION_ROWS for d in dates}
    if scenario == "broken":
        rows["2024-01-03"] = 60
        del rows["2024-01-04"]
        rows["2024-01-09"] = VALIDATION_ROWS  # not asked for: a query should not report it
    elif scenario != "healthy":
        raise ValueError(f"scenario is 'broken' or 'healthy', got {scenario!r}")
    for day, count in rows.items():
        write_partition(day, count, lake_dir=lake_dir)
    return {d: rows.get(d, 0) for d in dates if rows.get(d, 0) != VALIDATION_ROWS}


def run_validation_query(sql: str, lake_dir: str | Path, start: str, end: str, rows: int):
    """Fill the query's placeholders with validated values and run it on the lake: a DataFrame."""
    from lab import lake

    values = {
        "events": lake.scan("events", lake_dir),
        "start": parse_date(start, "start").isoformat(),
        "end": parse_date(end, "end").isoformat(),
        "rows": int(rows),
    }
    con = lake.connect()
    try:
        return con.execute(sql.format(**values)).df()
    finally:
        con.close()


def check_validation_query(sql: str) -> Result:
    """The query returns one row (event_date, rows) per date of {start}..{end} that does not hold {rows} rows."""
    checks = Checks(
        "Exercise 4 (validation query)",
        hint="generate every expected date with range(DATE '{start}', DATE '{end}' + INTERVAL 1 DAY, INTERVAL 1 DAY), "
        "LEFT JOIN the events on event_date, count(e.event_id) per date and keep the counts <> {rows}: "
        "a missing partition then shows up with 0 rows.",
    )
    if not isinstance(sql, str) or "{events}" not in sql:
        checks.expect(
            False, "the query must be a string that reads the lake through the {events} placeholder"
        )
        return checks.result()
    for scenario in ("broken", "healthy"):
        with tempfile.TemporaryDirectory(prefix="lab-exercise-lake-") as lake_dir:
            expected = build_validation_lake(lake_dir, scenario)
            try:
                df = run_validation_query(sql, lake_dir, VALIDATION_START, VALIDATION_END, VALIDATION_ROWS)
            except Exception as exc:  # noqa: BLE001 - an SQL error is a FAIL with DuckDB's message
                checks.expect(False, f"{scenario} lake: the query failed: {describe(exc)}")
                continue
        if not checks.expect(
            list(df.columns[:2]) == ["event_date", "rows"],
            f"{scenario} lake: expected the columns event_date, rows; got {list(df.columns)}",
        ):
            continue
        got = {str(d)[:10]: int(n) for d, n in zip(df["event_date"], df["rows"], strict=False)}
        checks.expect(
            got == expected and len(df) == len(expected),
            f"{scenario} lake: expected {expected or 'no rows (every partition is fine)'}, got {got or 'no rows'}",
        )
    return checks.result()
