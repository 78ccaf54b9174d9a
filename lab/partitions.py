"""What a partition is, which partitions a run processes, and every limit on them.

- `Partition`: one partition, a date and optionally a country. The only place that spells out
  its key ("2024-01-01/DE"), its label in the Airflow UI ("2024-01-01 / DE") and its hive
  path ("event_date=2024-01-01/country=DE"); everything else builds and reads them through it.
- `plan_partitions`: the one planner, with the modes daily | range | country_reload.
  `plan_run` validates every Param of a run and then plans it: what DAG planning tasks call.
- The limits (`MAX_LATENCY_S`, `DEFAULT_MAX_MAP_LENGTH`, `MIN_EVENTS_PER_PARTITION`), which
  the DAGs' Params and the benchmark read from here.

Pure standard library, so the same checks run in a DAG's planning task, in the demo's
`@task.virtualenv` (which holds only duckdb), in a notebook and in unit tests. Every function
returns clean values or raises `PartitionError` with a message a workshop participant can act
on, before anything is written.

Partitions cross XCom in their JSON form, not as `Partition` objects: `as_kwargs()` (the
keyword arguments of one mapped instance, what `expand_kwargs` takes) or `.key` (for `expand`
over one argument). `expand_kwargs` needs one plain dict per instance, and plain JSON reads the
same in the UI, the REST API and the notebooks. `Partition(**kwargs)` or `Partition.from_key`
turn them back into values.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path, PurePosixPath

# ---------------------------------------------------------------- limits

# latency_s stands for a warehouse round trip (a sleep); more than ten minutes per partition is a typo.
MAX_LATENCY_S = 600.0
# Airflow's [core] max_map_length default: what the planner checks against outside Airflow.
DEFAULT_MAX_MAP_LENGTH = 1024
# A partition without events would be a directory without a Parquet file: nothing to read back.
MIN_EVENTS_PER_PARTITION = 1

MODES = ("daily", "range", "country_reload")
COUNTRY_TABLE = "events_by_country"  # the date x country table of partitioned_events
COUNTRIES_CSV = Path(__file__).resolve().parent.parent / "data" / "countries.csv"

_DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"
_COUNTRY_PATTERN = r"[A-Z]{2}"
_DATE = re.compile(f"^{_DATE_PATTERN}$")
_COUNTRY = re.compile(f"^{_COUNTRY_PATTERN}$")
# JSON-schema pattern of a date x country key, for Params that name partitions (fail_partitions).
DATE_COUNTRY_KEY_PATTERN = f"^{_DATE_PATTERN}/{_COUNTRY_PATTERN}$"
_KEY_SEPARATOR = "/"
_LABEL_SEPARATOR = " / "


class PartitionError(ValueError):
    """Bad input for a partition or a partition list; the message says what to change."""


# ---------------------------------------------------------------- single values


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


def check_events_per_partition(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_EVENTS_PER_PARTITION:
        raise PartitionError(
            f"events_per_partition must be a whole number of at least {MIN_EVENTS_PER_PARTITION}, got {value!r}"
        )
    return value


def check_latency_s(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_LATENCY_S:
        raise PartitionError(
            f"latency_s must be a number of seconds from 0 to {MAX_LATENCY_S:g}, got {value!r}"
        )
    return float(value)


def check_count(count: int, max_partitions: int = DEFAULT_MAX_MAP_LENGTH, detail: str = "") -> None:
    """Refuse more partitions than one mapped task may expand to."""
    if count > max_partitions:
        raise PartitionError(
            f"{count} partitions{f' ({detail})' if detail else ''} is more than one mapped task may expand to "
            f"([core] max_map_length = {max_partitions}). Split the range into several runs, "
            f"map over chunks of partitions, or raise AIRFLOW__CORE__MAX_MAP_LENGTH."
        )


# ---------------------------------------------------------------- one partition


@dataclass(frozen=True)
class Partition:
    """One partition: a date and, for date x country tables, a country. Validated on construction.

    `Partition("2024-01-01", "DE")` (a date or 'YYYY-MM-DD'; a known ISO code or None).
    The fields are the hive partition columns, in path order: a new dimension is a new field
    (optional, after the others) with its check in `__post_init__`.
    """

    event_date: date
    country: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_date", parse_date(self.event_date, "event_date"))
        if self.country is not None:
            check_country(self.country)

    def _values(self) -> dict[str, str]:
        """Column -> value as written in keys and paths, for the columns this partition has."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {
            name: value.isoformat() if isinstance(value, date) else value
            for name, value in values.items()
            if value is not None
        }

    @property
    def columns(self) -> tuple[str, ...]:
        """The hive partition columns, in path order: ('event_date', 'country') or ('event_date',)."""
        return tuple(self._values())

    @property
    def key(self) -> str:
        """'2024-01-01/DE' or '2024-01-01': how a person or a Param names the partition."""
        return _KEY_SEPARATOR.join(self._values().values())

    @property
    def label(self) -> str:
        """'2024-01-01 / DE' or '2024-01-01': the mapped instance's label in the Airflow UI."""
        return _LABEL_SEPARATOR.join(self._values().values())

    @property
    def path(self) -> str:
        """'event_date=2024-01-01/country=DE': the partition's directory, relative to its table.

        Relative on purpose: where a table lives is `lab.lake`'s business
        (`lake.partition_dir`), and the relative path is how `lake.partition_files`,
        `lake.checksums` and `lake.validate` name partitions.
        """
        return "/".join(f"{name}={value}" for name, value in self._values().items())

    def as_kwargs(self) -> dict[str, str]:
        """{'event_date': '2024-01-01', 'country': 'DE'}: the JSON form, one mapped instance's kwargs."""
        return self._values()

    @classmethod
    def from_key(cls, key: str) -> Partition:
        """The partition named '2024-01-01/DE' or '2024-01-01'."""
        values = key.split(_KEY_SEPARATOR) if isinstance(key, str) else []
        names = [f.name for f in fields(cls)]
        if not 1 <= len(values) <= len(names):
            raise PartitionError(
                f"a partition key is written YYYY-MM-DD or YYYY-MM-DD/CC, such as '2024-01-01/DE', got {key!r}"
            )
        try:
            return cls(**dict(zip(names, values, strict=False)))
        except PartitionError as exc:
            raise PartitionError(f"partition key {key!r}: {exc}") from None

    @classmethod
    def from_path(cls, path: str | PurePosixPath) -> Partition:
        """The partition in 'event_date=2024-01-01/country=DE' (a path relative to its table)."""
        names = [f.name for f in fields(cls)]
        parts = [part.split("=", 1) for part in PurePosixPath(path).parts] if str(path) else []
        found = [part[0] for part in parts]
        if not parts or any(len(part) != 2 for part in parts) or found != names[: len(found)]:
            raise PartitionError(
                "a partition path is written event_date=YYYY-MM-DD or event_date=YYYY-MM-DD/country=CC "
                f"(relative to its table), got {str(path)!r}"
            )
        try:
            return cls(**dict(parts))
        except PartitionError as exc:
            raise PartitionError(f"partition path {str(path)!r}: {exc}") from None


