"""Each concurrency control, observed on real runs: never more partitions at once than its limit.

The four concurrency_* DAGs run at the same time (it saves minutes, and it is the realistic
case): each one's own limit holds within it, and `[core] parallelism` holds over all of them.
Concurrency is computed from the task instances' recorded start and end times. Every limit is
also checked to be reached above 1, on a run that has Airflow to itself, so a test cannot pass
by running everything one by one.
"""

from __future__ import annotations

import pandas as pd
import pytest

from lab import concurrency, lake
from lab.client import Airflow
from lab.config import settings
from lab.partitions import COUNTRY_TABLE, plan_partitions
from lab.timeline import max_concurrency

pytestmark = pytest.mark.airflow
POOL_SLOTS = 2
# Each control writes its own dates, so the runs never write the same partition.
# 4 partitions each (2 dates x DE, FR): more than each limit lets run at once.
CONFS = {
    "max_active_tis_per_dagrun": {"start_date": "2025-06-01", "end_date": "2025-06-02", "latency_s": 1.5},
    "max_active_tasks": {"start_date": "2025-06-11", "end_date": "2025-06-12", "latency_s": 1.5},
    "pool": {"start_date": "2025-06-21", "end_date": "2025-06-22", "latency_s": 1.5},
    # 10 partitions, more than [core] parallelism (8) lets run at once
    "parallelism": {"start_date": "2025-07-01", "end_date": "2025-07-05", "latency_s": 2},
}


@pytest.fixture(scope="module")
def observed():
    airflow = (
        Airflow()
    )  # the session's Airflow: started (and LAB_* set) before any airflow-marked test's fixtures
    return concurrency.run_all(airflow, CONFS, pool_slots=POOL_SLOTS)


@pytest.mark.parametrize("control", concurrency.CONTROLS)
def test_observed_concurrency_never_exceeds_the_limit(observed, control):
    seen = observed[control]
    assert seen.run["state"] == "success"
    assert (
        seen.limit
        == {
            "max_active_tis_per_dagrun": 2,
            "max_active_tasks": 3,
            "pool": POOL_SLOTS,
            "parallelism": settings().parallelism,
        }[control]
    )
    assert seen.partitions > seen.limit  # more partitions than slots: the limit has something to hold back
    assert seen.observed <= seen.limit


# Alone, each run has every executor worker to itself. Side by side the four compete for the
# 8 LocalExecutor workers (a worker stays held until its task's supervisor notices the exit, up
# to [workers] min_heartbeat_interval later), and a limited run may get one worker at a time.
ALONE = {
    "max_active_tis_per_dagrun": {"start_date": "2025-08-01", "end_date": "2025-08-02", "latency_s": 1.5},
    "max_active_tasks": {"start_date": "2025-08-11", "end_date": "2025-08-12", "latency_s": 1.5},
    "pool": {"start_date": "2025-08-21", "end_date": "2025-08-22", "latency_s": 1.5},
    "parallelism": {"start_date": "2025-09-01", "end_date": "2025-09-05", "latency_s": 2},
}


@pytest.mark.parametrize("control", concurrency.CONTROLS)
def test_a_run_alone_reaches_its_limit_above_one(airflow, control):
    """So that no test above can pass by running everything one by one."""
    seen = concurrency.run(airflow, control, ALONE[control], pool_slots=POOL_SLOTS, progress=False)
    assert seen.run["state"] == "success"
    assert seen.partitions > seen.limit
    assert 1 < seen.observed <= seen.limit


@pytest.mark.parametrize("control", concurrency.CONTROLS)
def test_every_partition_was_written(observed, control):
    conf = CONFS[control]
    plan = plan_partitions("range", conf["start_date"], conf["end_date"], ["DE", "FR"])
    assert observed[control].partitions == len(plan)
    assert lake.validate(plan, 100, COUNTRY_TABLE)["ok"]


def test_parallelism_caps_all_runs_together(observed, airflow):
    together = concurrency.together(airflow, observed)
    assert sorted(together["control"].unique()) == sorted(concurrency.CONTROLS)
    assert len(together) == sum(o.partitions + 1 for o in observed.values())  # + each run's planning task
    assert max_concurrency(together) <= settings().parallelism


# Two runs of one DAG with max_active_tasks=3, at once: 3 + 3 <= [core] parallelism (8), so
# nothing but the DAG's own limit holds either run back.
TWO_RUNS = [
    ("max_active_tasks", {"start_date": "2025-10-01", "end_date": "2025-10-02", "latency_s": 2}),
    ("max_active_tasks", {"start_date": "2025-10-11", "end_date": "2025-10-12", "latency_s": 2}),
]


def test_max_active_tasks_caps_each_run_not_the_runs_together(airflow):
    """Airflow 3 counts max_active_tasks per DAG run (Airflow 2 counted all the DAG's runs together)."""
    first, second = concurrency.side_by_side(airflow, TWO_RUNS, pool_slots=POOL_SLOTS)
    cap = concurrency.limit("max_active_tasks")
    for seen in (first, second):
        assert seen.run["state"] == "success"
        assert seen.partitions > cap
        assert 1 < seen.observed <= cap  # each run is held to the limit, and reaches above one
    both = max_concurrency(pd.concat([first.tis, second.tis], ignore_index=True))
    assert cap < both <= 2 * cap  # together they ran more than the limit: it is not a limit on the DAG
    table = concurrency.runs_table([first, second])
    assert table["run"].tolist() == ["max_active_tasks #1", "max_active_tasks #2", "all runs together"]
    assert table["observed at once"].tolist() == [first.observed, second.observed, both]


def test_the_pool_was_sized_through_the_rest_api(observed, airflow):
    pool = airflow.pool(concurrency.POOL)
    assert pool["slots"] == POOL_SLOTS
    assert pool["running_slots"] == 0 and pool["queued_slots"] == 0  # everything has finished
    assert airflow.set_pool(concurrency.POOL, 5)["slots"] == 5  # an existing pool is resized
    assert airflow.pool(concurrency.POOL)["include_deferred"] == pool["include_deferred"]
    airflow.set_pool(concurrency.POOL, POOL_SLOTS)
