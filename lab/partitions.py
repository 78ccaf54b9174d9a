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


def check_count(count: int, max_partitions: int = DEFAULT_MAX_MAP_LENGTH, detail: str = "") -> None:
    if count > max_partitions:
        raise PartitionError(
            f"{count} partitions{f' ({detail})' if detail else ''} is more than one mapped task may expand to "
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


# ---------------------------------------------------------------- date x country (partitioned_events DAG)

RELOAD_MODES = ("daily", "range", "country_reload")
COUNTRY_TABLE = "events_by_country"  # <lake>/events_by_country/event_date=YYYY-MM-DD/country=CC/
MAX_LATENCY_S = 600.0
_PARTITION_KEY = re.compile(r"^(\d{4}-\d{2}-\d{2})/([A-Z]{2})$")


def parse_countries(value) -> list[str]:
    """Country codes from a list (the Param) or a string such as 'DE, FR' / 'DE FR' (a CLI or form).

    Every code must be a known upper-case ISO code; at least one; none twice (two mapped
    instances writing the same partition at once would be a bug, not a reload).
    """
    if isinstance(value, str):
        items = [part for part in re.split(r"[\s,;]+", value.strip()) if part]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise PartitionError(f"countries must be a list of country codes such as ['DE', 'FR'], got {value!r}")
    if not items:
        raise PartitionError(f"countries is empty: name at least one of {', '.join(known_countries())}")
    codes = [check_country(code) for code in items]
    twice = sorted({code for code in codes if codes.count(code) > 1})
    if twice:
        raise PartitionError(f"countries lists {', '.join(twice)} more than once: name each country once")
    return codes


def partition_key(event_date: str | date, country: str) -> str:
    """'2024-01-01/DE': how fail_partitions names a partition (validated)."""
    return f"{parse_date(event_date, 'event_date').isoformat()}/{check_country(country)}"


def partition_label(event_date: str | date, country: str) -> str:
    """'2024-01-01 / DE': the label of a mapped instance in the Airflow UI."""
    return f"{parse_date(event_date, 'event_date').isoformat()} / {check_country(country)}"


def partition_path(event_date: str | date, country: str) -> str:
    """'event_date=2024-01-01/country=DE': the partition's directory relative to its table."""
    return f"event_date={parse_date(event_date, 'event_date').isoformat()}/country={check_country(country)}"


def parse_partition_key(key: str) -> tuple[str, str]:
    """('2024-01-01', 'DE') from '2024-01-01/DE'; refuses anything else."""
    match = _PARTITION_KEY.match(key) if isinstance(key, str) else None
    if not match:
        raise PartitionError(f"a partition is written YYYY-MM-DD/CC, such as '2024-01-01/DE', got {key!r}")
    return parse_date(match[1], "event_date").isoformat(), check_country(match[2])


def plan_partitions(
    mode: str,
    start_date: str | date | None,
    end_date: str | date | None,
    countries,
    run_after: datetime | date | str | None = None,
    max_partitions: int = DEFAULT_MAX_MAP_LENGTH,
) -> list[dict[str, str]]:
    """The (event_date, country) pairs a run of partitioned_events processes, in order.

    - daily:          the day before `run_after` x every country;
    - range:          every date from start_date to end_date x every country (the cross product);
    - country_reload: every date of the range for exactly one country.
    The count is checked against `[core] max_map_length` before any list is built.
    """
    if mode not in RELOAD_MODES:
        raise PartitionError(f"unknown mode {mode!r}: choose one of {', '.join(RELOAD_MODES)}")
    codes = parse_countries(countries)
    if mode == "daily":
        if run_after is None:
            raise PartitionError("daily mode needs the run's run_after to know which day is yesterday")
        dates = [daily_partition(run_after)]
        check_count(len(codes), max_partitions, detail=f"1 date x {len(codes)} countries")
    else:
        if not start_date or not end_date:
            raise PartitionError(f"{mode} mode needs both start_date and end_date")
        if mode == "country_reload" and len(codes) != 1:
            raise PartitionError(
                f"country_reload reloads one country: set countries to a single code such as ['DE'], "
                f"got {len(codes)}: {', '.join(codes)}. To reload several countries use mode range."
            )
        start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
        if end < start:
            raise PartitionError(f"end_date {end} is before start_date {start}: swap them")
        days = (end - start).days + 1
        countries_word = "country" if len(codes) == 1 else "countries"
        check_count(days * len(codes), max_partitions, detail=f"{days} dates x {len(codes)} {countries_word}")
        dates = date_range(start, end, max_partitions)
    return [{"event_date": day, "country": code} for day in dates for code in codes]


def check_latency_s(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_LATENCY_S:
        raise PartitionError(
            f"latency_s must be a number of seconds from 0 to {MAX_LATENCY_S:g}, got {value!r}"
        )
    return float(value)


def check_fail_partitions(keys, planned: list[dict[str, str]]) -> list[str]:
    """The fail_partitions test hook: 'YYYY-MM-DD/CC' keys, each one a partition this run processes."""
    if keys is None:
        return []
    if not isinstance(keys, (list, tuple)):
        raise PartitionError(f"fail_partitions must be a list such as ['2024-01-01/DE'], got {keys!r}")
    wanted = ["/".join(parse_partition_key(key)) for key in keys]
    known = {f"{p['event_date']}/{p['country']}" for p in planned}
    strangers = [key for key in wanted if key not in known]
    if strangers:
        raise PartitionError(
            f"fail_partitions names {', '.join(strangers)}, which this run does not process: "
            f"pick from {', '.join(sorted(known)[:6])}{' ...' if len(known) > 6 else ''}"
        )
    return wanted


def check_fail_tries(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PartitionError(f"fail_tries must be a whole number of at least 0, got {value!r}")
    return value


def plan_run(
    params: dict, run_after=None, max_partitions: int = DEFAULT_MAX_MAP_LENGTH
) -> list[dict[str, str]]:
    """Validate every Param of a partitioned_events run and return its partitions.

    The one place the DAG's planning task calls: if anything is wrong it raises here,
    the run fails before a single mapped instance exists, and the lake is untouched.
    """
    check_events_per_partition(params.get("events_per_partition"))
    check_latency_s(params.get("latency_s", 0))
    check_fail_tries(params.get("fail_tries", 1))
    planned = plan_partitions(
        params.get("mode"),
        params.get("start_date"),
        params.get("end_date"),
        params.get("countries", list(known_countries())),
        run_after=run_after,
        max_partitions=max_partitions,
    )
    check_fail_partitions(params.get("fail_partitions", []), planned)
    return planned
