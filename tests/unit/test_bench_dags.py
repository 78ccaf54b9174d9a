"""The benchmark DAGs (dags/bench/) parse, and have the shape their `Strategy` entries promise the runner."""

from datetime import UTC, datetime

import pytest
from airflow.dag_processing.dagbag import DagBag

from lab.bench.strategies import STRATEGIES, Launch
from lab.bench.workload import POOL
from lab.config import REPO_ROOT

BACKFILLED = [s for s in STRATEGIES.values() if s.launch is Launch.BACKFILL]


@pytest.fixture(scope="module")
def dags():
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "bench"))
    assert bag.import_errors == {}
    return bag.dags


def mapped_tasks(dag):
    return [t for t in dag.tasks if type(t).__name__.endswith("MappedOperator")]


def test_one_dag_per_strategy(dags):
    assert sorted(dags) == sorted(s.dag_id for s in STRATEGIES.values())


def test_every_task_runs_in_the_benchmark_pool(dags):
    """The pool is the concurrency cap P: a task outside it would escape the cap."""
    outside = [f"{d.dag_id}.{t.task_id}" for d in dags.values() for t in d.tasks if t.pool != POOL]
    assert outside == []


@pytest.mark.parametrize("strategy", STRATEGIES.values(), ids=lambda s: s.name)
def test_params_are_the_work_the_range_of_a_triggered_run_and_the_extra_conf(dags, strategy):
    expected = {"events_per_partition", "latency_s", *strategy.extra_conf}
    if strategy.launch is Launch.TRIGGER:
        expected |= {"start_date", "end_date"}
    dag = dags[strategy.dag_id]
    assert set(dag.params.keys()) == expected
    assert dag.params.get_param("events_per_partition").schema["minimum"] == 1


@pytest.mark.parametrize("strategy", STRATEGIES.values(), ids=lambda s: s.name)
def test_a_label_prefix_means_one_mapped_task_rendering_it(dags, strategy):
    """The runner strips `label_prefix` from rendered map indexes: it must be what the DAG renders."""
    mapped = mapped_tasks(dags[strategy.dag_id])
    if strategy.label_prefix is None:
        assert mapped == []
    else:
        assert len(mapped) == 1
        assert mapped[0].map_index_template.startswith(strategy.label_prefix)


def test_a_slow_setup_is_a_virtualenv_cached_or_not(dags):
    """The virtualenv strategies price a venv per task: one keeps it in venv_cache_path, one does not."""
    slow = [dags[s.dag_id] for s in STRATEGIES.values() if s.slow_setup]
    caches = sorted(bool(mapped_tasks(d)[0].partial_kwargs.get("venv_cache_path")) for d in slow)
    assert caches == [False, True]


@pytest.mark.parametrize("strategy", BACKFILLED, ids=lambda s: s.name)
def test_backfilled_strategies_run_once_per_day_and_never_on_their_own(dags, strategy):
    """A past end_date and no catchup: the only runs are the benchmark's backfills, one per day."""
    dag = dags[strategy.dag_id]
    assert dag.catchup is False
    assert dag.end_date < datetime.now(UTC)
    assert len(dag.tasks) == 1 and mapped_tasks(dag) == []
    # "@daily" is a CronTriggerTimetable by default on Airflow 3 (a CronDataIntervalTimetable with
    # [scheduler] create_cron_data_intervals), or a CronPartitionTimetable: one run per day either way.
    assert dag.timetable.expression == "0 0 * * *"
    # A partitioned run's key is the day the task writes.
    assert getattr(dag.timetable, "key_format", "%Y-%m-%d") == "%Y-%m-%d"


def test_every_benchmark_task_pushes_one_xcom(dags):
    """A `-> dict` return annotation makes @task push every key as an XCom of its own (one
    Execution API call each, per task instance): the benchmark tasks push their report once."""
    several = [
        f"{d.dag_id}.{t.task_id}"
        for d in dags.values()
        for t in d.tasks
        if getattr(t, "partial_kwargs", {}).get("multiple_outputs", getattr(t, "multiple_outputs", False))
    ]
    assert several == []
