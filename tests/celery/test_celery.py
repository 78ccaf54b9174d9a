"""The distributed path without Docker: the lab's DAGs on a real CeleryExecutor deployment.

Debian's `redis-server` and `postgresql` (apt-installed when missing), a private PostgreSQL
cluster and Redis server on free loopback ports, Airflow's api-server, scheduler and
dag-processor on them with CeleryExecutor, and two Celery workers with their own names, all
from `lab.tools.celery_local` with the settings docker-compose.yml uses (tests/unit/test_compose.py).
The client logs in with a username and password, as against the compose deployment.

Checks: mapped instances of both DAGs ran on BOTH workers (the hostname Airflow records per task
instance), every partition is in the lake with the right row count, and after the teardown not
one process of Airflow, Celery, PostgreSQL or Redis is left and their ports are free again.

Runs in `make test` and alone with `make test-celery` (both set LAB_TEST_CELERY=1); a bare
`pytest` skips it, since it apt-installs packages and starts a second deployment.
"""

from __future__ import annotations

import dataclasses
import os

import httpx
import pytest

from lab import lake
from lab.client import Airflow, AirflowError
from lab.config import settings
from lab.partitions import COUNTRY_TABLE, Partition
from lab.processes import free_port, port_in_use
from lab.tools.celery_local import CeleryLab
from tests.helpers import events_conf, mapped_instances

