"""Task instances as the lessons read them: one row each, the useful columns first, times as UTC timestamps.

The REST API sends each task instance as JSON with some thirty fields; `lab.client` hands the rows
to `tis_frame`, and `lab.timeline` / `lab.plots` read the columns it guarantees.
"""

from __future__ import annotations

import pandas as pd

TI_TIME_COLUMNS = ["queued_when", "scheduled_when", "start_date", "end_date"]
# The task-instance columns the lessons read, first and in this order (the API sends more).
TI_COLUMNS = [
    *("dag_run_id", "task_id", "task_display_name", "map_index", "rendered_map_index", "state"),
    *("try_number", "hostname", *TI_TIME_COLUMNS, "duration"),
]


def tis_frame(rows: list[dict]) -> pd.DataFrame:
    """Task instances as a DataFrame with the columns the lessons use, times parsed, sorted."""
    df = pd.DataFrame(rows)
    for col in TI_COLUMNS:
        if col not in df:
            df[col] = None
    df = df[TI_COLUMNS + [c for c in df.columns if c not in TI_COLUMNS]]
    for col in TI_TIME_COLUMNS:
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    return df.sort_values(["dag_run_id", "task_id", "map_index"]).reset_index(drop=True)
