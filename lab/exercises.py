"""Checkers for the exercises in notebooks/exercises/: each answers PASS or FAIL in plain words.

A checker calls the participant's code on cases with known answers and reports every case
that went wrong with what was expected, never with a traceback: an exception raised by the
participant's code (a `NotImplementedError` left in place, a typo) is a FAIL with its message.

    from lab.exercises import check_countries_filter
    check_countries_filter(plan_partitions)      # -> PASS ... / FAIL ... (shown in the notebook)

| exercise | checker | what it checks |
|---|---|---|
| 1 countries filter | `check_countries_filter(fn)` | dates x chosen countries as `expand_kwargs` input, bad codes refused |
| 2 skip weekends | `check_weekday_dates(fn)` | a reload's dates without Saturdays and Sundays |
| 3 pool | `check_pool_dag(path)` | the DAG file parses and its mapped task runs in the `lake_writers` pool |
| 4 validation query | `check_validation_query(sql)` | the SQL finds missing and wrong partitions on small lakes built here |
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from lab.config import REPO_ROOT
from lab.partitions import PartitionError, date_range, known_countries, parse_date

POOL_NAME = "lake_writers"
POOL_DAG_ID = "exercise_pool"
POOL_TASK_ID = "write"


@dataclass
class Result:
    """The verdict of one checker: truthy when passed; shown as PASS/FAIL text in a notebook."""

    exercise: str
    passed: bool
    checks: int
    problems: list[str] = field(default_factory=list)
    hint: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.passed:
            return f"PASS  {self.exercise}: all {self.checks} checks passed."
        lines = [f"FAIL  {self.exercise}: {len(self.problems)} of {self.checks} checks failed."]
        lines += [f"  - {p}" for p in self.problems]
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        body = html.escape(str(self)).replace("\n", "<br>")
        return (
            f'<div style="border-left:6px solid {colour};padding:6px 10px;font-family:monospace">{body}</div>'
        )


class _Checks:
    """Collects the outcome of each case of one exercise."""

    def __init__(self, exercise: str, hint: str = ""):
        self.exercise, self.hint = exercise, hint
        self.count = 0
        self.problems: list[str] = []

    def expect(self, ok: bool, problem: str) -> bool:
        self.count += 1
        if not ok:
            self.problems.append(problem)
        return ok

    def result(self) -> Result:
        return Result(
            self.exercise, not self.problems, self.count, self.problems, self.hint if self.problems else ""
        )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return "NotImplementedError: not done yet, replace the `raise NotImplementedError` with your code"
    return f"{type(exc).__name__}: {exc}"


def _call(fn, *args):
    """(value, None) or (None, 'Type: message') when the participant's function raised."""
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - any error of the participant's code is a FAIL, not a traceback
        return None, _describe(exc)


def _expect_partition_error(checks: _Checks, fn, args: tuple, why: str) -> None:
    try:
        value = fn(*args)
    except PartitionError:
        checks.expect(True, "")
    except Exception as exc:  # noqa: BLE001
        checks.expect(False, f"{_args(args)} {why}: expected a PartitionError, got {_describe(exc)}")
    else:
        checks.expect(
            False, f"{_args(args)} {why}: expected a PartitionError, but it returned {value!r:.200}"
        )


def _unfinished(checks: _Checks, fn, *args) -> Result | None:
    """A FAIL with one clear line when the starter's `raise NotImplementedError` is still there."""
    if not callable(fn):
        checks.expect(False, f"expected a function, got {fn!r:.100}: pass the function itself, without ()")
        return checks.result()
    try:
        fn(*args)
    except NotImplementedError:
        checks.hint = ""  # nothing tried yet: the notebook's own hints come first
        checks.expect(
            False,
            "not done yet: replace the `raise NotImplementedError` in the edit-here cell with your code, "
            "run it, then run this check again",
        )
        return checks.result()
    except Exception:  # noqa: BLE001 - reported case by case below
        pass
    return None


def _args(args: tuple) -> str:
    return "(" + ", ".join(repr(a) for a in args) + ")"


# ---------------------------------------------------------------- exercise 1: countries filter


def check_countries_filter(plan_partitions) -> Result:
    """`plan_partitions(dates, countries)` -> [{'event_date': d, 'country': c}, ...] for `.expand_kwargs()`.

    countries=None means every known country; each code is checked; an empty list or a code
    given twice is refused with a PartitionError (the order of the pairs does not matter).
    """
    checks = _Checks(
        "Exercise 1 (countries filter)",
        hint="loop over dates and countries; check every code with lab.partitions.check_country; "
        "raise PartitionError for an empty list or a repeated code.",
    )
    dates = ["2024-01-01", "2024-01-02"]
    if (unfinished := _unfinished(checks, plan_partitions, dates, ["DE"])) is not None:
        return unfinished

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
        value, error = _call(plan_partitions, *args)
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
            f"{what}: expected the {len(expected)} pairs {_head(sorted(expected))}, got {len(got)}: {_head(got)}",
        )
    _expect_partition_error(checks, plan_partitions, (dates, ["de"]), "a lower-case code")
    _expect_partition_error(checks, plan_partitions, (dates, ["XX"]), "an unknown country")
    _expect_partition_error(checks, plan_partitions, (dates, []), "an empty countries list")
    _expect_partition_error(checks, plan_partitions, (dates, ["DE", "DE"]), "a country named twice")
    return checks.result()


# ---------------------------------------------------------------- exercise 2: skip weekends