# `map_index_template` of a task mapped over `as_kwargs()` of date x country partitions: Airflow
# renders it from the instance's own kwargs (before the task runs) into `Partition.label`.
LABEL_TEMPLATE = _LABEL_SEPARATOR.join(f"{{{{ task.op_kwargs['{f.name}'] }}}}" for f in fields(Partition))


# ---------------------------------------------------------------- lists of partitions


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


def daily_partition(run_after: datetime | date | str) -> str:
    """The date a daily run processes, 'YYYY-MM-DD': the day before the run was due.

    On Airflow 3 a manually triggered run has no logical date (no `ds`), so the day comes
    from `dag_run.run_after`, which every run has.
    """
    if isinstance(run_after, str):
        try:
            run_after = datetime.fromisoformat(run_after.replace("Z", "+00:00"))
        except ValueError:
            raise PartitionError(f"run_after must be an ISO timestamp, got {run_after!r}") from None
    day = run_after.date() if isinstance(run_after, datetime) else run_after
    return (day - timedelta(days=1)).isoformat()


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def plan_partitions(
    mode: str,
    start_date: str | date | None = None,
    end_date: str | date | None = None,
    countries=None,
    run_after: datetime | date | str | None = None,
    max_partitions: int = DEFAULT_MAX_MAP_LENGTH,
) -> list[Partition]:
    """The partitions a run processes, in order (dates outer, countries inner).

    - daily:          the day before `run_after`;
    - range:          every date from start_date to end_date, both included;
    - country_reload: every date of the range for exactly one country.
    With `countries` each date is crossed with every country (date x country partitions);
    without (None), the partitions are dates alone (the demo DAG's table has no country).
    The count is checked against `[core] max_map_length` before any list is built.
    """
    if mode not in MODES:
        raise PartitionError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    codes = None if countries is None else parse_countries(countries)
    if mode == "country_reload" and (codes is None or len(codes) != 1):
        got = "none" if codes is None else f"{len(codes)}: {', '.join(codes)}"
        raise PartitionError(
            f"country_reload reloads one country: set countries to a single code such as ['DE'], "
            f"got {got}. To reload several countries use mode range."
        )
    if mode == "daily":
        if run_after is None:
            raise PartitionError("daily mode needs the run's run_after to know which day is yesterday")
        first, days = parse_date(daily_partition(run_after)), 1
    else:
        if not start_date or not end_date:
            raise PartitionError(f"{mode} mode needs both start_date and end_date")
        first, last = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
        if last < first:
            raise PartitionError(f"end_date {last} is before start_date {first}: swap them")
        days = (last - first).days + 1
    per_day = [None] if codes is None else codes
    detail = (
        ""
        if codes is None
        else f"{_plural(days, 'date', 'dates')} x {_plural(len(codes), 'country', 'countries')}"
    )
    check_count(days * len(per_day), max_partitions, detail)
    dates = [first + timedelta(days=i) for i in range(days)]
    return [Partition(day, code) for day in dates for code in per_day]


