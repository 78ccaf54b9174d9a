"""Reconciliation: what the orchestrator says about each partition next to what the lake holds.

Airflow knows which task instance processed a partition and how it ended; the lake knows which
files exist, how many rows they hold and when they were written. The two drift apart: a
partition deleted or lost after its run succeeded, files written by hand or by a script that
no run knows about, a reload whose latest attempt failed while an older file still answers
every query. Data teams build this comparison by hand; here it is one call:

    from lab.reconcile import partition_status, status_grid, style_status
    status = partition_status("partitioned_events", "2024-01-01", "2024-01-03", ["DE", "FR"])
    style_status(status)                   # one row per partition, the disagreements in colour
    status_grid(status)                    # the same as a date x country matrix

The orchestrator's view of a partition is its **latest attempt**: of every mapped task
instance, in any run, that processed the partition (read from its rendered arguments, its
`map_index_template` label or, for an instance that has not run yet, the planning task's XCom),
the one that started last; one that is waiting to start counts as the newest. The lake's view
is the partition's directory: its Parquet files, its rows (counted with DuckDB) and the newest
file's modification time.

| verdict | orchestrator | lake | flagged |
|---|---|---|---|
| ok | latest attempt succeeded | files written during that attempt | no |
| not loaded | no attempt | no files | no |
| in progress | queued, running, waiting for a retry | anything | no |
| success, no files | latest attempt succeeded | no files: deleted or lost since, or written to another lake | yes |
| files, no successful run | no attempt | files that no run wrote (by hand, a script, another DAG) | yes |
| failed, older files | latest attempt failed | files from an earlier write still answer queries | yes |
| failed, no files | latest attempt failed | no files | yes |
| files newer than the run | latest attempt succeeded | rewritten after it ended, outside Airflow | yes |
| success, older files | latest attempt succeeded | files older than the attempt: it did not write here | yes |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lab import lake
from lab.client import Airflow, AirflowError
from lab.partitions import COUNTRY_TABLE, PartitionError, date_range, known_countries, parse_countries


@dataclass(frozen=True)
class Source:
    """Where a DAG's partitions come from and go to."""

    dag_id: str
    task_id: str  # the mapped task that writes one partition
    plan_task_id: str  # the task whose XCom lists the partitions, in map index order
    table: str
    by_country: bool


SOURCES = {
    s.dag_id: s
    for s in (
        Source("partitioned_events", "write_partition", "plan_partitions", COUNTRY_TABLE, True),
        Source("dynamic_task_mapping_demo", "process_partition", "get_date_range", "events", False),
        Source("exercise_5_mapped", "write_partition", "plan_partitions", "exercise_events", True),
    )
}
FLAGGED = (
    "success, no files",
    "files, no successful run",
    "failed, older files",
    "failed, no files",
    "files newer than the run",
    "success, older files",
)
FAILED_STATES = ("failed", "upstream_failed")
NOT_ATTEMPTS = ("skipped", "removed")  # an instance that never processed its partition
TOLERANCE = pd.Timedelta(seconds=1)  # file times vs database times, both from this machine's clock
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_COUNTRY = re.compile(r"/\s*([A-Z]{2})\b")


def partition_status(
    dag_id: str,
    start_date: str,
    end_date: str,
    countries: list[str] | str | None = None,
    *,
    client: Airflow | None = None,
    lake_dir: str | Path | None = None,
) -> pd.DataFrame:
    """One row per partition of start_date..end_date (x countries): Airflow's view, the lake's, a verdict.

    `dag_id` is "partitioned_events" (table events_by_country, date x country),
    "dynamic_task_mapping_demo" (table events, one partition per date; `countries` must be None)
    or "exercise_5_mapped". `countries` defaults to every known country for a date x country DAG.

    Columns: event_date, [country,] state (of the latest attempt, missing if none), tries, run_id,
    finished_at (UTC), files, rows, written_at (UTC, newest file's mtime), verdict, flagged.
    Bad input (an unknown DAG, a reversed range, an unknown country) raises before any call.
    """
    source = _source(dag_id)
    dates = date_range(start_date, end_date)
    if source.by_country:
        codes = parse_countries(countries if countries is not None else list(known_countries()))
        keys = [(day, code) for day in dates for code in codes]
    elif countries is not None:
        raise PartitionError(f"{dag_id} writes one partition per date: leave countries out")
    else:
        keys = [(day, None) for day in dates]
    attempts = _attempts(client or Airflow(), source, set(keys))
    stored = _lake_view(source, keys, lake_dir)
    rows = []
    for key in keys:
        latest = attempts.get(key)
        files, count, written = stored[key]
        verdict = _verdict(latest, files, written)
        rows.append(
            {
                "event_date": key[0],
                "country": key[1],
                "state": latest["state"] if latest is not None else None,
                "tries": int(latest["try_number"]) if latest is not None else 0,
                "run_id": latest["dag_run_id"] if latest is not None else None,
                "finished_at": latest["end_date"] if latest is not None else pd.NaT,
                "files": files,
                "rows": count,
                "written_at": written,
                "verdict": verdict,
                "flagged": verdict in FLAGGED,
            }
        )
    df = pd.DataFrame(rows)
    for column in ("finished_at", "written_at"):
        df[column] = pd.to_datetime(df[column], utc=True)
    return df if source.by_country else df.drop(columns="country")


