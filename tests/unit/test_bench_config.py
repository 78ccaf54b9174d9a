"""The benchmark's parameters, plan and output checks: no Airflow needed."""

import pandas as pd
import pytest

from lab import lake
from lab.bench import verify
from lab.bench.cli import _check_params, parse_value
from lab.bench.config import BenchConfig, BenchConfigError
from lab.bench.strategies import STRATEGIES, Launch
from lab.bench.workload import chunks


def test_defaults_are_valid_and_cover_every_strategy():
    config = BenchConfig()
    assert config.strategies == list(STRATEGIES)
    assert config.dates == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"partitions": 0}, "partitions must be a whole number"),
        ({"partitions": 2.5}, "partitions must be a whole number"),
        ({"events_per_partition": True}, "events_per_partition must be a whole number"),
        ({"latency_s": -1}, "latency_s must be a number"),
        ({"latency_s": "2"}, "latency_s must be a number"),
        ({"parallelism": 0}, "parallelism must be a whole number from 1"),
        ({"parallelism": 65}, "parallelism must be a whole number from 1 to 64"),
        ({"repeats": 0}, "repeats"),
        ({"strategies": ["dynamic_mapping", "map_reduce"]}, "unknown strategies \\['map_reduce'\\]"),
        ({"strategies": "dynamic_mapping,dynamic_mapping"}, "names a strategy twice"),
        ({"strategies": []}, "strategies is empty"),
        ({"sweep": "1,two"}, "sweep must be whole numbers"),
        ({"sweep": [2, 2]}, "lists a level twice"),
        ({"start_date": "2024-02-30"}, "not a real calendar date"),
        ({"start_date": "2023-12-31"}, "must lie in the benchmark DAGs' window"),
        ({"start_date": "2026-10-29", "partitions": 3}, "2026-10-29..2026-10-31"),
        ({"warmup": "yes"}, "warmup must be True or False"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(BenchConfigError, match=message):
        BenchConfig(**kwargs)


def test_lists_may_be_given_as_comma_separated_text():
    config = BenchConfig(
        strategies="sequential_loop, dynamic_mapping", sweep="8,1,2", sweep_strategies="dynamic_mapping"
    )
    assert config.strategies == ["sequential_loop", "dynamic_mapping"]
    assert config.sweep == [1, 2, 8]
    assert config.max_parallelism == 8


def test_plan_rotates_the_order_and_reuses_comparison_trials_in_the_sweep():
    config = BenchConfig(
        strategies=["sequential_loop", "dynamic_mapping"],
        parallelism=2,
        repeats=2,
        sweep=[1, 2],
        sweep_strategies=["dynamic_mapping", "catchup_backfill"],
    )
    plan = [(t["phase"], t["strategy"], t["repeat"], t["parallelism"]) for t in config.plan()]
    assert plan[:4] == [
        ("compare", "sequential_loop", 0, 2),
        ("compare", "dynamic_mapping", 0, 2),
        ("compare", "dynamic_mapping", 1, 2),
        ("compare", "sequential_loop", 1, 2),
    ]
    sweep = sorted(p for p in plan if p[0] == "sweep")
    # dynamic_mapping at P=2 comes from the comparison; catchup_backfill is not compared, so it runs at both.
    assert sweep == sorted(
        [("sweep", "dynamic_mapping", r, 1) for r in (0, 1)]
        + [("sweep", "catchup_backfill", r, p) for r in (0, 1) for p in (1, 2)]
    )


def test_a_sweep_adds_the_sequential_baseline_when_it_is_not_compared():
    config = BenchConfig(strategies=["dynamic_mapping"], sweep=[1, 2])
    assert [t["strategy"] for t in config.plan() if t["phase"] == "compare"] == [
        "sequential_loop",
        "dynamic_mapping",
    ]


def test_conf_gives_each_strategy_what_its_dag_takes():
    config = BenchConfig(partitions=3, events_per_partition=10, latency_s=2, chunk_size=2)
    work = {"events_per_partition": 10, "latency_s": 2.0}
    for strategy in STRATEGIES.values():
        expected = dict(work)
        if strategy.launch is Launch.TRIGGER:
            expected.update(start_date="2024-01-01", end_date="2024-01-03")
        expected.update({name: getattr(config, name) for name in strategy.extra_conf})
        assert config.conf(strategy) == expected, strategy.name
    assert config.conf(STRATEGIES["chunked_mapping"])["chunk_size"] == 2


def test_every_extra_conf_names_a_benchmark_parameter():
    parameters = set(BenchConfig.__dataclass_fields__)
    assert {name for s in STRATEGIES.values() for name in s.extra_conf} <= parameters


def test_chunks():
    days = ["d1", "d2", "d3", "d4", "d5"]
    assert chunks(days, 2) == [["d1", "d2"], ["d3", "d4"], ["d5"]]
    assert chunks(days, 9) == [days]
    with pytest.raises(ValueError):
        chunks(days, 0)


def test_cli_values_parse_like_papermill_and_are_checked_before_running():
    assert parse_value("32") == 32
    assert parse_value("0.5") == 0.5
    assert parse_value("false") is False
    assert parse_value("[1, 2, 4]") == [1, 2, 4]
    assert parse_value("1,2,4") == "1,2,4"  # BenchConfig turns it into a list
    assert parse_value("dynamic_mapping") == "dynamic_mapping"
    with pytest.raises(SystemExit, match="unknown parameter"):
        _check_params({"partitons": 4})
    with pytest.raises(SystemExit, match="parallelism must be"):
        _check_params({"parallelism": 0})
    _check_params({"partitions": 32, "sweep": "1,2,4,8"})


# ---------------------------------------------------------------- checking a trial's output, on a real lake


@pytest.fixture
def tmp_lake(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_LAKE_DIR", str(tmp_path / "lake"))
    return tmp_path / "lake"


def outcome(dates, states=("success",), runs=1):
    runs = pd.DataFrame([{"dag_run_id": f"r{i + 1}", "state": "success"} for i in range(runs)])
    tis = pd.DataFrame([{"task_id": "process_partition", "state": s} for s in states])
    reports = [{"partitions": dates, "events": 0, "work_s": 0.1}]
    return runs, tis, reports


def test_verify_accepts_a_complete_output(tmp_lake):
    config = BenchConfig(partitions=2, events_per_partition=20)
    strategy = STRATEGIES["dynamic_mapping"]
    for day in config.dates:
        lake.write_partition(day, 20, table=strategy.table)
    runs, tis, reports = outcome(config.dates)
    assert verify.problems(strategy, config.dates, 20, runs, tis, reports) == []


def test_verify_catches_missing_wrong_extra_and_failed_output(tmp_lake):
    config = BenchConfig(partitions=3, events_per_partition=20)
    strategy = STRATEGIES["dynamic_mapping"]
    lake.write_partition("2024-01-01", 20, table=strategy.table)
    lake.write_partition("2024-01-02", 19, table=strategy.table)  # wrong row count
    lake.write_partition("2024-02-01", 20, table=strategy.table)  # not asked for
    runs, tis, reports = outcome(["2024-01-01", "2024-01-02", "2024-01-02"], states=("success", "failed"))
    problems = " | ".join(verify.problems(strategy, config.dates, 20, runs, tis, reports))
    assert "missing ['event_date=2024-01-03']" in problems
    assert "'event_date=2024-01-02': 19" in problems
    assert "unexpected partitions in bench_dynamic_mapping: ['event_date=2024-02-01']" in problems
    assert "task instances not successful: ['process_partition:failed']" in problems
    assert "tasks reported 3 partition writes for 3 partitions" in problems  # one twice, one never
    runs.loc[0, "state"] = "failed"
    assert "runs not successful: ['r1']" in " | ".join(
        verify.problems(strategy, config.dates, 20, runs, tis, reports)
    )


def test_verify_expects_as_many_runs_as_the_launch_creates(tmp_lake):
    dates = ["2024-01-01", "2024-01-02"]
    by_launch = {s.launch: s for s in STRATEGIES.values()}
    for launch, runs in ((Launch.TRIGGER, 1), (Launch.BACKFILL, 2)):
        strategy = by_launch[launch]
        for day in dates:
            lake.write_partition(day, 20, table=strategy.table)
        assert verify.problems(strategy, dates, 20, *outcome(dates, runs=runs)) == [], launch
        wrong = 3 - runs  # the other launch's count
        assert f"{wrong} runs instead of {runs}" in verify.problems(
            strategy, dates, 20, *outcome(dates, runs=wrong)
        )


def test_labels_say_what_each_task_instance_worked_on():
    dates = ["2024-01-01", "2024-01-02"]
    mapped = next(s for s in STRATEGIES.values() if s.label_prefix)
    tis = pd.DataFrame(
        {
            "dag_run_id": ["m", "m", "m", "b", "l"],
            "task_id": ["plan", "process", "process", "process_day", "loop"],
            "rendered_map_index": [None, f"{mapped.label_prefix}2024-01-01", None, None, None],
        }
    )
    runs = pd.DataFrame({"dag_run_id": ["m", "b", "l"], "logical_date": [None, "2024-01-02T00:00:00Z", None]})
    reports = [
        None,
        {"partitions": ["2024-01-01"]},
        None,
        {"partitions": ["2024-01-02"]},
        {"partitions": dates},
    ]
    assert verify.labels(mapped, dates, runs, tis, reports) == [
        "plan",  # a planning task
        "2024-01-01",  # a mapped instance, without the prefix
        "process",  # a failed instance that rendered no label
        "2024-01-02",  # a backfill's run is for one day
        "all partitions",  # a loop
    ]
