"""Execution API calls read back from the api-server's access log."""

import pandas as pd
import pytest

from lab.bench.api_calls import endpoint, per_endpoint, read_access_log


def finished(at: str, us: int, method: str, path: str, status: int = 200) -> str:
    """A line as the api-server writes it for each request it finished."""
    return (
        f"{at} [info     ] request finished               [http.access] client_addr=127.0.0.1:1 "
        f"duration_us={us} loc=http_access_log.py:130 method={method} path={path} query= status_code={status}\n"
    )


TI_1 = "/execution/task-instances/01a21762-aa53-7e87-9394-a4b0c1d2e3f4"
TI_2 = "/execution/task-instances/01a21762-bb53-7e87-9394-a4b0c1d2e3f5"
LOG = (
    finished("2026-11-26T10:57:38.100000Z", 41000, "PATCH", f"{TI_1}/run")
    + "2026-11-26T10:57:38.200000Z [info     ] Task started                   [airflow.api] previous_state=queued\n"
    + finished(
        "2026-11-26T10:57:38.300000Z", 20000, "POST", "/execution/xcoms/d/bench__x__r1/t/return_value", 201
    )
    + finished("2026-11-26T10:57:39.000000Z", 30000, "PATCH", f"{TI_2}/run")
    + finished("2026-11-26T10:58:00.000000Z", 5000, "GET", "/api/v2/dags")
)


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "api-server.log"
    path.write_text(LOG)
    return path


def test_identifiers_become_placeholders():
    assert endpoint("/execution/task-instances/01a21762-aa53-7e87-9394-a4b0c1d2e3f4/run") == (
        "/execution/task-instances/{id}/run"
    )
    assert (
        endpoint("/execution/xcoms/d/r/t/return_value") == "/execution/xcoms/{dag}/{run}/{task}/return_value"
    )


def test_only_finished_requests_in_the_window(log):
    calls = read_access_log(
        log, since=pd.Timestamp("2026-11-26T10:57:38Z"), until=pd.Timestamp("2026-11-26T10:57:59Z")
    )
    assert calls["method"].tolist() == ["PATCH", "POST", "PATCH"]
    assert calls["seconds"].tolist() == [0.041, 0.02, 0.03]
    assert calls["status"].tolist() == [200, 201, 200]


def test_calls_per_task_instance(log):
    table = per_endpoint(read_access_log(log), task_instances=2).set_index("endpoint")
    run = table.loc["/execution/task-instances/{id}/run"]
    assert (run["calls"], run["per_task_instance"], run["median_s"]) == (2, 1.0, pytest.approx(0.0355))
    assert "/api/v2/dags" not in table.index  # the REST API the notebooks use is not the Execution API
