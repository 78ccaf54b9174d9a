"""A trigger refused because SQLite was busy is tried again, and never creates a second run.

The refusals are the bodies Airflow 3.3 sends (a 500 from its database error handler, a client
timeout while the request waits in the api-server), answered by httpx's MockTransport; the real
storm of 30 triggers at once is a drill in tests/integration/test_fault_drills.py.
"""

import json

import httpx
import pytest

from lab.client import Airflow, AirflowError

DATABASE_ERROR = {
    "detail": {
        "reason": "Database error",
        "statement": "hidden",
        "orig_error": "hidden",
        "message": "Serious error when handling your request. Check logs for more details",
    }
}


def _client(posts: list, seen: list[str], paused: bool = False) -> Airflow:
    created: dict[str, dict] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "GET" and request.url.path.endswith(
            "/dagRuns/" + request.url.path.split("/")[-1]
        ):
            run_id = request.url.path.split("/")[-1]
            if run_id in created:
                return httpx.Response(200, json=created[run_id])
        if request.method == "GET":
            return httpx.Response(200, json={"dag_id": "d", "is_paused": paused, "import_errors": []})
        if request.method == "PATCH":
            return httpx.Response(200, json={"dag_id": "d", "is_paused": False})
        body = json.loads(request.content)
        answer = posts.pop(0)
        if answer == "timeout-but-created":
            created[body["dag_run_id"]] = {"dag_run_id": body["dag_run_id"], "state": "queued"}
            raise httpx.ReadTimeout("timed out", request=request)
        if answer == 200:
            if body["dag_run_id"] in created:
                return httpx.Response(409, json={"detail": "DAG run already exists"})
            created[body["dag_run_id"]] = {"dag_run_id": body["dag_run_id"], "state": "queued"}
            return httpx.Response(200, json=created[body["dag_run_id"]])
        return httpx.Response(answer, json=DATABASE_ERROR)

    af = Airflow(url="http://127.0.0.1:9")
    af.http = httpx.Client(base_url="http://127.0.0.1:9/api/v2", transport=httpx.MockTransport(handler))
    return af


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch):
    monkeypatch.setattr("lab.client.time.sleep", lambda s: None)


def test_a_trigger_refused_with_a_database_error_is_tried_again():
    seen: list[str] = []
    run = _client([500, 500, 200], seen).trigger("d")
    assert run["dag_run_id"].startswith("manual__")
    assert seen.count("POST /api/v2/dags/d/dagRuns") == 3
    assert "PATCH /api/v2/dags/d" not in seen  # already unpaused: no write for nothing


def test_a_trigger_whose_answer_was_lost_is_not_created_twice():
    seen: list[str] = []
    run = _client(["timeout-but-created", 200], seen).trigger("d", run_id="mine")
    assert run == {"dag_run_id": "mine", "state": "queued"}
    assert seen.count("POST /api/v2/dags/d/dagRuns") == 2
    assert seen[-1] == "GET /api/v2/dags/d/dagRuns/mine"


def test_a_conflict_on_the_first_try_is_the_participants_to_see():
    af = _client([200, 200], [])
    af.trigger("d", run_id="taken")
    with pytest.raises(AirflowError, match="409"):
        af.trigger("d", run_id="taken")


def test_a_paused_dag_is_unpaused_first():
    seen: list[str] = []
    _client([200], seen, paused=True).trigger("d")
    assert seen.index("PATCH /api/v2/dags/d") < seen.index("POST /api/v2/dags/d/dagRuns")


def test_other_errors_are_not_retried():
    seen: list[str] = []
    with pytest.raises(AirflowError, match="400"):
        _client([400], seen).trigger("d")
    assert seen.count("POST /api/v2/dags/d/dagRuns") == 1
