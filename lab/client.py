"""A small client for Airflow 3's REST API (/api/v2): trigger, wait, backfill, task instances as DataFrames.

A thin httpx wrapper rather than the generated `apache-airflow-client`: the lab needs a dozen
calls, wants pandas out, and should read like the REST docs a participant can look up.
Works against the lab's local Airflow (no login on loopback) or any Airflow given by
LAB_AIRFLOW_URL plus LAB_AIRFLOW_TOKEN or LAB_AIRFLOW_USERNAME / LAB_AIRFLOW_PASSWORD.
"""

from __future__ import annotations

import random
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime

import httpx
import pandas as pd

from lab.config import Settings, settings

TERMINAL_RUN_STATES = {"success", "failed"}
FINISHED_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}
TI_TIME_COLUMNS = ["queued_when", "scheduled_when", "start_date", "end_date"]
TRIGGER_TIMEOUT_S = 180.0


class AirflowError(RuntimeError):
    """The API refused a call, or a run did not finish as asked; the message has Airflow's reason."""

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code  # the HTTP status when the API refused the call


class RunTimeout(AirflowError):
    """A run was still going when the wait ran out."""


def retry_when_locked(
    call, attempts: int = 10, pause_s: float = 0.5, max_pause_s: float = 5.0, retry_if=None, jitter=False
):
    """Call `call()` again while the API answers that SQLite is busy; other errors go straight up.

    Airflow answers 503 "Database is locked" to a backfill it could not create on SQLite under
    concurrent writes, after rolling it back, so that the caller can try again; any write can
    also get 500 "Database error" when its audit-log entry waited too long for the lock (see
    lab.airflow_sqlite). The writes come in bursts (the DAG processor rewrites every parsed DAG
    every `min_file_process_interval`, for several seconds on 2 cores), so the pauses grow:
    over 20 s in all by default. `retry_if(exc)` widens what is retried; `jitter` spreads the
    pauses of many callers refused at once, so that they do not all come back together.
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except AirflowError as exc:
            if not (_busy(exc) or (retry_if and retry_if(exc))) or attempt == attempts:
                raise
            time.sleep(min(pause_s * attempt, max_pause_s) * (random.uniform(0.5, 1.5) if jitter else 1))
    raise ValueError(f"attempts must be at least 1, not {attempts}")


def _no_answer(exc: AirflowError) -> bool:
    return exc.status_code is None and "no answer" in str(exc)


def _busy(exc: AirflowError) -> bool:
    return exc.status_code == 503 or (exc.status_code == 500 and "Database error" in str(exc))


def _loopback(url: str) -> bool:
    return httpx.URL(url).host in ("127.0.0.1", "localhost", "::1")


class Airflow:
    def __init__(self, url: str | None = None, cfg: Settings | None = None, timeout: float = 30.0):
        self.cfg = cfg or settings()
        self.url = (url or self.cfg.url).rstrip("/")
        self.http = httpx.Client(
            base_url=f"{self.url}/api/v2",
            timeout=timeout,
            headers=self._auth_headers(),
            trust_env=not _loopback(self.url),  # a proxy for the internet must not get 127.0.0.1's calls
        )

    def __repr__(self) -> str:
        return f"Airflow({self.url!r})"

    @property
    def ui_url(self) -> str:
        return self.url

    def _auth_headers(self) -> dict[str, str]:
        if self.cfg.token:
            return {"Authorization": f"Bearer {self.cfg.token}"}
        if self.cfg.username and self.cfg.password:
            response = httpx.post(
                f"{self.url}/auth/token",
                json={"username": self.cfg.username, "password": self.cfg.password},
                timeout=30,
            )
            if response.status_code >= 300:
                raise AirflowError(f"login to {self.url} as {self.cfg.username} failed: {response.text}")
            return {"Authorization": f"Bearer {response.json()['access_token']}"}
        return {}  # the lab's local Airflow: simple auth manager with all_admins on loopback

    # ------------------------------------------------------------------ plumbing

    def request(self, method: str, path: str, **kwargs) -> dict:
        # A busy laptop (SQLite locked by the scheduler, two cores shared) can stall the API for a
        # while: reads are retried, writes are not (a POST that timed out may still have happened).
        attempts = 3 if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self.http.request(method, path, **kwargs)
                break
            except httpx.ConnectError as exc:
                raise AirflowError(
                    f"cannot reach Airflow at {self.url} ({exc}). Is it running? Try `lab status`."
                ) from exc
            except httpx.TimeoutException as exc:
                if attempt == attempts:
                    raise AirflowError(
                        f"{method} {path}: no answer from Airflow at {self.url} after {attempts} tries "
                        f"({type(exc).__name__}). Is the machine overloaded? Try `lab status`."
                    ) from exc
        if response.status_code >= 300:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise AirflowError(
                f"{method} {path} -> {response.status_code}: {detail}", status_code=response.status_code
            )
        return response.json() if response.content else {}

    def _paged(self, path: str, key: str, params: dict | None = None, page: int = 100) -> list[dict]:
        items, offset = [], 0
        while True:
            data = self.request("GET", path, params={**(params or {}), "limit": page, "offset": offset})
            items.extend(data[key])
            offset += page
            if offset >= data.get("total_entries", 0) or not data[key]:
                return items

    # ------------------------------------------------------------------ DAGs

    def dag(self, dag_id: str) -> dict:
        return self.request("GET", f"/dags/{dag_id}")

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> dict:
        """Wait until the dag-processor has parsed `dag_id`; surface its import error if it has one."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.dag(dag_id)
            except AirflowError as exc:
                if exc.status_code != 404:
                    raise
            errors = self.import_errors()
            if errors:
                raise AirflowError(f"DAG files failed to import: {errors}")
            if time.monotonic() > deadline:
                raise AirflowError(
                    f"DAG {dag_id!r} did not appear within {timeout:.0f} s: is the file in dags/?"
                )
            time.sleep(1)

    def import_errors(self) -> dict[str, str]:
        return {e["filename"]: e["stack_trace"] for e in self._paged("/importErrors", "import_errors")}

    def set_paused(self, dag_id: str, paused: bool) -> dict:
        return self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def unpause(self, dag_id: str) -> dict:
        return self.set_paused(dag_id, False)

    @contextmanager
    def paused(self, dag_id: str):
        """Keep the scheduler away from the DAG's runs inside the block; unpause it on the way out.

        The scheduler neither starts nor schedules runs of a paused DAG, so what the block
        creates (and Airflow may delete again, see `create_backfill`) is not in use yet.
        """
        self.set_paused(dag_id, True)
        try:
            yield
        finally:
            self.unpause(dag_id)

    # ------------------------------------------------------------------ runs

    def trigger(
        self, dag_id: str, conf: dict | None = None, run_id: str | None = None, unpause: bool = True
    ) -> dict:
        """Start a manual run (no logical date, as the UI's trigger button does) and return it."""
        dag = self.wait_for_dag(dag_id)
        if unpause and dag.get("is_paused", True):
            retry_when_locked(lambda: self.unpause(dag_id), retry_if=_no_answer)
        # The run id is chosen here, in Airflow's format, so that trying again is safe: when an
        # attempt whose answer was lost did create the run, the next one gets 409 for this id.
        run_id = run_id or f"manual__{datetime.now(UTC).isoformat()}"
        body: dict = {"logical_date": None, "conf": conf or {}, "dag_run_id": run_id}
        tries: list[AirflowError] = []

        def create() -> dict:
            try:
                # A busy SQLite queues the request: waiting for it beats sending it again.
                return self.request("POST", f"/dags/{dag_id}/dagRuns", json=body, timeout=TRIGGER_TIMEOUT_S)
            except AirflowError as exc:
                if exc.status_code == 409 and tries:
                    return self.run(dag_id, run_id)  # created by an earlier attempt after all
                tries.append(exc)
                raise

        return retry_when_locked(create, attempts=20, max_pause_s=10.0, retry_if=_no_answer, jitter=True)

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str, **filters) -> pd.DataFrame:
        return pd.DataFrame(self._paged(f"/dags/{dag_id}/dagRuns", "dag_runs", filters))

    def wait(
        self, dag_id: str, run_id: str, timeout: float = 300.0, progress: bool = True, poll: float = 1.0
    ) -> dict:
        """Wait for a run to finish, with a progress bar over its task instances; return the run."""
        bar = _progress(f"{dag_id} / {run_id}", progress)
        deadline = time.monotonic() + timeout
        try:
            while True:
                run = self.run(dag_id, run_id)
                tis = self.request(
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

    def run_url(self, dag_id: str, run_id: str) -> str:
        """Where the run is in the Airflow UI."""
        return f"{self.url}/dags/{dag_id}/runs/{run_id}"

    # ------------------------------------------------------------------ task instances

    def task_instances(self, dag_id: str, run_id: str = "~", **filters) -> pd.DataFrame:
        """Task instances, mapped ones included, one row each, times as UTC timestamps."""
        rows = self._paged(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances", filters)
        return tis_frame(rows)

    def clear(self, dag_id: str, run_id: str, task_id: str, map_indexes: list[int] | None = None) -> dict:
        """Clear (re-run) one task, or some mapped instances of it, in one run."""
        target = [[task_id, i] for i in map_indexes] if map_indexes is not None else [task_id]
        return self.request(
            "POST",
            f"/dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": target,
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, key: str = "return_value"):
        """What a task instance pushed to XCom (by default its return value), as JSON-decoded Python."""
        data = self.request(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"map_index": map_index},
        )
        return data.get("value")

    def _log_entries(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> list:
        data = self.request(
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
        return self.request("GET", f"/pools/{name}")

    def set_pool(self, name: str, slots: int, description: str = "") -> dict:
        """Create the pool `name` with `slots` slots, or resize it if it exists (takes effect at once)."""
        try:
            current = self.pool(name)
        except AirflowError as exc:
            if "404" not in str(exc):
                raise
            return self.request(
                "POST", "/pools", json={"name": name, "slots": slots, "description": description}
            )
        # The API validates a whole pool, but update_mask makes it change only slots and description.
        body = {
            "pool": name,
            "slots": slots,
            "description": description,
            "include_deferred": current["include_deferred"],
        }
        return self.request(
            "PATCH", f"/pools/{name}", params={"update_mask": ["slots", "description"]}, json=body
        )

    # ------------------------------------------------------------------ backfills

    def backfill(self, dag_id: str, from_date, to_date, attempts: int = 10, **options) -> dict:
        """Ask the scheduler for one run per schedule interval in [from_date, to_date] (Airflow 3 backfill).

        The runs are created while the DAG is paused (see `create_backfill`), retried while
        Airflow answers 503, and the DAG is unpaused once they exist: the scheduler does not run
        a paused DAG's backfill. `options` are `create_backfill`'s.
        """
        self.wait_for_dag(dag_id)
        with self.paused(dag_id):
            return retry_when_locked(
                lambda: self.create_backfill(dag_id, from_date, to_date, **options), attempts
            )

    def create_backfill(
        self,
        dag_id: str,
        from_date: date | datetime | str,
        to_date: date | datetime | str,
        max_active_runs: int = 1,
        conf: dict | None = None,
        reprocess_behavior: str = "completed",
    ) -> dict:
        """One POST /backfills; call it inside `paused(dag_id)`, under `retry_when_locked`.

        On SQLite, creating the runs can collide with the scheduler's writes. Airflow then answers
        503 "Database is locked" after deleting the runs it had created, so the caller can retry.
        Were the DAG unpaused, the scheduler could already be scheduling those runs, and on
        Airflow 3.3 the deletion under its feet crashes the scheduler (seen in the benchmark).
        """
        body = {
            "dag_id": dag_id,
            "from_date": _iso(from_date),
            "to_date": _iso(to_date),
            "run_backwards": False,
            "dag_run_conf": conf or {},
            "reprocess_behavior": reprocess_behavior,
            "max_active_runs": max_active_runs,
        }
        return self.request("POST", "/backfills", json=body)

    def backfill_runs(self, dag_id: str, backfill_id: int) -> pd.DataFrame:
        runs = self.runs(dag_id, run_type="backfill")
        if runs.empty:
            return runs
        return (
            runs[runs["run_id"].notna()].reset_index(drop=True)
            if "backfill_id" not in runs
            else runs[runs["backfill_id"] == backfill_id].reset_index(drop=True)
        )

    def wait_backfill(
        self, dag_id: str, backfill_id: int, expected_runs: int, timeout: float = 600.0, progress: bool = True
    ) -> pd.DataFrame:
        """Wait until every run of a backfill has finished; return the runs."""
        bar = _progress(f"backfill {backfill_id} of {dag_id}", progress, total=expected_runs)
        deadline = time.monotonic() + timeout
        try:
            while True:
                runs = self.backfill_runs(dag_id, backfill_id)
                done = int(runs["state"].isin(TERMINAL_RUN_STATES).sum()) if len(runs) else 0
                bar.n = done
                bar.refresh()
                if len(runs) >= expected_runs and done == len(runs):
                    return runs
                if time.monotonic() > deadline:
                    raise RunTimeout(
                        f"backfill {backfill_id}: {done}/{expected_runs} runs finished after {timeout:.0f} s"
                    )
                time.sleep(1)
        finally:
            bar.close()


def _log_line(entry) -> str:
    """One structured log entry as text; an exception becomes 'Type: message' lines."""
    if not isinstance(entry, dict):
        return str(entry)
    text = str(entry.get("event", ""))
    for err in entry.get("error_detail") or []:
        text += f"\n{err.get('exc_type')}: {err.get('exc_value')}"
    return text


def tis_frame(rows: list[dict]) -> pd.DataFrame:
    """Task instances as a DataFrame with the columns the lessons use, times parsed, sorted."""
    columns = [
        "dag_run_id",
        "task_id",
        "task_display_name",
        "map_index",
        "rendered_map_index",
        "state",
        "try_number",
        "hostname",
        *TI_TIME_COLUMNS,
        "duration",
    ]
    df = pd.DataFrame(rows)
    for col in columns:
        if col not in df:
            df[col] = None
    df = df[columns + [c for c in df.columns if c not in columns]]
    for col in TI_TIME_COLUMNS:
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    return df.sort_values(["dag_run_id", "task_id", "map_index"]).reset_index(drop=True)


def _iso(value: date | datetime | str) -> str:
    """An ISO timestamp for the API; a day (a date or "YYYY-MM-DD") is midnight UTC."""
    if isinstance(value, str) and len(value) == 10:
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    return value


def _progress(desc: str, enabled: bool, total: int = 1):
    import warnings

    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        # Without ipywidgets tqdm.auto falls back to a text bar (fine in notebooks too), but
        # warns with a machine path; the warning must not end up in a notebook's outputs.
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)
