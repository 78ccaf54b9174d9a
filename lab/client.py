"""Airflow 3's REST API (/api/v2) as the lab's operations: trigger, wait, backfill, read task instances.

    from lab.client import Airflow, AirflowError
    af = Airflow()                         # the lab's Airflow (LAB_* settings), or Airflow(url=...)
    run = af.trigger_and_wait("dynamic_task_mapping_demo", {"mode": "daily"})

A thin layer rather than the generated `apache-airflow-client`: the lab needs a few dozen
calls, wants pandas out, and should read like the REST docs a participant can look up. How a
request travels (login, errors, paging, sending again what a busy SQLite refused) is
`lab.transport`'s job; this module says what the lab asks Airflow to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pandas as pd

from lab.task_instances import tis_frame
from lab.transport import AirflowError, Retry, Transport

__all__ = ["TERMINAL_RUN_STATES", "Airflow", "AirflowError", "RunTimeout", "tis_frame"]

TERMINAL_RUN_STATES = {"success", "failed"}
FINISHED_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}
# Twenty participants pressing "Trigger" at once on SQLite: a busy database queues the request
# (waiting for it beats sending it again), and the refused ones come back spread out in time.
TRIGGER_TIMEOUT_S = 180.0
TRIGGER_RETRY = Retry(attempts=20, max_pause_s=10.0, jitter=True)


class RunTimeout(AirflowError):
    """A run was still going when the wait ran out."""


class Airflow:
    """The lab's operations on one Airflow; `transport` (default: from the LAB_* settings) carries them."""

    def __init__(self, url: str | None = None, *, transport: Transport | None = None, **options):
        """`url` and `options` (`cfg`, `timeout`) make the default transport; `transport` replaces it."""
        self.api = transport or Transport(url, **options)
        self.cfg = self.api.cfg
        self.url = self.api.url

    def __repr__(self) -> str:
        return f"Airflow({self.url!r})"

    def request(self, method: str, path: str, **kwargs) -> dict:
        """One raw API call (`path` below /api/v2), for what the operations below do not cover.

        The lessons use it to show a REST call as the docs spell it; `kwargs` are the transport's.
        """
        return self.api.request(method, path, **kwargs)

    # ------------------------------------------------------------------ DAGs

    def dag(self, dag_id: str) -> dict:
        return self.api.request("GET", f"/dags/{dag_id}")

    def dag_details(self, dag_id: str) -> dict:
        """The DAG as parsed: timetable, params, file_token ... (`dag` is the DAG list's row)."""
        return self.api.request("GET", f"/dags/{dag_id}/details")

    def reparse(self, dag_id: str) -> None:
        """Put the DAG's file first in the dag-processor's queue (it gets there anyway, later)."""
        token = self.dag_details(dag_id)["file_token"]
        self.api.request("PUT", f"/parseDagFile/{token}", idempotent=True)

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> dict:
        """Wait until the dag-processor has parsed `dag_id`; surface its import error if it has one.

        A file named after the DAG that failed to import ends the wait at once; another file's
        error (a participant's broken exercise) does not stop this DAG, it is only named if
        this DAG never shows up.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.dag(dag_id)
            except AirflowError as exc:
                if exc.status_code != 404:
                    raise
            errors = self.import_errors()
            own = {f: e for f, e in errors.items() if f.rsplit("/", 1)[-1] == f"{dag_id}.py"}
            if own:
                raise AirflowError(f"DAG file of {dag_id!r} failed to import: {own}")
            if time.monotonic() > deadline:
                raise AirflowError(
                    f"DAG {dag_id!r} did not appear within {timeout:.0f} s: is the file in dags/?"
                    + (f" These DAG files failed to import: {errors}" if errors else "")
                )
            time.sleep(1)

    def import_errors(self) -> dict[str, str]:
        return {e["filename"]: e["stack_trace"] for e in self.api.paged("/importErrors", "import_errors")}

    def set_paused(self, dag_id: str, paused: bool) -> dict:
        return self.api.request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused}, idempotent=True)

    def unpause(self, dag_id: str) -> dict:
        return self.set_paused(dag_id, False)

    @contextmanager
    def paused(self, dag_id: str):
        """Keep the scheduler away from the DAG's runs inside the block; unpause it on the way out.

        The scheduler neither starts nor schedules runs of a paused DAG, so what the block
        creates (and Airflow may delete again, see `backfill`) is not in use yet.
        """
        self.set_paused(dag_id, True)
        try:
            yield
        finally:
            self.unpause(dag_id)

    # ------------------------------------------------------------------ runs

    def trigger(
        self,
        dag_id: str,
        conf: dict | None = None,
        run_id: str | None = None,
        unpause: bool = True,
        on_send: Callable[[], None] | None = None,
    ) -> dict:
        """Start a manual run (no logical date, as the UI's trigger button does) and return it.

        The run id is chosen here (Airflow's format unless given), so the request is safe to send
        again when its answer is lost: a repeat that finds the run created (409) by the earlier
        try, with this conf, returns that run. `on_send` is the transport's (called before each
        try of the creating request).
        """
        dag = self.wait_for_dag(dag_id)
        if unpause and dag.get("is_paused", True):
            self.unpause(dag_id)
        chosen = run_id or f"manual__{datetime.now(UTC).isoformat()}"
        body: dict = {"logical_date": None, "conf": conf or {}, "dag_run_id": chosen}
        path = f"/dags/{dag_id}/dagRuns"
        try:
            return self.api.request(
                "POST",
                path,
                json=body,
                idempotent=True,
                on_send=on_send,
                retry=TRIGGER_RETRY,
                timeout=TRIGGER_TIMEOUT_S,
            )
        except AirflowError as exc:
            if exc.status_code != 409:
                raise
            if exc.attempts > 1:
                existing = self.run(dag_id, chosen)
                if existing.get("conf") == body["conf"]:
                    return existing
            raise AirflowError(
                f"DAG {dag_id} already has a run {chosen!r}: pick another run id, or delete that run",
                status_code=409,
                attempts=exc.attempts,
            ) from exc

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.api.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str, **filters) -> pd.DataFrame:
        return pd.DataFrame(self.api.paged(f"/dags/{dag_id}/dagRuns", "dag_runs", filters))

    def delete_run(self, dag_id: str, run_id: str) -> None:
        """Delete a run with its task instances and XComs (a repeat after a lost answer finds it gone)."""
        try:
            self.api.request("DELETE", f"/dags/{dag_id}/dagRuns/{run_id}", idempotent=True)
        except AirflowError as exc:
            if exc.status_code != 404 or exc.attempts == 1:
                raise

    def wait(
        self, dag_id: str, run_id: str, timeout: float = 300.0, progress: bool = True, poll: float = 1.0
    ) -> dict:
        """Wait for a run to finish, with a progress bar over its task instances; return the run."""
        bar = _progress(f"{dag_id} / {run_id}", progress)
        deadline = time.monotonic() + timeout
        try:
            while True:
                run = self.run(dag_id, run_id)
                tis = self.api.request(
                    "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}
                )
                states = [ti["state"] for ti in tis["task_instances"]]
                bar.total = max(len(states), 1)
                bar.n = sum(s in FINISHED_TI_STATES for s in states)
                bar.set_postfix_str(run["state"])
                bar.refresh()
                if run["state"] in TERMINAL_RUN_STATES:
                    return run
                if time.monotonic() > deadline:
                    raise RunTimeout(f"run {run_id} of {dag_id} still {run['state']} after {timeout:.0f} s")
                time.sleep(poll)
        finally:
            bar.close()

    def trigger_and_wait(
        self, dag_id: str, conf: dict | None = None, timeout: float = 300.0, **kwargs
    ) -> dict:
        run = self.trigger(dag_id, conf, run_id=kwargs.pop("run_id", None))
        return self.wait(dag_id, run["dag_run_id"], timeout=timeout, **kwargs)

    def dag_url(self, dag_id: str) -> str:
        """Where the DAG is in the Airflow UI."""
        return f"{self.url}/dags/{dag_id}"

    def run_url(self, dag_id: str, run_id: str) -> str:
        """Where the run is in the Airflow UI."""
        return f"{self.dag_url(dag_id)}/runs/{run_id}"

    # ------------------------------------------------------------------ task instances

    def task_instances(self, dag_id: str, run_id: str = "~", **filters) -> pd.DataFrame:
        """Task instances, mapped ones included, one row each, times as UTC timestamps."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return tis_frame(self.api.paged(path, "task_instances", filters))

    def clear(self, dag_id: str, run_id: str, task_id: str, map_indexes: list[int] | None = None) -> dict:
        """Clear (re-run) one task, or some mapped instances of it, in one run."""
        target = [[task_id, i] for i in map_indexes] if map_indexes is not None else [task_id]
        body = {"dag_run_id": run_id, "task_ids": target, "only_failed": False, "reset_dag_runs": True}
        return self.api.request("POST", f"/dags/{dag_id}/clearTaskInstances", json={**body, "dry_run": False})

    def xcom(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        map_index: int = -1,
        key: str = "return_value",
        deserialize: bool = False,
    ):
        """What a task instance pushed to XCom (by default its return value), as JSON-decoded Python.

        `deserialize=True` has Airflow turn the stored value back into the object the task
        returned (through the XCom backend) before sending it. A missing entry is a 404 `AirflowError`.
        """
        data = self.api.request(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"map_index": map_index, **({"deserialize": True} if deserialize else {})},
        )
        return data.get("value")

    def _log_entries(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> list:
        data = self.api.request(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index},
            headers={"Accept": "application/json"},
        )
        content = data.get("content", [])
        return content if isinstance(content, list) else [content]

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int = 1
    ) -> str:
        """A task instance's log as text (Airflow 3 stores it as structured JSON lines)."""
        return "\n".join(
            _log_line(e) for e in self._log_entries(dag_id, run_id, task_id, map_index, try_number)
        )

    def task_error(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int = 1
    ) -> str:
        """The exception a task instance failed with, as 'Type: message' ('' if it did not fail)."""
        entries = self._log_entries(dag_id, run_id, task_id, map_index, try_number)
        return "\n".join(
            f"{err.get('exc_type')}: {err.get('exc_value')}"
            for e in entries
            if isinstance(e, dict)
            for err in e.get("error_detail") or []
        )

    # ------------------------------------------------------------------ pools

    def pool(self, name: str) -> dict:
        """A pool with its slots and how many of them are running, queued, open."""
        return self.api.request("GET", f"/pools/{name}")

    def set_pool(self, name: str, slots: int, description: str = "") -> dict:
        """Create the pool `name` with `slots` slots, or resize it if it exists (takes effect at once)."""
        try:
            current = self.pool(name)
        except AirflowError as exc:
            if exc.status_code != 404:
                raise
            return self.api.request(
                "POST", "/pools", json={"name": name, "slots": slots, "description": description}
            )
        # The API validates a whole pool, but update_mask makes it change only slots and description.
        body = {
            "pool": name,
            "slots": slots,
            "description": description,
            "include_deferred": current["include_deferred"],
        }
        return self.api.request(
            "PATCH",
            f"/pools/{name}",
            params={"update_mask": ["slots", "description"]},
            json=body,
            idempotent=True,
        )

    # ------------------------------------------------------------------ backfills

    def backfill(
        self,
        dag_id: str,
        from_date: date | datetime | str,
        to_date: date | datetime | str,
        max_active_runs: int = 1,
        conf: dict | None = None,
        reprocess_behavior: str = "completed",
        on_send: Callable[[], None] | None = None,
    ) -> dict:
        """Ask the scheduler for one run per schedule interval in [from_date, to_date] (Airflow 3 backfill).

        The runs are created while the DAG is paused, and the DAG is unpaused once they exist
        (the scheduler does not run a paused DAG's backfill). On SQLite, creating them can
        collide with the scheduler's writes: Airflow then answers 503 "Database is locked" after
        deleting the runs it had created, and the transport sends the request again. Were the DAG
        unpaused, the scheduler could already be scheduling those runs, and on Airflow 3.3 the
        deletion under its feet crashes the scheduler. `on_send` is the transport's.
        """
        self.wait_for_dag(dag_id)
        body = {
            "dag_id": dag_id,
            "from_date": _iso(from_date),
            "to_date": _iso(to_date),
            "run_backwards": False,
            "dag_run_conf": conf or {},
            "reprocess_behavior": reprocess_behavior,
            "max_active_runs": max_active_runs,
        }
        with self.paused(dag_id):
            return self.api.request("POST", "/backfills", json=body, on_send=on_send)

    def backfills(self, dag_id: str) -> list[dict]:
        """Every backfill of a DAG; an active one has `completed_at` None."""
        return self.api.paged("/backfills", "backfills", {"dag_id": dag_id})

    def complete_backfill(self, backfill_id: int) -> dict | None:
        """Mark a backfill complete now; returns it, or None when it was complete already.

        Through the cancel endpoint, which fails the backfill's runs that are still queued: call
        it once every run has finished, when nothing is left to cancel. The scheduler would mark
        it complete by itself, but only on its next check (every 30 s), and a DAG has at most one
        active backfill.
        """
        try:
            return self.api.request("PUT", f"/backfills/{backfill_id}/cancel", idempotent=True)
        except AirflowError as exc:
            if exc.status_code != 409:  # 409: already completed
                raise
            return None


def _log_line(entry) -> str:
    """One structured log entry as text; an exception becomes 'Type: message' lines."""
    if not isinstance(entry, dict):
        return str(entry)
    text = str(entry.get("event", ""))
    for err in entry.get("error_detail") or []:
        text += f"\n{err.get('exc_type')}: {err.get('exc_value')}"
    return text


def _iso(value: date | datetime | str) -> str:
    """An ISO timestamp for the API; a day (a date or "YYYY-MM-DD") is midnight UTC."""
    if isinstance(value, str) and len(value) == 10:
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    return value


def _progress(desc: str, enabled: bool):
    import warnings

    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        # Without ipywidgets tqdm.auto falls back to a text bar (fine in notebooks too), but
        # warns with a machine path; the warning must not end up in a notebook's outputs.
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm

    return tqdm(total=1, desc=desc, disable=not enabled, leave=False)