def check_weekday_dates(weekday_dates) -> Result:
    """`weekday_dates(start_date, end_date)` -> the dates of the range that are Monday to Friday."""
    checks = _Checks(
        "Exercise 2 (skip weekends)",
        hint="start from lab.partitions.date_range(start, end) and keep the dates whose "
        "date.fromisoformat(d).weekday() is below 5 (Monday is 0).",
    )
    if (unfinished := _unfinished(checks, weekday_dates, "2024-01-05", "2024-01-08")) is not None:
        return unfinished
    cases = [
        ("2024-01-05", "2024-01-08", "Friday to Monday"),
        ("2024-01-01", "2024-01-14", "two full weeks"),
        ("2024-01-06", "2024-01-07", "a weekend only"),
        ("2024-02-28", "2024-03-04", "across a leap day"),
    ]
    for start, end, what in cases:
        expected = [d for d in date_range(start, end) if date.fromisoformat(d).weekday() < 5]
        value, error = _call(weekday_dates, start, end)
        if error:
            checks.expect(False, f"{what} ({start}..{end}): your function raised {error}")
        elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            checks.expect(
                False,
                f"{what}: expected a list of 'YYYY-MM-DD' strings (what XCom carries to .expand()), got {value!r:.200}",
            )
        else:
            checks.expect(value == expected, f"{what} ({start}..{end}): expected {expected}, got {value}")
    _expect_partition_error(checks, weekday_dates, ("2024-01-10", "2024-01-01"), "a reversed range")
    _expect_partition_error(checks, weekday_dates, ("2024-02-30", "2024-03-01"), "an impossible date")
    return checks.result()


# ---------------------------------------------------------------- exercise 3: a pool for the writers

_INSPECT = r"""
import json, sys, warnings
from airflow.dag_processing.dagbag import DagBag
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    bag = DagBag(dag_folder=sys.argv[1])
out = {"import_errors": {k: str(v)[-1500:] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        t.task_id: {
            "mapped": type(t).__name__.endswith("MappedOperator"),
            "pool": t.pool,
            "pool_slots": t.pool_slots,
            "max_active_tis_per_dagrun": t.max_active_tis_per_dagrun,
        }
        for t in dag.tasks
    }
with open(sys.argv[2], "w") as handle:
    json.dump(out, handle)
"""


def inspect_dag_file(path: str | Path, timeout: float = 180.0) -> dict:
    """Parse one DAG file the way the dag-processor does (DagBag), in a separate Python process.

    Returns {"import_errors": {file: error}, "dags": {dag_id: {task_id: {mapped, pool, ...}}}}.
    A throw-away AIRFLOW_HOME keeps the parse away from the lab's running Airflow.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no DAG file at {path.name}: run the cell that writes it first")
    with tempfile.TemporaryDirectory(prefix="lab-exercise-") as tmp:
        env = {
            **os.environ,
            "AIRFLOW_HOME": tmp,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
        }
        out = Path(tmp) / "dag.json"
        proc = subprocess.run(
            [sys.executable, "-c", _INSPECT, str(path), str(out)],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"parsing the DAG file failed:\n{(proc.stderr or proc.stdout)[-1500:]}")
        return json.loads(out.read_text())


def check_pool_dag(path: str | Path) -> Result:
    """The DAG file at `path` defines `exercise_pool`, whose mapped task `write` runs in the `lake_writers` pool."""
    checks = _Checks(
        "Exercise 3 (a pool for the writers)",
        hint=f'give the mapped task `pool="{POOL_NAME}"` in its @task(...) arguments; '
        "a pool caps the running instances of every task and every run that uses it.",
    )
    try:
        parsed = inspect_dag_file(path)
    except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        checks.expect(False, f"could not parse the DAG file: {exc}")
        return checks.result()
    if parsed["import_errors"]:
        error = next(iter(parsed["import_errors"].values())).strip().splitlines()[-1]
        checks.expect(False, f"the DAG file does not import (Airflow would list it as broken): {error}")
        return checks.result()
    tasks = parsed["dags"].get(POOL_DAG_ID)
    if not checks.expect(
        tasks is not None, f"no DAG with dag_id {POOL_DAG_ID!r} in the file (found {sorted(parsed['dags'])})"
    ):
        return checks.result()
    write = tasks.get(POOL_TASK_ID)
    if not checks.expect(
        write is not None, f"no task {POOL_TASK_ID!r} in {POOL_DAG_ID} (found {sorted(tasks)})"
    ):
        return checks.result()
    checks.expect(
        write["mapped"], f"task {POOL_TASK_ID!r} is no longer mapped: keep `.expand(event_date=...)`"
    )
    checks.expect(
        write["pool"] == POOL_NAME,
        f"task {POOL_TASK_ID!r} runs in pool {write['pool']!r}, expected {POOL_NAME!r}",
    )
    checks.expect(
        write["pool_slots"] == 1,
        f"each partition should take 1 slot of the pool, got pool_slots={write['pool_slots']}",
    )
    others = {tid: t["pool"] for tid, t in tasks.items() if tid != POOL_TASK_ID and t["pool"] == POOL_NAME}
    checks.expect(
        not others, f"only the writer belongs in {POOL_NAME!r}; {sorted(others)} would take its slots too"
    )
    return checks.result()


# ---------------------------------------------------------------- exercise 4: a validation query

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
    checks = _Checks(
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
                checks.expect(False, f"{scenario} lake: the query failed: {_describe(exc)}")
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


def _head(items: list, n: int = 4) -> str:
    """The first `n` items of a list, with ' ...' when there are more."""
    return f"{items[:n]}{' ...' if len(items) > n else ''}"