def date_range(
    start_date: str | date, end_date: str | date, max_partitions: int = DEFAULT_MAX_MAP_LENGTH
) -> list[str]:
    """Every date from start to end, both included, as 'YYYY-MM-DD' strings (the planner's range mode)."""
    planned = plan_partitions("range", start_date, end_date, max_partitions=max_partitions)
    return [p.event_date.isoformat() for p in planned]


def check_fail_partitions(keys, planned: list[Partition]) -> list[str]:
    """The fail_partitions test hook: partition keys, each one of a partition this run processes."""
    if keys is None:
        return []
    if not isinstance(keys, (list, tuple)):
        raise PartitionError(f"fail_partitions must be a list such as ['2024-01-01/DE'], got {keys!r}")
    wanted = [Partition.from_key(key).key for key in keys]
    known = {p.key for p in planned}
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


def plan_run(params: dict, run_after=None, max_partitions: int = DEFAULT_MAX_MAP_LENGTH) -> list[Partition]:
    """Validate every Param of a run and return its partitions: what a DAG's planning task calls.

    Reads `mode`, `start_date`, `end_date`, `countries` (absent: date-only partitions),
    `events_per_partition` and, where the DAG has them, `latency_s`, `fail_partitions` and
    `fail_tries`. If anything is wrong it raises here, the run fails before a single mapped
    instance exists, and the lake is untouched.
    """
    check_events_per_partition(params.get("events_per_partition"))
    check_latency_s(params.get("latency_s", 0))
    check_fail_tries(params.get("fail_tries", 1))
    planned = plan_partitions(
        params.get("mode"),
        params.get("start_date"),
        params.get("end_date"),
        params.get("countries"),
        run_after=run_after,
        max_partitions=max_partitions,
    )
    check_fail_partitions(params.get("fail_partitions", []), planned)
    return planned
