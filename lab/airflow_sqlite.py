"""How the lab's Airflow shares SQLite's one writer (imported by the Airflow processes themselves).

SQLite lets one connection write at a time; the others wait up to the driver's busy timeout,
5 s by default, then fail with "database is locked". Thirty runs triggered at once through the
REST API took the lab's Airflow down that way, in two steps this module undoes:

- the api-server serves every request concurrently, and Airflow 3.3 writes each write request's
  audit-log entry from an async dependency, on the event loop thread. While that INSERT waits
  for the lock, the whole server waits, including the request that holds the lock and needs the
  event loop to commit. So the lock was held for minutes. `OneWriteAtATime` (installed by the
  plugin in lab/airflow_plugins/) lets one REST write request in at a time: a request waits for
  the previous one without blocking anything;
- the scheduler, dag-processor and triggerer crashed when their heartbeat waited more than 5 s,
  so they wait up to two minutes (`[database] sql_alchemy_connect_args` points at the dicts
  below). The api-server keeps the 5 s: its audit-log INSERT blocks the event loop while it
  waits, so it had better give up (500 "Database error", which `lab.client` tries again).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

CONNECT_ARGS = {"timeout": 120.0}
CONNECT_ARGS_ASYNC = {"timeout": 120.0}
PLUGINS = Path(__file__).resolve().parent / "airflow_plugins"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def component_env(component: str, sql_alchemy_conn: str) -> dict[str, str]:
    """Environment of `component` for a metadata database at `sql_alchemy_conn` (nothing unless SQLite)."""
    if not sql_alchemy_conn.startswith("sqlite"):
        return {}
    if component == "api-server":
        return {"AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS)}
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": f"{__name__}.CONNECT_ARGS",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": f"{__name__}.CONNECT_ARGS_ASYNC",
    }


class OneWriteAtATime:
    """ASGI middleware: one REST API write request (/api/v2, not GET) in progress at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = asyncio.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in WRITES and scope["path"].startswith("/api/v2/"):
            async with self.lock:
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)
