"""The growth study's options, plan and cuts, the CPU arithmetic, and its report on made-up trials."""

import math

import pandas as pd
import pytest

from lab.bench import cpu, growth_report
from lab.bench.growth import GrowthConfig, GrowthConfigError, cut_reason, main


def test_the_default_plan_grows_n_per_strategy_then_compares_cores():
    config = GrowthConfig()
    plan = config.plan()
    growth = [t for t in plan if t["study"] == "growth"]
    assert len(growth) == 2 * 3 * 4  # workloads x strategies x sizes, one repeat
    assert {t["parallelism"] for t in growth} == {8}
    first = [
        t["partitions"] for t in growth if (t["workload"], t["strategy"]) == ("noop", "catchup_backfill")
    ]
    assert first == [16, 64, 256, 1024]  # growing, so that each size can be cut from the one before
    cores = [t for t in plan if t["study"] == "cores"]
    assert len(cores) == 2 * 4 * 3  # workloads x P levels x repeats
    assert {(t["strategy"], t["partitions"]) for t in cores} == {("dynamic_mapping", 16)}
    assert plan[: len(growth)] == growth


@pytest.mark.parametrize(
    "sizes, message",
    [
        ("16,abc", "whole numbers"),
        ("", "non-empty"),
        ([0, 16], "from 1 to 1024"),
        ([16, 2048], "from 1 to 1024"),
        ("16,64,16", "twice"),
        ([16.5], "whole number"),
    ],
)
def test_a_bad_size_list_is_refused_with_a_clear_error(sizes, message):
    with pytest.raises(GrowthConfigError, match=message):
        GrowthConfig(sizes=sizes)


def test_unknown_strategies_and_workloads_are_refused_naming_the_known_ones():
    with pytest.raises(GrowthConfigError, match="unknown strategies.*dynamic_mapping"):
        GrowthConfig(strategies=["dynamic_mapping", "warp_drive"])
    with pytest.raises(GrowthConfigError, match="unknown workloads.*noop"):
        GrowthConfig(workloads="noop,heavy")
    with pytest.raises(GrowthConfigError, match="twice"):
        GrowthConfig(cores_workloads=["cpu_1s", "cpu_1s"])
    with pytest.raises(GrowthConfigError, match="max_trial_s"):
        GrowthConfig(max_trial_s=0)


def test_the_command_line_refuses_bad_options_before_touching_airflow(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--sizes", "16,x"])
    assert exc.value.code == 2
    assert "whole numbers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--strategies", "dynamic_mapping,nope"])
    assert "unknown strategies ['nope']" in capsys.readouterr().err


def test_the_benchmark_window_holds_one_mapped_tasks_limit():
    assert GrowthConfig(sizes=[1024]).sizes == [1024]  # the backfilled DAGs' window fits 1024 days


def test_chunks_default_to_one_per_slot():
    assert GrowthConfig().chunk_for(16, 8) == 2
    assert GrowthConfig().chunk_for(1000, 8) == 125
    assert GrowthConfig().chunk_for(17, 8) == 3
    assert GrowthConfig(chunk_size=4).chunk_for(1024, 8) == 4


def _trial(n, makespan, strategy="catchup_backfill", **extra):
    return {
        "study": "growth",
        "workload": "noop",
        "strategy": strategy,
        "partitions": n,
        "verified": True,
        "makespan_s": makespan,
    } | extra


def test_a_size_is_cut_when_the_last_one_scaled_linearly_would_exceed_the_limit():
    done = [_trial(16, 10.0), _trial(64, 50.0)]
    assert cut_reason(done, _trial(256, None), max_trial_s=300) is None  # 50 x 4 = 200 s
    reason = cut_reason(done + [_trial(256, 250.0)], _trial(1024, None), max_trial_s=300)
    assert "N=256 took 250 s" in reason and "at least 1000 s" in reason
    cut = [*done, {**_trial(256, float("nan")), "skipped": reason, "verified": False}]
    assert cut_reason(cut, _trial(1024, None), 300) == "a smaller size was already cut or failed"
    failed = [*done, {**_trial(256, float("nan")), "error": "503 Database is locked", "verified": False}]
    assert cut_reason(failed, _trial(1024, None), 300) == "a smaller size was already cut or failed"
    # other strategies and workloads are not affected; an unverified trial is no evidence
    assert cut_reason(done, _trial(1024, None, strategy="dynamic_mapping"), 300) is None
    assert cut_reason([_trial(16, 99.0, verified=False)], _trial(1024, None), 300) is None


def test_cpu_used_between_snapshots_per_part():
    before = {"scheduler": {10: 5.0}, "tasks": {11: 1.0}, "runner": {1: 2.0}, "machine": {0: 100.0}}
    after = {
        "scheduler": {10: 7.5},
        "tasks": {11: 4.0, 12: 1.5},  # a worker born during the trial counts whole
        "runner": {1: 3.0},
        "machine": {0: 130.0},
    }
    used = cpu.CpuProbe.used(before, after)
    assert used == {"scheduler": 2.5, "tasks": 4.5, "runner": 1.0, "machine": 30.0}
    # the CPU bound's numerator: the tasks and Airflow, not this runner nor the whole machine
    assert cpu.airflow_cpu_s(used) == 7.0
    assert cpu.cores() >= 1


