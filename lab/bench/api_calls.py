"""The Execution API calls a trial's tasks made, read from the api-server's access log.

Airflow 3's api-server logs every request it finished, with its duration (`http.access`).
Each task instance talks to it through its supervisor: start (`run`), its mapped argument
pulled from XCom, rendered fields, the rendered map index, its result pushed as XCom, success
(`state`), and a heartbeat every `[workers] min_heartbeat_interval` while it runs.

    calls = read_access_log(home / "lab-logs" / "api-server.log", since=t0, until=t1)
    per_endpoint(calls, task_instances=33)   # calls per task instance, median and total seconds
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

LINE = re.compile(
    r"^(?P<at>\S+) \[info\s*\] request finished .*?duration_us=(?P<us>\d+).*?"
    r"method=(?P<method>[A-Z]+) path=(?P<path>\S+).*?status_code=(?P<status>\d+)"
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
XCOM = re.compile(r"^/execution/xcoms/[^/]+/[^/]+/(?P<task>[^/]+)/(?P<key>[^/]+)")


def endpoint(path: str) -> str:
    """A request path with its identifiers replaced: one name per kind of call."""
    xcom = XCOM.match(path)
    if xcom:
        return f"/execution/xcoms/{{dag}}/{{run}}/{{task}}/{xcom['key']}"
    return UUID.sub("{id}", path)


def read_access_log(
    path: Path, since: pd.Timestamp | None = None, until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per finished request between `since` and `until`: at, method, endpoint, seconds, status."""
    rows = []
    with open(path, errors="replace") as log:
        for line in log:
            match = LINE.match(line)
            if match:
                rows.append(
                    {
                        "at": match["at"],
                        "method": match["method"],
                        "endpoint": endpoint(match["path"]),
                        "seconds": int(match["us"]) / 1e6,
                        "status": int(match["status"]),
                    }
                )
    calls = pd.DataFrame(rows, columns=["at", "method", "endpoint", "seconds", "status"])
    calls["at"] = pd.to_datetime(calls["at"], utc=True, format="ISO8601")
    if since is not None:
        calls = calls[calls["at"] >= since]
    if until is not None:
        calls = calls[calls["at"] <= until]
    return calls.reset_index(drop=True)


def per_endpoint(calls: pd.DataFrame, task_instances: int, prefix: str = "/execution/") -> pd.DataFrame:
    """Per Execution API endpoint: calls per task instance, median and total seconds (most called first)."""
    if task_instances < 1:
        raise ValueError(f"task_instances must be at least 1, got {task_instances}")
    execution = calls[calls["endpoint"].str.startswith(prefix)]
    table = execution.groupby(["method", "endpoint"])["seconds"].agg(
        calls="size", median_s="median", total_s="sum"
    )
    table["per_task_instance"] = (table["calls"] / task_instances).round(2)
    return table.sort_values("calls", ascending=False).reset_index()
