"""Which partitions to process: dates, date x country, and the validation of every input.

Pure standard library, so the same checks run in a DAG's planning task, in a notebook and
in unit tests. Every function either returns clean values or raises `PartitionError` with a
message a workshop participant can act on, before anything is written.
"""

from __future__ import annotations

import csv
import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

MODES = ("daily", "custom")
DEFAULT_MAX_MAP_LENGTH = 1024  # Airflow's [core] max_map_length default
COUNTRIES_CSV = Path(__file__).resolve().parent.parent / "data" / "countries.csv"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class PartitionError(ValueError):
    """Bad input for a partition list; the message says what to change."""


def parse_date(value: str | date, name: str = "date") -> date:
    """A calendar date from 'YYYY-MM-DD' (or a date); impossible dates such as 2024-02-30 are refused."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.match(value.strip()):
        raise PartitionError(f"{name} must be a date written YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise PartitionError(f"{name} {value!r} is not a real calendar date ({exc})") from None


def date_range(
    start_date: str | date, end_date: str | date, max_partitions: int = DEFAULT_MAX_MAP_LENGTH
) -> list[str]:
    """Every date from start to end, both included, as 'YYYY-MM-DD' strings."""
    start = parse_date(start_date, "start_date")
    end = parse_date(end_date, "end_date")
    if end < start:
        raise PartitionError(f"end_date {end} is before start_date {start}: swap them")
    count = (end - start).days + 1
    check_count(count, max_partitions)
    return [(start + timedelta(days=i)).isoformat() for i in range(count)]


def check_count(count: int, max_partitions: int = DEFAULT_MAX_MAP_LENGTH) -> None:
    if count > max_partitions:
        raise PartitionError(
            f"{count} partitions is more than one mapped task may expand to "
            f"([core] max_map_length = {max_partitions}). Split the range into several runs, "
            f"map over chunks of partitions, or raise AIRFLOW__CORE__MAX_MAP_LENGTH."
        )


def daily_partition(run_after: datetime | date | str) -> str:
    """The partition a daily run processes: the day before the run was due.

    On Airflow 3 a manually triggered run has no logical date (no `ds`), so the day comes
    from `dag_run.run_after`, which every run has.
    """
    if isinstance(run_after, str):
        run_after = datetime.fromisoformat(run_after.replace("Z", "+00:00"))
    day = run_after.date() if isinstance(run_after, datetime) else run_after
    return (day - timedelta(days=1)).isoformat()


def resolve_dates(
    mode: str,
    start_date: str | date | None,
    end_date: str | date | None,
    run_after: datetime | date | str,
    max_partitions: int = DEFAULT_MAX_MAP_LENGTH,
) -> list[str]:
    """The demo DAG's partition list: yesterday in daily mode, start..end in custom mode."""
    if mode == "daily":
        return [daily_partition(run_after)]
    if mode == "custom":
        if not start_date or not end_date:
            raise PartitionError("custom mode needs both start_date and end_date")
        return date_range(start_date, end_date, max_partitions)
    raise PartitionError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")


def check_events_per_partition(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PartitionError(f"events_per_partition must be a whole number of at least 1, got {value!r}")
    return value


@lru_cache(maxsize=1)
def known_countries() -> tuple[str, ...]:
    """ISO 3166-1 alpha-2 codes from the committed reference file data/countries.csv."""
    with COUNTRIES_CSV.open(newline="") as handle:
        return tuple(row["code"] for row in csv.DictReader(handle))


def check_country(code: str) -> str:
    if not isinstance(code, str) or not _COUNTRY.match(code):
        raise PartitionError(f"country must be a two-letter upper-case ISO code such as 'DE', got {code!r}")
    if code not in known_countries():
        raise PartitionError(f"unknown country {code!r}: known are {', '.join(known_countries())}")
    return code
