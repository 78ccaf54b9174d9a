"""Task-instance timelines: how many ran at once, and in which slot, from Airflow's own records.

Input is a DataFrame with `start_date` and `end_date` (UTC timestamps), as returned by
`lab.client.Airflow.task_instances`. Concurrency is observed, never assumed: two instances
overlap when one starts before the other ends.
"""

from __future__ import annotations

import pandas as pd


def _ran(tis: pd.DataFrame) -> pd.DataFrame:
    return tis.dropna(subset=["start_date", "end_date"]).sort_values(["start_date", "end_date"])


def max_concurrency(tis: pd.DataFrame) -> int:
    """The largest number of task instances running at the same moment."""
    events = []
    for row in _ran(tis).itertuples():
        events.append((row.start_date, 1))
        events.append((row.end_date, -1))
    running = peak = 0
    # (time, -1) sorts before (time, +1): an instance ending as another starts does not overlap it.
    for _, delta in sorted(events):
        running += delta
        peak = max(peak, running)
    return peak


def max_concurrency_by(tis: pd.DataFrame, column: str) -> pd.Series:
    """The peak of `max_concurrency` within each group of `column` (e.g. per run), in order of appearance."""
    groups = list(dict.fromkeys(tis[column]))
    return pd.Series({group: max_concurrency(tis[tis[column] == group]) for group in groups}, dtype=int)


def spans(tis: pd.DataFrame, column: str) -> pd.DataFrame:
    """For each group of `column`: its first start and its last end (a run's span, from its task instances)."""
    ran = _ran(tis)
    return ran.groupby(column, sort=False).agg(
        first_start=("start_date", "min"), last_end=("end_date", "max")
    )


def overlaps(a: pd.Series, b: pd.Series) -> bool:
    """Whether two spans (rows of `spans`) ran at the same time at some moment."""
    return a["first_start"] < b["last_end"] and b["first_start"] < a["last_end"]


def assign_lanes(tis: pd.DataFrame) -> pd.DataFrame:
    """Add a `lane` column: the lowest slot free when the instance started (a Gantt chart's rows)."""
    ran = _ran(tis).copy()
    lane_ends: list[pd.Timestamp] = []
    lanes = []
    for row in ran.itertuples():
        for lane, end in enumerate(lane_ends):
            if end <= row.start_date:
                lane_ends[lane] = row.end_date
                lanes.append(lane)
                break
        else:
            lane_ends.append(row.end_date)
            lanes.append(len(lane_ends) - 1)
    ran["lane"] = lanes
    return ran


def span_seconds(tis: pd.DataFrame, since: pd.Timestamp | None = None) -> float:
    """Seconds from `since` (default: the first start) to the last end."""
    ran = _ran(tis)
    if ran.empty:
        return 0.0
    start = since if since is not None else ran["start_date"].min()
    return (ran["end_date"].max() - start).total_seconds()
