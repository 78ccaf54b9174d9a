"""What the client sends again, and what it does not, on the calls the benchmark runner makes.

A locked SQLite cannot be provoked on demand, so the HTTP side is httpx's MockTransport
answering with the bodies Airflow 3.3 sends: 503 "Database is locked" from POST /backfills
(airflow/api_fastapi/core_api/routes/public/backfills.py) and 500 "Database error" from every
other route (SQLAlchemyErrorHandler in airflow/api_fastapi/common/exceptions.py). The same
refusals on a real Airflow: tests/integration/test_client_writes.py.
"""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from lab.bench.config import BenchConfig
from lab.bench.runner import Runner
from lab.bench.strategies import STRATEGIES, Launch
from lab.client import Airflow, AirflowError
from lab.transport import Retry, Transport

URL = "http://127.0.0.1:9"
LOCKED = {
    "detail": "Database is locked. Backfill creation is not supported on SQLite under concurrent access. "
    "Please use PostgreSQL or MySQL."
}
DB_ERROR = {
    "detail": {
        "reason": "Database error",
        "statement": "hidden",
        "orig_error": "hidden",
        "message": "Serious error when handling your request. Check logs for more details - "
        "you will find it in api server when you look for ID abc123",
    }
}
DAG = {"dag_id": "d", "is_paused": False, "import_errors": [], "total_entries": 0}


class FakeAirflow:
    """Answers GETs and pause switches itself; every other request gets the next scripted answer."""

    def __init__(self, answers: list, dag_id: str = "d"):
        self.dag_id = dag_id
        self.dag = {**DAG, "dag_id": dag_id}
        self.answers = list(answers)
        self.seen: list[str] = []
        self.bodies: list[dict] = []
        self.params: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        call = f"{request.method} {request.url.path.removeprefix('/api/v2')}"
        if request.method == "PATCH" and request.url.path == f"/api/v2/dags/{self.dag_id}":
            paused = json.loads(request.content)["is_paused"]
            self.seen.append(f"PATCH paused={paused}")
            return httpx.Response(200, json={**DAG, "is_paused": paused})
        self.seen.append(call)
        if call == f"GET /dags/{self.dag_id}":
            return httpx.Response(200, json=self.dag)  # wait_for_dag: the DAG is parsed
        self.params.append(dict(request.url.params))
        if request.content:
            self.bodies.append(json.loads(request.content))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return httpx.Response(status, json=body)

    def writes(self) -> list[str]:
        return [c for c in self.seen if not c.startswith("GET")]