pytestmark = [
    pytest.mark.celery,
    pytest.mark.timeout(1200),  # the first test also waits for the whole deployment to start
    pytest.mark.skipif(
        os.environ.get("LAB_TEST_CELERY") != "1",
        reason="the CeleryExecutor deployment test runs with `make test` or `make test-celery` (LAB_TEST_CELERY=1)",
    ),
]
DEMO = "dynamic_task_mapping_demo"
EVENTS = "partitioned_events"
# More mapped instances than one worker takes at once (2): they must spread over both workers.
DEMO_CONF = {
    "mode": "range",
    "start_date": "2024-03-01",
    "end_date": "2024-03-06",
    "events_per_partition": 300,
}
DEMO_PARTITIONS = [f"event_date=2024-03-0{d}" for d in range(1, 7)]
# One partition fails its first try: the retry (wherever Celery sends it) heals it.
EVENTS_CONF = events_conf(
    "2024-03-01", "2024-03-03", ["DE", "FR"], 50, fail_partitions=["2024-03-02/FR"], fail_tries=1
)
EVENTS_PARTITIONS = [Partition(f"2024-03-0{d}", c).path for d in (1, 2, 3) for c in ("DE", "FR")]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    base = tmp_path_factory.mktemp("celery")
    port = free_port()
    cfg = dataclasses.replace(
        settings(),
        airflow_home=base / "airflow-home",
        lake_dir=base / "lake",
        port=port,
        url=f"http://127.0.0.1:{port}",
        parallelism=8,
        username=None,
        password=None,
        token=None,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("LAB_AIRFLOW_URL", raising=False)  # this test starts its own Airflow
        lab = CeleryLab(cfg, workers=2)
        lab.start(timeout=600)
    ports = [port, lab.postgres.port, lab.redis.port]
    try:
        yield lab
    finally:
        lab.stop()
    left = [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in lab.processes()]
    assert left == [], f"processes left after the teardown: {left}"
    assert [p for p in ports if port_in_use(p)] == [], "a port of the deployment is still taken"


@pytest.fixture(scope="module")
def client(deployment) -> Airflow:
    return deployment.client()


def test_the_api_wants_a_login_and_the_lab_client_logs_in(deployment, client):
    anonymous = httpx.get(f"{deployment.cfg.url}/api/v2/dags", timeout=30)
    assert anonymous.status_code == 401
    assert client.request("GET", "/dags", params={"dag_id_pattern": DEMO})["total_entries"] == 1
    wrong = dataclasses.replace(deployment.client_settings, password="not-the-password")
    with pytest.raises(AirflowError, match="login to .* failed"):
        Airflow(cfg=wrong)
    # LAB_AIRFLOW_TOKEN instead of a password: a token from the same login endpoint.
    login = {"username": deployment.username, "password": deployment.password}
    token = httpx.post(f"{deployment.cfg.url}/auth/token", json=login, timeout=30).json()["access_token"]
    by_token = Airflow(cfg=dataclasses.replace(deployment.cfg, username=None, password=None, token=token))
    assert by_token.dag(DEMO)["dag_id"] == DEMO


def test_demo_dag_maps_partitions_over_both_workers(deployment, client):
    run = client.trigger_and_wait(DEMO, DEMO_CONF, timeout=600, progress=False)
    assert run["state"] == "success"
    tis = mapped_instances(client, DEMO, run["dag_run_id"], "process_partition")
    assert tis.state.tolist() == ["success"] * 6
    assert tis.rendered_map_index.tolist() == [f"Partition: 2024-03-0{d}" for d in range(1, 7)]
    assert set(tis.hostname) == deployment.worker_hostnames  # both workers ran some of them
    assert lake.validate(DEMO_PARTITIONS, 300, lake_dir=deployment.cfg.lake_dir) == {
        "missing": [],
        "wrong_counts": {},
        "several_files": {},
        "ok": True,
    }


def test_date_x_country_dag_maps_pairs_on_the_workers_and_a_retry_heals(deployment, client):
    run = client.trigger_and_wait(EVENTS, EVENTS_CONF, timeout=600, progress=False)
    assert run["state"] == "success"
    tis = mapped_instances(client, EVENTS, run["dag_run_id"], "write_partition")
    assert tis.rendered_map_index.tolist() == [f"2024-03-0{d} / {c}" for d in (1, 2, 3) for c in ("DE", "FR")]
    assert tis.state.tolist() == ["success"] * 6
    tries = dict(zip(tis.rendered_map_index, tis.try_number, strict=True))
    assert tries.pop("2024-03-02 / FR") == 2 and set(tries.values()) == {1}
    # On the Celery workers; not necessarily both: six short tasks can all go to the worker that
    # asks first (the demo's test above shows the spread over both).
    assert set(tis.hostname) <= deployment.worker_hostnames
    assert lake.validate(EVENTS_PARTITIONS, 50, table=COUNTRY_TABLE, lake_dir=deployment.cfg.lake_dir)["ok"]
    assert sorted(lake.partition_files(COUNTRY_TABLE, deployment.cfg.lake_dir)) == sorted(EVENTS_PARTITIONS)


def test_a_benchmark_trial_runs_on_the_workers_and_shows_the_celery_terms(deployment, client, monkeypatch):
    """What `make bench-celery` relies on: a `lab bench` trial against the deployment verifies,
    and its timeline gives the model's Celery terms (hand-off; a worker slot's release when more
    instances are queued than the 4 slots take)."""
    from lab.bench import celery_check
    from lab.bench.config import BenchConfig
    from lab.bench.runner import Runner

    monkeypatch.setenv("LAB_AIRFLOW_URL", deployment.cfg.url)  # not the managed Airflow: no CPU probe
    monkeypatch.setenv("LAB_LAKE_DIR", str(deployment.cfg.lake_dir))
    runner = Runner(BenchConfig(partitions=8, events_per_partition=10, latency_s=0.0, parallelism=8), client)
    runner.progress, runner.t_partition = False, 0.0
    row, tis = runner.trial("dynamic_mapping", 8, 0, "celery")
    assert row["verified"], row["problems"]
    mapped = tis.dropna(subset=["entered_at"])
    assert len(mapped) == 8 and set(mapped["hostname"]) <= deployment.worker_hostnames
    assert row["queue_wait_mean_s"] >= 0
    gaps = celery_check.slot_reuse_s(tis, celery_check.WORKER_SLOTS)
    assert len(gaps) >= 2 and min(gaps) >= 0  # 8 instances on 2 workers x 2 slots: slots were reused
