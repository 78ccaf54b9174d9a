"""The client retries a backfill that Airflow refused with 503 (SQLite locked), and nothing else,
and creates it while the DAG is paused, so the scheduler never holds a run Airflow deletes again.

The lock cannot be provoked on demand on a real Airflow, so the HTTP side is httpx's MockTransport
answering with the body Airflow's backfill route sends (airflow/api_fastapi/.../backfills.py).
"""

import json

import httpx
import pytest

from lab.client import Airflow, AirflowError, retry_when_locked

LOCKED = {
    "detail": "Database is locked. Backfill creation is not supported on SQLite under concurrent access."
}


def _client(answers: list[tuple[int, dict]], seen: list[str], bodies: list[dict] | None = None) -> Airflow:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST" and bodies is not None:
            bodies.append(json.loads(request.content))
        if request.method == "GET":  # wait_for_dag's lookups: the DAG is parsed, no import errors
            return httpx.Response(
                200, json={"dag_id": "d", "is_paused": False, "import_errors": [], "total_entries": 0}
            )
        if request.method == "PATCH":
            paused = json.loads(request.content)["is_paused"]
            seen[-1] = f"PATCH paused={paused}"
            return httpx.Response(200, json={"dag_id": "d", "is_paused": paused})
        status, body = answers.pop(0)
        return httpx.Response(status, json=body)

    af = Airflow(url="http://127.0.0.1:9")
    af.http = httpx.Client(base_url="http://127.0.0.1:9/api/v2", transport=httpx.MockTransport(handler))
    return af


def test_backfill_is_retried_after_a_locked_database(monkeypatch):
    monkeypatch.setattr("lab.client.time.sleep", lambda s: None)
    seen: list[str] = []
    af = _client([(503, LOCKED), (503, LOCKED), (200, {"id": 7})], seen)
    assert af.backfill("d", "2024-01-01", "2024-01-03", max_active_runs=2) == {"id": 7}
    calls = [c for c in seen if not c.startswith("GET")]
    assert calls == ["PATCH paused=True"] + ["POST /api/v2/backfills"] * 3 + ["PATCH paused=False"]


def test_backfill_body_names_whole_days():
    bodies: list[dict] = []
    af = _client([(200, {"id": 1})], [], bodies)
    af.backfill("d", "2024-01-01", "2024-01-03", max_active_runs=4, conf={"rows": 5})
    assert bodies == [
        {
            "dag_id": "d",
            "from_date": "2024-01-01T00:00:00Z",
            "to_date": "2024-01-03T00:00:00Z",
            "run_backwards": False,
            "dag_run_conf": {"rows": 5},
            "reprocess_behavior": "completed",
            "max_active_runs": 4,
        }
    ]


def test_backfill_gives_up_with_airflows_reason_and_leaves_the_dag_unpaused(monkeypatch):
    monkeypatch.setattr("lab.client.time.sleep", lambda s: None)
    seen: list[str] = []
    af = _client([(503, LOCKED)] * 3, seen)
    with pytest.raises(AirflowError, match="Database is locked") as err:
        af.backfill("d", "2024-01-01", "2024-01-03", attempts=3)
    assert err.value.status_code == 503
    assert seen[-1] == "PATCH paused=False"


def test_other_refusals_are_not_retried():
    calls = []

    def conflict():
        calls.append(1)
        raise AirflowError("POST /backfills -> 409: There is already a running backfill", status_code=409)

    with pytest.raises(AirflowError, match="409"):
        retry_when_locked(conflict)
    assert len(calls) == 1


def test_pauses_grow_and_are_capped(monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr("lab.client.time.sleep", pauses.append)

    def locked():
        raise AirflowError("POST /backfills -> 503: Database is locked", status_code=503)

    with pytest.raises(AirflowError):
        retry_when_locked(locked, attempts=4, pause_s=2.0, max_pause_s=5.0)
    assert pauses == [2.0, 4.0, 5.0]