def _source(dag_id: str) -> Source:
    if dag_id not in SOURCES:
        raise PartitionError(
            f"no partition layout known for DAG {dag_id!r}: choose one of {', '.join(SOURCES)}"
        )
    return SOURCES[dag_id]


# ---------------------------------------------------------------- the orchestrator's view


def _attempts(af: Airflow, source: Source, wanted: set) -> dict:
    """partition key -> its latest task instance (a Series)."""
    tis = af.task_instances(source.dag_id, "~", task_id=source.task_id)
    plans: dict[str, list] = {}
    never = pd.Timestamp.max.tz_localize("UTC")  # not started yet: newer than every started attempt
    by_key: dict[tuple, list] = {}
    for _, ti in tis.iterrows():
        if ti["map_index"] < 0 or ti["state"] in NOT_ATTEMPTS:
            continue
        key = _key_of(af, source, ti, plans)
        if key in wanted:
            by_key.setdefault(key, []).append(ti)
    found = {}
    for key, group in by_key.items():

        def started(ti: pd.Series) -> tuple:
            for column in ("start_date", "queued_when", "scheduled_when"):
                if pd.notna(ti[column]):
                    return ti[column], str(ti["run_after"])
            return never, str(ti["run_after"])

        found[key] = max(group, key=started)
    return found


def _key_of(af: Airflow, source: Source, ti: pd.Series, plans: dict) -> tuple | None:
    """(event_date, country or None) that a task instance processes, from what Airflow kept of it."""
    fields = ti.get("rendered_fields")
    kwargs = (fields.get("op_kwargs") if isinstance(fields, dict) else None) or {}
    day = kwargs.get("event_date") or kwargs.get("date_str")
    country = kwargs.get("country")
    label = ti.get("rendered_map_index")
    if not day and isinstance(label, str) and (match := _DATE.search(label)):
        day = match.group()
        country = (_COUNTRY.search(label) or [None, None])[1] if source.by_country else None
    if not day:  # not run yet: nothing rendered, but the planning task's list says what it will do
        plan = plans.setdefault(ti["dag_run_id"], _plan(af, source, ti["dag_run_id"]))
        index = int(ti["map_index"])
        item = plan[index] if index < len(plan) else None
        day, country = (
            (item.get("event_date"), item.get("country")) if isinstance(item, dict) else (item, None)
        )
    if not isinstance(day, str):
        return None
    return (day, country if source.by_country else None)


def _plan(af: Airflow, source: Source, run_id: str) -> list:
    try:
        value = af.xcom(source.dag_id, run_id, source.plan_task_id)
    except AirflowError:
        return []
    return value if isinstance(value, list) else []


# ---------------------------------------------------------------- the lake's view


def _lake_view(source: Source, keys: list, lake_dir) -> dict:
    """partition key -> (number of Parquet files, rows, newest file's mtime or NaT)."""
    counts = lake.partition_counts(source.table, lake_dir)
    rows = dict(zip(counts["partition"], counts["rows"], strict=False)) if len(counts) else {}
    base = lake.table_dir(source.table, lake_dir)
    view = {}
    for day, country in keys:
        folder = lake.partition_dir(day, country, source.table, lake_dir)
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        written = (
            pd.Timestamp(max(f.stat().st_mtime_ns for f in files), unit="ns", tz="UTC") if files else pd.NaT
        )
        relative = str(folder.relative_to(base))
        view[(day, country)] = (len(files), int(rows.get(relative, 0)), written)
    return view


# ---------------------------------------------------------------- the verdict


def _verdict(latest: pd.Series | None, files: int, written) -> str:
    if latest is None:
        return "files, no successful run" if files else "not loaded"
    state = latest["state"]
    if state == "success":
        if not files:
            return "success, no files"
        if pd.notna(latest["start_date"]) and written < latest["start_date"] - TOLERANCE:
            return "success, older files"
        if pd.notna(latest["end_date"]) and written > latest["end_date"] + TOLERANCE:
            return "files newer than the run"
        return "ok"
    if state in FAILED_STATES:
        return "failed, older files" if files else "failed, no files"
    return "in progress"


# ---------------------------------------------------------------- views for a notebook


def status_grid(status: pd.DataFrame) -> pd.DataFrame:
    """The status as a matrix: one row per date, one column per country (a date-only DAG: one column)."""
    cells = status.assign(cell=[_cell(r) for _, r in status.iterrows()])
    if "country" not in cells:
        return cells.set_index("event_date")[["cell"]].rename(columns={"cell": "partition"})
    grid = cells.pivot(index="event_date", columns="country", values="cell")
    grid.columns.name = None
    return grid[list(dict.fromkeys(status["country"]))]


def _cell(row: pd.Series) -> str:
    if row["verdict"] == "ok":
        return f"ok, {row['rows']} rows"
    return row["verdict"]


_COLOURS = {"ok": "#dafbe1", "in progress": "#fff8c5", "not loaded": ""}


def style_status(status: pd.DataFrame):
    """A pandas Styler of `partition_status` (or `status_grid`): flagged cells red, ok green."""

    def colour(value) -> str:
        if not isinstance(value, str):
            return ""
        if value in FLAGGED:
            return "background-color: #ffebe9; color: #82071e; font-weight: bold"
        base = "ok" if value.startswith("ok") else value
        return f"background-color: {_COLOURS[base]}" if _COLOURS.get(base) else ""

    columns = ["verdict"] if "verdict" in status else list(status.columns)
    return status.style.map(colour, subset=columns).format(na_rep="")
