"""The benchmark DAGs (dags/bench/) parse, and have the shape the runner relies on."""

from datetime import UTC, datetime

import pytest
from airflow.dag_processing.dagbag import DagBag

from lab.bench.workload import POOL, STRATEGIES
from lab.config import REPO_ROOT


@pytest.fixture(scope="module")
def dags():
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "bench"))
    assert bag.import_errors == {}
    return bag.dags


def test_one_dag_per_strategy(dags):
    assert sorted(dags) == sorted(s.dag_id for s in STRATEGIES.values())


def test_every_task_runs_in_the_benchmark_pool(dags):
    """The pool is the concurrency cap P: a task outside it would escape the cap."""
    outside = [f"{d.dag_id}.{t.task_id}" for d in dags.values() for t in d.tasks if t.pool != POOL]
    assert outside == []


def test_triggered_strategies_take_the_range_and_the_work_as_params(dags):
    for strategy in STRATEGIES.values():
        dag = dags[strategy.dag_id]
        expected = {"rows", "latency_s"} | (
            {"start_date", "end_date"} if strategy.launch == "trigger" else set()
        )
        if strategy.name == "chunked_mapping":
            expected.add("chunk_size")
        assert set(dag.params.keys()) == expected, strategy.name
        assert dag.params.get_param("rows").schema["minimum"] == 1


def test_mapping_strategies_map_one_task(dags):
    for name in (
        "dynamic_mapping",
        "chunked_mapping",
        "mapping_virtualenv_cached",
        "mapping_virtualenv_uncached",
    ):
        dag = dags[STRATEGIES[name].dag_id]
        mapped = [t for t in dag.tasks if type(t).__name__.endswith("MappedOperator")]
        assert len(mapped) == 1, name
    venv = {
        n: dags[STRATEGIES[n].dag_id].get_task("process_partition")
        for n in ("mapping_virtualenv_cached", "mapping_virtualenv_uncached")
    }
    assert venv["mapping_virtualenv_cached"].partial_kwargs["venv_cache_path"]
    assert venv["mapping_virtualenv_uncached"].partial_kwargs.get("venv_cache_path") is None


def test_backfilled_strategies_never_run_on_their_own(dags):
    """A past end_date and no catchup: the only runs are the benchmark's backfills."""
    now = datetime.now(UTC)
    for name in ("catchup_backfill", "partitioned_runs"):
        dag = dags[STRATEGIES[name].dag_id]
        assert dag.catchup is False
        assert dag.end_date < now
        assert len(dag.tasks) == 1
    daily = dags["bench_catchup_backfill"].timetable
    # "@daily" is a CronTriggerTimetable by default on Airflow 3, a CronDataIntervalTimetable with
    # [scheduler] create_cron_data_intervals: the run's logical date (`ds`) is the day either way.
    assert type(daily).__name__ in ("CronTriggerTimetable", "CronDataIntervalTimetable")
    assert daily.expression == "0 0 * * *"
    partitioned = dags["bench_partitioned_runs"].timetable
    assert type(partitioned).__name__ == "CronPartitionTimetable"
    assert (partitioned.expression, partitioned.key_format) == (
        "0 0 * * *",
        "%Y-%m-%d",
    )  # partition_key = the day


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
