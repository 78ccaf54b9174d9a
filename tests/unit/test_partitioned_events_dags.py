"""The partitioned_events DAG and its concurrency variants parse and have the shape the lessons describe."""

from datetime import UTC, datetime

import pytest

from lab import concurrency
from lab.config import REPO_ROOT
from lab.partitions import MAX_LATENCY_S, known_countries
from tests.helpers import dag_bag


@pytest.fixture(scope="module")
def dags():
    return dag_bag(
        REPO_ROOT / "dags" / "partitioned_events.py", REPO_ROOT / "dags" / "partitioned_events_concurrency.py"
    )


def test_partitioned_events_params(dags):
    dag = dags["partitioned_events"]
    assert type(dag.timetable).__name__ == "NullTimetable"
    assert set(dag.params.keys()) == {
        "mode",
        "start_date",
        "end_date",
        "countries",
        "events_per_partition",
        "latency_s",
        "fail_partitions",
        "fail_tries",
    }
    assert dag.params.get_param("mode").schema["enum"] == ["daily", "range", "country_reload"]
    countries = dag.params.get_param("countries")
    assert countries.value == list(known_countries())  # default: every country of data/countries.csv
    assert countries.schema["items"]["enum"] == list(known_countries())
    assert dag.params.get_param("events_per_partition").schema["minimum"] == 1
    assert dag.params.get_param("latency_s").schema["maximum"] == MAX_LATENCY_S  # the planner's own limit


def test_partitioned_events_maps_over_explicit_pairs(dags):
    dag = dags["partitioned_events"]
    mapped = dag.get_task("write_partition")
    assert type(mapped).__name__.endswith("MappedOperator")
    assert mapped.partial_kwargs["map_index_template"] == (
        "{{ task.op_kwargs['event_date'] }} / {{ task.op_kwargs['country'] }}"
    )
    assert mapped.partial_kwargs["retries"] == 1
    assert dag.get_task("plan_partitions").downstream_task_ids == {"write_partition"}
    assert type(mapped._get_specified_expand_input()).__name__ == "ListOfDictsExpandInput"  # expand_kwargs


def test_the_daily_dag_is_the_same_dag_on_a_schedule(dags):
    """partitioned_events_daily is built by the same code: same Params, tasks and labels, plus a schedule."""
    triggered, scheduled = dags["partitioned_events"], dags["partitioned_events_daily"]
    assert type(scheduled.timetable).__name__ == "CronTriggerTimetable"  # what "@daily" means on Airflow 3
    assert scheduled.timetable.expression == "0 0 * * *"
    assert scheduled.catchup is False
    assert scheduled.end_date < datetime.now(UTC)  # past its end: the scheduler never creates a run
    assert {k: p.schema for k, p in scheduled.params.items()} == {
        k: p.schema for k, p in triggered.params.items()
    }
    assert scheduled.task_ids == triggered.task_ids
    write, template = scheduled.get_task("write_partition"), triggered.get_task("write_partition")
    assert write.partial_kwargs["map_index_template"] == template.partial_kwargs["map_index_template"]
    assert write.partial_kwargs["retries"] == template.partial_kwargs["retries"]
    # the limits lesson 05 shows, from lab.concurrency.DAILY
    assert scheduled.max_active_runs == concurrency.DAILY.max_active_runs == 1
    assert write.partial_kwargs["max_active_tis_per_dagrun"] == concurrency.DAILY.max_active_tis_per_dagrun
    assert write.partial_kwargs["pool"] == concurrency.DAILY.pool
    assert "pool" not in template.partial_kwargs  # the triggered DAG runs in the default pool
    assert template.partial_kwargs.get("max_active_tis_per_dagrun") is None


def test_each_concurrency_dag_sets_its_one_limit(dags):
    tis_dag = dags[concurrency.dag_id("max_active_tis_per_dagrun")]
    assert tis_dag.get_task("write_partition").partial_kwargs["max_active_tis_per_dagrun"] == 2
    assert dags[concurrency.dag_id("max_active_tasks")].max_active_tasks == 3
    assert (
        dags[concurrency.dag_id("pool")].get_task("write_partition").partial_kwargs["pool"]
        == concurrency.POOL
    )
    free = dags[concurrency.dag_id("parallelism")]
    assert free.max_active_tasks == dags["partitioned_events"].max_active_tasks  # Airflow's default
    assert free.get_task("write_partition").partial_kwargs.get("max_active_tis_per_dagrun") is None
    assert free.get_task("write_partition").partial_kwargs.get("pool") in (None, "default_pool")