@pytest.fixture
def no_sleep(monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr("lab.transport.time.sleep", pauses.append)
    return pauses


def client(fake: FakeAirflow, retry: Retry | None = None) -> Airflow:
    http = httpx.Client(base_url=f"{URL}/api/v2", transport=httpx.MockTransport(fake))
    return Airflow(transport=Transport(URL, retry=retry, http=http))


def test_backfill_is_created_while_paused_and_sent_again_while_the_database_is_locked(no_sleep):
    fake = FakeAirflow([(503, LOCKED), (503, LOCKED), (200, {"id": 7})])
    sent = []
    backfill = client(fake).backfill(
        "d", "2024-01-01", "2024-01-03", max_active_runs=2, on_send=lambda: sent.append(1)
    )
    assert backfill == {"id": 7}
    assert fake.writes() == ["PATCH paused=True"] + ["POST /backfills"] * 3 + ["PATCH paused=False"]
    assert len(sent) == 3  # on_send marks every try; the runner's t0 is the last one
    assert no_sleep == [0.5, 1.0]


@pytest.mark.parametrize("launch", list(Launch))
def test_the_runner_starts_each_launch_kind_through_the_client_and_times_the_accepted_try(
    launch, no_sleep, monkeypatch
):
    strategy = next(s for s in STRATEGIES.values() if s.launch is launch)
    answers = {Launch.TRIGGER: (500, DB_ERROR), Launch.BACKFILL: (503, LOCKED)}
    fake = FakeAirflow([answers[launch], (200, {"id": 7, "dag_run_id": "r"})], dag_id=strategy.dag_id)
    clock = iter(range(100))
    monkeypatch.setattr("lab.bench.runner._now", lambda: next(clock))
    config = BenchConfig(partitions=2, parallelism=2)
    runner = Runner(config, client(fake), progress=False)
    t0 = runner.launch(strategy, config.conf(strategy), config.dates, 2, run_id="r")
    assert t0 == 1  # the second try, the one Airflow accepted
    if launch is Launch.BACKFILL:  # created while paused, one run per day, P runs at a time
        assert fake.writes() == ["PATCH paused=True", *["POST /backfills"] * 2, "PATCH paused=False"]
        assert fake.bodies[-1]["max_active_runs"] == 2
        assert fake.bodies[-1]["dag_run_conf"] == config.conf(strategy)
    else:
        assert fake.writes() == [f"POST /dags/{strategy.dag_id}/dagRuns"] * 2
        assert fake.bodies[-1] == {"logical_date": None, "conf": config.conf(strategy), "dag_run_id": "r"}


def test_backfill_body_names_whole_days():
    fake = FakeAirflow([(200, {"id": 1})])
    client(fake).backfill("d", "2024-01-01", "2024-01-03", max_active_runs=4, conf={"rows": 5})
    assert fake.bodies == [
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


def test_a_database_that_stays_locked_is_a_clear_error_and_the_dag_is_unpaused(no_sleep):
    fake = FakeAirflow([(503, LOCKED)] * 3)
    with pytest.raises(AirflowError, match="Database is locked.*stayed busy through 3 attempts") as err:
        client(fake, Retry(attempts=3)).backfill("d", "2024-01-01", "2024-01-03")
    assert (err.value.status_code, err.value.attempts) == (503, 3)
    assert fake.writes()[-1] == "PATCH paused=False"


def test_a_trigger_refused_with_a_database_error_is_sent_again(no_sleep):
    run = {"dag_run_id": "r1", "state": "queued", "conf": {"a": 1}}
    fake = FakeAirflow([(500, DB_ERROR), (500, DB_ERROR), (200, run)])
    assert client(fake).trigger("d", {"a": 1}, run_id="r1", unpause=False) == run
    assert fake.writes() == ["POST /dags/d/dagRuns"] * 3


def test_a_trigger_whose_answer_was_lost_returns_the_run_the_first_try_created():
    run = {"dag_run_id": "r1", "state": "queued", "conf": {"a": 1}}
    lost = httpx.ReadTimeout("no answer")
    fake = FakeAirflow([lost, (409, {"detail": {"reason": "Unique constraint violation"}}), (200, run)])
    assert client(fake).trigger("d", {"a": 1}, run_id="r1", unpause=False) == run
    assert fake.seen[-3:] == ["POST /dags/d/dagRuns", "POST /dags/d/dagRuns", "GET /dags/d/dagRuns/r1"]


def test_a_run_id_taken_before_is_a_conflict_not_a_success():
    conflict = (409, {"detail": {"reason": "Unique constraint violation"}})
    fake = FakeAirflow([conflict])
    with pytest.raises(AirflowError, match="already has a run 'r1'") as err:
        client(fake).trigger("d", {"a": 1}, run_id="r1", unpause=False)
    assert err.value.status_code == 409
    # After a lost answer, a run with another conf is someone else's: still a conflict.
    fake = FakeAirflow([httpx.ReadTimeout("no answer"), conflict, (200, {"dag_run_id": "r1", "conf": {}})])
    with pytest.raises(AirflowError, match="already has a run 'r1'"):
        client(fake).trigger("d", {"a": 1}, run_id="r1", unpause=False)


def test_a_write_without_answer_is_not_sent_again_unless_it_is_idempotent():
    fake = FakeAirflow([httpx.ReadTimeout("no answer")])
    with pytest.raises(AirflowError, match="no answer from Airflow"):
        client(fake).clear("d", "r1", "t")  # a repeat would clear the task twice
    assert fake.writes() == ["POST /dags/d/clearTaskInstances"]


def test_a_trigger_without_a_run_id_picks_one_so_a_lost_answer_is_sent_again_with_it():
    run = {"dag_run_id": "picked", "state": "queued", "conf": {"a": 1}}
    fake = FakeAirflow([httpx.ReadTimeout("no answer"), (200, run)])
    assert client(fake).trigger("d", {"a": 1}, unpause=False) == run
    assert fake.writes() == ["POST /dags/d/dagRuns"] * 2
    first, again = fake.bodies
    assert first == again and first["dag_run_id"].startswith("manual__")


@pytest.mark.parametrize("paused", [True, False])
def test_a_trigger_unpauses_a_paused_dag_first_and_an_unpaused_one_costs_no_write(paused):
    fake = FakeAirflow([(200, {"dag_run_id": "r1"})])
    fake.dag["is_paused"] = paused
    client(fake).trigger("d", run_id="r1")
    assert fake.writes() == (["PATCH paused=False"] if paused else []) + ["POST /dags/d/dagRuns"]


def test_many_callers_refused_at_once_come_back_spread_out():
    retry = Retry(first_pause_s=2.0, max_pause_s=5.0, jitter=True)
    pauses = [retry.pause(3) for _ in range(50)]
    assert all(2.5 <= p <= 7.5 for p in pauses) and len(set(pauses)) > 1


@pytest.mark.parametrize(
    "status, body",
    [
        (409, {"detail": "There is already a running backfill for dag d"}),
        (500, {"detail": "An error occurred while trying to deserialize Dag: boom"}),
        (400, {"detail": "Dag with dag_id: 'd' has import errors and cannot be triggered"}),
    ],
)
def test_other_refusals_are_not_sent_again(status, body, no_sleep):
    fake = FakeAirflow([(status, body)])
    with pytest.raises(AirflowError) as err:
        client(fake).api.request("POST", "/backfills", json={})
    assert (err.value.status_code, err.value.attempts) == (status, 1)
    assert body["detail"] in str(err.value)
    assert no_sleep == []


def test_pauses_grow_and_are_capped():
    retry = Retry(first_pause_s=2.0, max_pause_s=5.0)
    assert [retry.pause(a) for a in (1, 2, 3, 4)] == [2.0, 4.0, 5.0, 5.0]
    with pytest.raises(ValueError):
        Retry(attempts=0)


def test_backfills_are_listed_and_completed(no_sleep):
    fake = FakeAirflow(
        [
            (200, {"backfills": [{"id": 3, "completed_at": None}], "total_entries": 1}),
            (500, DB_ERROR),
            (200, {"id": 3, "completed_at": "2024-01-01T00:00:00Z"}),
            (409, {"detail": "Backfill is already completed."}),
        ]
    )
    af = client(fake)
    assert af.backfills("d") == [{"id": 3, "completed_at": None}]
    assert af.complete_backfill(3)["completed_at"]
    assert af.complete_backfill(3) is None  # 409: complete already
    assert fake.writes() == ["PUT /backfills/3/cancel"] * 3


def test_a_run_deleted_by_a_lost_try_is_gone_not_an_error():
    not_found = (404, {"detail": "The DagRun with dag_id: `d` and run_id: `r1` was not found"})
    fake = FakeAirflow([httpx.ReadTimeout("no answer"), not_found])
    client(fake).delete_run("d", "r1")
    fake = FakeAirflow([not_found])
    with pytest.raises(AirflowError) as err:
        client(fake).delete_run("d", "r1")
    assert err.value.status_code == 404


def test_xcom_asks_airflow_to_deserialize_only_when_told():
    fake = FakeAirflow([(200, {"value": {"work_s": 1.0}}), (200, {"value": [1, 2]})])
    af = client(fake)
    assert af.xcom("d", "r1", "t", map_index=2, deserialize=True) == {"work_s": 1.0}
    assert af.xcom("d", "r1", "t") == [1, 2]
    assert fake.params == [{"map_index": "2", "deserialize": "true"}, {"map_index": "-1"}]


def test_threads_sharing_a_client_send_one_write_at_a_time():
    """SQLite takes one write at a time: concurrent writes would only refuse each other."""
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.01)
        with lock:
            in_flight[0] -= 1
        return httpx.Response(200, json={"dag_run_id": "r"})

    http = httpx.Client(base_url=f"{URL}/api/v2", transport=httpx.MockTransport(handler))
    api = Transport(URL, http=http)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: api.request("POST", "/dags/d/dagRuns", json={}), range(16)))
    assert most[0] == 1
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: api.request("GET", "/dags/d"), range(16)))
    assert most[0] > 1  # reads are not held back
