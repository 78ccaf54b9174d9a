"""The HTTP side of `lab.client`: one session on Airflow's /api/v2, login, errors, paging, retries.

Only `lab.client` uses it: the lab-level operations (trigger, wait, backfill ...) live there,
and how a request travels lives here.

What is sent again, and why it is safe:

- **The metadata database was busy.** Airflow 3.3 on SQLite serialises writes; a request that
  meets a lock fails and its transaction is rolled back. `POST /backfills` says so with 503
  "Database is locked" (and deletes the runs it had created); every other route answers 500
  with the reason "Database error", Airflow's handler for any SQLAlchemy error, after the
  request's session was rolled back (of many runs triggered at once, some are refused whole,
  none is half-written). Nothing of the refused request was written, so it is sent again, reads
  and writes alike, after pauses that grow and are capped: the DAG processor's write bursts
  last seconds on 2 cores. When the database stays busy the last answer is raised, with a hint.
- **No answer at all** (a timeout): the request may have been carried out. Reads are sent
  again; a write only when its caller says a repeat is harmless or recognisable (`idempotent`),
  and the caller handles what a repeat answers (409 for a run id that exists already).
- **No connection**: Airflow is not running; not retried.

One client sends one write at a time (`WRITES_AT_ONCE`; threads sharing it wait their turn):
SQLite takes one write at a time anyway; concurrent ones only meet each other's locks inside
the API server, wait out SQLite's lock timeout (5 s) and are refused, so sending them one
after the other is much faster than sending them together.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import httpx

from lab.config import Settings, settings

BUSY_REASON = "Database error"  # detail.reason of Airflow's SQLAlchemyErrorHandler (500)
TIMEOUT_ATTEMPTS = 3
WRITES_AT_ONCE = 1


class AirflowError(RuntimeError):
    """The API refused a call, or a run did not finish as asked; the message has Airflow's reason."""

    def __init__(self, message: str, status_code: int | None = None, attempts: int = 1):
        super().__init__(message)
        self.status_code = status_code  # the HTTP status when the API refused the call
        self.attempts = attempts  # how many times the request was sent (> 1: an earlier try may have landed)