def _made_up_trials():
    rows = []
    for study, workload, strategy, n, p, makespan in [
        ("growth", "noop", "dynamic_mapping", 16, 8, 4.0),
        ("growth", "noop", "dynamic_mapping", 64, 8, 12.0),
        ("growth", "noop", "dynamic_mapping", 64, 8, 13.0),
        ("cores", "cpu_1s", "dynamic_mapping", 16, 1, 20.0),
        ("cores", "cpu_1s", "dynamic_mapping", 16, 2, 12.0),
    ]:
        rows.append(
            {
                "study": study,
                "workload": workload,
                "strategy": strategy,
                "partitions": n,
                "parallelism": p,
                "verified": True,
                "skipped": "",
                "runs": 1,
                "makespan_s": makespan,
                "task_instances": n + 1,
                "overhead_per_task_s": 0.3,
                "slot_overhead_per_task_s": 0.6,
                "effective_parallelism": 3.0,
                "ideal_s": math.ceil(n / p) * 0.01,
                "cpu_bound_s": makespan * 0.9,
                "bound_s": makespan * 0.9,
                "bound": "cpu",
                "efficiency_vs_bound": 0.9,
                "cpu_s": makespan * 1.8,
                "cores": 2,
                "cpu_machine_s": makespan * 1.9,
                "launch_s": 0.05,
                "first_queued_s": 1.0,
                "expansion_s": 0.2,
                "median_queued_s": 0.1,
                "median_startup_s": 0.2,
                "median_finish_s": 0.05,
                "mean_slot_gap_s": 0.3,
                **{f"cpu_{part}_s": makespan * 0.3 for part in growth_report.CPU_PARTS},
            }
        )
    return pd.DataFrame(
        rows
        + [
            {"study": "growth", "workload": "noop", "strategy": "catchup_backfill"}
            | {"partitions": 1024, "parallelism": 8, "verified": False}
            | {"skipped": "N=256 took 400 s"}
        ]
    )


def test_the_report_tables_cover_every_point_and_name_a_saturated_machines_cores():
    trials = _made_up_trials()
    table = growth_report.growth_table(trials)
    assert list(table["N"]) == [16, 64]
    assert list(table["trials"]) == [1, 2]
    assert table.loc[1, "makespan s"] == "12.5 (12.0..13.0)"
    makespans = growth_report.pivot(trials, "makespan_s")
    assert makespans.to_dict("records") == [
        {"workload": "noop", "strategy": "dynamic_mapping", "N=16": "4.0", "N=64": "12.5 (12.0..13.0)"}
    ]
    verdicts = growth_report.bottlenecks(trials)
    assert list(verdicts["N"]) == [16, 64]
    assert verdicts["bottleneck"].str.startswith("the cores: the machine was 95% busy").all()
    cores = growth_report.cores_table(trials)
    assert list(cores["P"]) == [1, 2]
    assert list(cores["speedup vs lowest P"]) == [1.0, round(20 / 12, 2)]
    assert list(growth_report.skipped(trials)["partitions"]) == [1024]
    assert growth_report.skipped(trials)["why"].tolist() == ["cut: N=256 took 400 s"]


def test_an_unsaturated_machine_names_the_largest_part_of_the_cycle():
    row = pd.Series(
        {
            "machine_busy_share": 0.5,
            "lab_busy_share": 0.4,
            "scheduler_core_share": 0.3,
            "mean_slot_gap_s": 0.9,
            "median_queued_s": 0.1,
            "median_startup_s": 0.2,
            "median_finish_s": 0.1,
            **{f"cpu_per_ti_{p}_s": 0.1 for p in growth_report.CPU_PARTS},
        }
    )
    assert growth_report.verdict(row)[0] == "the scheduler queueing a freed slot (slot gap)"
    # one instance per slot has no slot gap (NaN): the other phases decide
    assert growth_report.verdict(row.copy().replace({0.9: float("nan")}))[0].startswith("the task process")
    assert growth_report.verdict(row.copy().replace({0.3: 0.85}))[0].startswith("the scheduler's loop")


def test_the_report_writes_its_tables_and_charts(tmp_path):
    _made_up_trials().to_csv(tmp_path / "trials.csv", index=False)
    text = growth_report.write(tmp_path)
    assert "How the cost grows" in text and "Cores against waiting" in text and "Points not measured" in text
    assert (tmp_path / "tables.md").read_text().strip() == text.strip()
    assert (tmp_path / "growth.png").stat().st_size > 0
    assert (tmp_path / "cores.png").stat().st_size > 0
