"""One DAG for the daily load and the reloads, on a schedule: `partitioned_events_daily` (lesson 05).

The DAG is `partitioned_events` with `schedule="@daily"` and the limits of
`lab.concurrency.DAILY`. `meet` makes a large manual reload meet the daily runs of two
scheduled days (replayed with a backfill, since the lab never lets the DAG run by itself) and
an urgent manual fix, all on one DAG, and returns every run and task instance, labelled, for
one timeline:

    from lab.daily import meet
    meeting = meet(af, reload={...}, fix={...}, days=("2024-04-02", "2024-04-03"), day_conf={...})
    meeting.runs          # one row per run: what it loaded, its dates, its span
    meeting.tis           # every task instance, with a `run` column (lab.plots.runs_gantt)

On Airflow 3 `@daily` is a CronTriggerTimetable: the run for day D has logical date D 00:00
(`ds` = D), `run_after` D 00:00 and a data interval of zero length (start = end = D 00:00),
whether the scheduler made it or a backfill did. Daily mode loads the day before `run_after`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lab.concurrency import DAILY, MAPPED_TASK
from lab.timeline import max_concurrency, max_concurrency_by, spans

DAG_ID = "partitioned_events_daily"
RELOAD, FIX = "reload (manual)", "urgent fix (manual)"
_MINUTE = "%Y-%m-%d %H:%M"  # day and time of day, UTC: how the lesson shows a run's dates


def schedule(client) -> dict:
    """The DAG's schedule as Airflow reports it: the timetable, and the next run it would create."""
    dag = client.dag(DAG_ID)
    details = client.dag_details(DAG_ID)
    keys = ("timetable_summary", "timetable_description", "catchup", "end_date", "max_active_runs")
    return {
        **{key: details.get(key) for key in keys},
        "next_dagrun_run_after": dag.get("next_dagrun_run_after"),
    }


def _scheduled_label(logical_date) -> str:
    return f"scheduled {pd.Timestamp(logical_date):%Y-%m-%d} (backfill)"


@dataclass
class Meeting:
    runs: pd.DataFrame  # one row per run, labelled, in the order they were started
    tis: pd.DataFrame  # every task instance of those runs, with a `run` column

    def writes(self) -> pd.DataFrame:
        """The mapped instances only: the partitions being written (what the pool counts)."""
        return self.tis[self.tis["task_id"] == MAPPED_TASK]

    def peaks(self) -> pd.Series:
        """Per run, the most partitions it wrote at the same moment."""
        return max_concurrency_by(self.writes(), "run")

    def total_peak(self) -> int:
        """The most partitions written at the same moment by all the runs together."""
        return max_concurrency(self.writes())

    def summary(self) -> pd.DataFrame:
        """One line per run: its type, its day (`ds`, "-" for a manual run), what it loaded, its state."""
        table = self.runs[["run", "run_type", "ds", "loads", "partitions", "state"]]
        return table.assign(ds=table["ds"].fillna("-"))

    def dates(self) -> pd.DataFrame:
        """The scheduled runs' dates (deterministic: no trigger time in them), as day and time UTC."""
        scheduled = self.runs[self.runs["run_type"] != "manual"]
        columns = ["logical_date", "run_after", "data_interval_start", "data_interval_end"]
        shown = scheduled.set_index("run")[["ds", *columns]].copy()
        for column in columns:
            shown[column] = pd.to_datetime(shown[column], utc=True).dt.strftime(_MINUTE)
        return shown.assign(loads=scheduled.set_index("run")["loads"])


def meet(
    client,
    reload: dict,
    fix: dict,
    days: tuple[str, str],
    day_conf: dict,
    pool_slots: int = DAILY.pool_slots,
    timeout: float = 600.0,
) -> Meeting:
    """Start a large reload, an urgent fix and the daily runs of `days` (a backfill) on one DAG, wait.

    The pool is sized first (a task whose pool does not exist is never scheduled). The reload
    and the fix are manual runs (`reload`, `fix` are their confs); the scheduled days run as a
    backfill of `days` (first, last) with `day_conf`, one run at a time. A backfill left active
    by an interrupted earlier call is completed first: a DAG has at most one active backfill.
    """
    client.set_pool(DAILY.pool, pool_slots, description="the warehouse's load slots (the lab's lesson 05)")
    for old in client.backfills(DAG_ID):
        if old["completed_at"] is None:
            client.complete_backfill(old["id"])
    manual = {RELOAD: client.trigger(DAG_ID, reload), FIX: client.trigger(DAG_ID, fix)}
    backfill = client.backfill(DAG_ID, days[0], days[1], max_active_runs=1, conf=day_conf)
    for run in manual.values():
        client.wait(DAG_ID, run["dag_run_id"], timeout=timeout, progress=False)
    first, last = pd.Timestamp(days[0], tz="UTC"), pd.Timestamp(days[1], tz="UTC")
    every = client.runs(DAG_ID)
    logical = pd.to_datetime(every["logical_date"], utc=True)
    days_runs = every[(every["run_type"] == "backfill") & (logical >= first) & (logical <= last)]
    for run_id in days_runs["dag_run_id"]:
        client.wait(DAG_ID, run_id, timeout=timeout, progress=False)
    client.complete_backfill(backfill["id"])  # every run has finished: let the next backfill start at once

    labelled = {label: run["dag_run_id"] for label, run in manual.items()}
    labelled.update(
        {
            _scheduled_label(r["logical_date"]): r["dag_run_id"]
            for _, r in days_runs.sort_values("logical_date").iterrows()
        }
    )
    runs, frames = [], []
    for label, run_id in labelled.items():
        run = client.run(DAG_ID, run_id)
        tis = client.task_instances(DAG_ID, run_id).assign(run=label)
        frames.append(tis)
        runs.append(_describe(label, run, tis))
    tis = pd.concat(frames, ignore_index=True)
    table = pd.DataFrame(runs)
    return Meeting(runs=table.join(spans(tis, "run"), on="run"), tis=tis)


def _describe(label: str, run: dict, tis: pd.DataFrame) -> dict:
    """One run: its type, its dates, the partitions its mapped instances wrote, its state."""
    mapped = tis[tis["task_id"] == MAPPED_TASK].sort_values("map_index")
    logical = run.get("logical_date")
    return {
        "run": label,
        "run_type": run["run_type"],
        "ds": pd.Timestamp(logical).strftime("%Y-%m-%d") if logical else None,
        "logical_date": logical,
        "run_after": run["run_after"],
        "data_interval_start": run.get("data_interval_start"),
        "data_interval_end": run.get("data_interval_end"),
        "loads": _summary(mapped["rendered_map_index"].astype(str).tolist()),
        "partitions": len(mapped),
        "state": run["state"],
    }


def _summary(labels: list[str]) -> str:
    """'2024-04-01 / DE, 2024-04-01 / FR' or, for many, the first and last with the count."""
    if len(labels) <= 3:
        return ", ".join(labels)
    return f"{labels[0]} ... {labels[-1]} ({len(labels)})"