@dataclass(frozen=True)
class Retry:
    """How often and how patiently a request refused by a busy database is sent again."""

    attempts: int = 12
    first_pause_s: float = 0.5
    max_pause_s: float = 5.0
    jitter: bool = False  # spread the pauses of many callers refused at once

    def __post_init__(self):
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")

    def pause(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th refusal: first_pause_s x attempt, at most max_pause_s."""
        pause = min(self.first_pause_s * attempt, self.max_pause_s)
        return pause * random.uniform(0.5, 1.5) if self.jitter else pause


def is_loopback(url: str) -> bool:
    return httpx.URL(url).host in ("127.0.0.1", "localhost", "::1")


def is_busy(response: httpx.Response) -> bool:
    """Did Airflow refuse the request because its metadata database was busy (and roll it back)?"""
    if response.status_code == 503:
        return True
    if response.status_code != 500:
        return False
    detail = _detail(response)
    return isinstance(detail, dict) and detail.get("reason") == BUSY_REASON


def _detail(response: httpx.Response):
    try:
        body = response.json()
    except ValueError:
        return response.text
    return body.get("detail", body) if isinstance(body, dict) else body


def _reason(detail) -> str:
    """Airflow's error detail as one line (a database error's detail is a dict)."""
    if isinstance(detail, dict) and "reason" in detail:
        return f"{detail['reason']}: {detail.get('message', '')}".rstrip(": ")
    return str(detail)


class Transport:
    """Requests to one Airflow's REST API, as JSON in and out; refusals become `AirflowError`.

    Works against the lab's local Airflow (no login on loopback) or any Airflow given by
    LAB_AIRFLOW_URL plus LAB_AIRFLOW_TOKEN or LAB_AIRFLOW_USERNAME / LAB_AIRFLOW_PASSWORD.
    `http` replaces the httpx client (tests pass one with a mock transport).
    """

    def __init__(
        self,
        url: str | None = None,
        cfg: Settings | None = None,
        timeout: float = 30.0,
        retry: Retry | None = None,
        http: httpx.Client | None = None,
    ):
        self.cfg = cfg or settings()
        self.url = (url or self.cfg.url).rstrip("/")
        self.retry = retry or Retry()
        self._write_slots = threading.BoundedSemaphore(WRITES_AT_ONCE)
        self.http = http or httpx.Client(
            base_url=f"{self.url}/api/v2",
            timeout=timeout,
            headers=self._auth_headers(),
            trust_env=not is_loopback(self.url),  # a proxy for the internet must not get 127.0.0.1's calls
        )

    def _auth_headers(self) -> dict[str, str]:
        if self.cfg.token:
            return {"Authorization": f"Bearer {self.cfg.token}"}
        if self.cfg.username and self.cfg.password:
            response = httpx.post(
                f"{self.url}/auth/token",
                json={"username": self.cfg.username, "password": self.cfg.password},
                timeout=30,
                trust_env=not is_loopback(self.url),
            )
            if response.status_code >= 300:
                raise AirflowError(
                    f"login to {self.url} as {self.cfg.username} failed: {response.text}",
                    status_code=response.status_code,
                )
            return {"Authorization": f"Bearer {response.json()['access_token']}"}
        return {}  # the lab's local Airflow: simple auth manager with all_admins on loopback

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        on_send: Callable[[], None] | None = None,
        retry: Retry | None = None,
        **kwargs,
    ) -> dict:
        """Send one API request (path below /api/v2) and return its JSON body ({} when empty).

        `idempotent` (default: only GET) lets a request that got no answer be sent again.
        `on_send` is called just before each attempt goes out: its last call marks the
        attempt Airflow accepted (the benchmark's t0). `retry` replaces the transport's patience
        for this request. `kwargs` are httpx's (params, json, headers, timeout).
        """
        idempotent = method == "GET" if idempotent is None else idempotent
        retry = retry or self.retry
        waited, timeouts = 0.0, 0
        for attempt in range(1, retry.attempts + 1):
            try:
                with nullcontext() if method == "GET" else self._write_slots:
                    if on_send is not None:
                        on_send()
                    response = self.http.request(method, path, **kwargs)
            except httpx.ConnectError as exc:
                raise AirflowError(
                    f"cannot reach Airflow at {self.url} ({exc}). Is it running? Try `lab status`."
                ) from exc
            except httpx.TimeoutException as exc:
                timeouts += 1
                if not idempotent or timeouts == TIMEOUT_ATTEMPTS or attempt == retry.attempts:
                    raise AirflowError(
                        f"{method} {path}: no answer from Airflow at {self.url} after {timeouts} "
                        f"tries ({type(exc).__name__}). Is the machine overloaded? Try `lab status`.",
                        attempts=attempt,
                    ) from exc
                continue
            if is_busy(response) and attempt < retry.attempts:
                pause = retry.pause(attempt)
                time.sleep(pause)
                waited += pause
                continue
            return self._body(method, path, response, attempt, waited)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _body(self, method: str, path: str, response: httpx.Response, attempts: int, waited: float) -> dict:
        if response.status_code < 300:
            return response.json() if response.content else {}
        message = f"{method} {path} -> {response.status_code}: {_reason(_detail(response))}"
        if is_busy(response):
            message += (
                f" (Airflow's metadata database stayed busy through {attempts} attempts over "
                f"{waited:.0f} s: SQLite takes one write at a time. Try again when the machine "
                "is quieter, or run Airflow on PostgreSQL.)"
            )
        raise AirflowError(message, status_code=response.status_code, attempts=attempts)

    def paged(self, path: str, key: str, params: dict | None = None, page: int = 100) -> list[dict]:
        """Every item of a collection endpoint (`key` names the list in its answer), page by page."""
        items, offset = [], 0
        while True:
            data = self.request("GET", path, params={**(params or {}), "limit": page, "offset": offset})
            items.extend(data[key])
            offset += page
            if offset >= data.get("total_entries", 0) or not data[key]:
                return items
