"""Benchmark metrics on recorded task-instance timelines (DataFrames shaped like the REST API's)."""

import math

import pandas as pd
import pytest

from lab.bench.metrics import (
    binding_bound,
    cpu_bound_seconds,
    ideal_seconds,
    ideal_speedup,
    relative_speed,
    summarize,
    sweep_summary,
    trial_metrics,
    trial_order,
)

T0 = pd.Timestamp("2024-06-01T12:00:00Z")


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def timeline(*instances):
    """(queued, start, end, work_s) per task instance, in seconds after the trigger."""
    return pd.DataFrame(
        [
            {
                "task_id": "t",
                "map_index": i,
                "queued_when": at(q),
                "start_date": at(s),
                "end_date": at(e),
                "work_s": w,
            }
            for i, (q, s, e, w) in enumerate(instances)
        ]
    )


def test_ideal_is_waves_of_p_partitions():
    assert ideal_seconds(16, 8, 2.0) == 4.0
    assert ideal_seconds(17, 8, 2.0) == 6.0  # a third, partial wave still takes a whole partition's time
    assert ideal_seconds(3, 8, 1.5) == 1.5
    assert ideal_speedup(16, 8) == 8.0
    assert ideal_speedup(10, 4) == pytest.approx(10 / 3)
    with pytest.raises(ValueError):
        ideal_seconds(0, 8, 1.0)
    with pytest.raises(ValueError):
        ideal_seconds(4, 8, -1.0)


def test_sequential_loop_one_task_does_all_the_work():
    # One task: queued at 1 s, ran 2..10 s, spent 6 s inside write_partition for 4 partitions.
    m = trial_metrics(timeline((1, 2, 10, 6.0)), T0, partitions=4, parallelism=2, t_partition=1.5)
    assert m["makespan_s"] == 10.0
    assert m["task_time_s"] == 8.0
    assert m["work_s"] == 6.0
    assert m["task_instances"] == 1
    assert m["overhead_per_task_s"] == 2.0
    assert m["first_start_s"] == 2.0
    assert m["queue_wait_mean_s"] == 1.0
    assert m["peak_concurrency"] == 1
    assert m["ideal_s"] == 3.0  # ceil(4 / 2) x 1.5
    assert m["efficiency"] == 0.3


def test_mapped_trial_counts_the_planning_task_as_overhead():
    tis = timeline(
        (0.5, 1, 2, None),  # plan: no work reported
        (2.2, 3, 6, 2.0),
        (2.2, 3, 6.5, 2.0),  # two partitions side by side
        (6.1, 7, 9, 2.0),  # the third waits for a free slot
    )
    m = trial_metrics(tis, T0, partitions=3, parallelism=2, t_partition=2.0)
    assert m["makespan_s"] == 9.0
    assert m["task_time_s"] == 1 + 3 + 3.5 + 2
    assert m["work_s"] == 6.0
    assert m["task_instances"] == 4
    assert m["overhead_per_task_s"] == pytest.approx((9.5 - 6.0) / 4, abs=1e-3)
    assert m["peak_concurrency"] == 2
    assert m["ideal_s"] == 4.0
    assert m["efficiency"] == pytest.approx(4 / 9, abs=1e-4)
    assert m["queue_wait_mean_s"] == pytest.approx((0.5 + 0.8 + 0.8 + 0.9) / 4, abs=1e-3)


def test_cpu_bound_is_the_measured_cpu_spread_over_the_cores():
    assert cpu_bound_seconds(30.0, 2) == 15.0
    assert math.isnan(cpu_bound_seconds(None, 2))  # not measured: an Airflow this lab did not start
    assert math.isnan(cpu_bound_seconds(float("nan"), 2))
    with pytest.raises(ValueError):
        cpu_bound_seconds(10.0, 0)
    with pytest.raises(ValueError):
        cpu_bound_seconds(-1.0, 2)
    # read a little past the makespan (runs seen finished later): pro-rated, never scaled up
    assert cpu_bound_seconds(30.0, 2, window_s=12.0, makespan_s=10.0) == pytest.approx(12.5)
    assert cpu_bound_seconds(30.0, 2, window_s=9.0, makespan_s=10.0) == 15.0
    assert binding_bound(4.0, 15.0) == (15.0, "cpu")
    assert binding_bound(4.0, 3.0) == (4.0, "wave")
    assert binding_bound(4.0, float("nan")) == (4.0, "wave")


def test_a_trial_reports_both_bounds_and_its_efficiency_against_the_larger():
    # Two partitions side by side, 8 s in all; 12 CPU seconds on 2 cores: the CPU bound is 6 s.
    tis = timeline((0, 1, 5, 2.0), (0, 1, 8, 2.0))
    m = trial_metrics(tis, T0, partitions=2, parallelism=2, t_partition=2.0, cpu_s=12.0, cores=2)
    assert m["ideal_s"] == 2.0  # the wave bound: one wave of 2 s
    assert m["cpu_bound_s"] == 6.0
    assert (m["bound_s"], m["bound"]) == (6.0, "cpu")
    assert m["efficiency"] == 0.25  # against the wave bound, as before
    assert m["efficiency_vs_bound"] == 0.75
    assert m["effective_parallelism"] == pytest.approx((4 + 7) / 8, abs=1e-3)  # time in tasks / makespan
    unmeasured = trial_metrics(tis, T0, partitions=2, parallelism=2, t_partition=2.0)
    assert math.isnan(unmeasured["cpu_bound_s"]) and unmeasured["bound"] == "wave"
    assert unmeasured["efficiency_vs_bound"] == unmeasured["efficiency"]


def test_instances_that_never_ran_are_ignored_and_an_empty_trial_is_refused():
    tis = pd.concat(
        [timeline((0, 1, 3, 1.0)), pd.DataFrame([{"task_id": "t", "start_date": None, "end_date": None}])]
    )
    tis["start_date"] = pd.to_datetime(tis["start_date"], utc=True)
    tis["end_date"] = pd.to_datetime(tis["end_date"], utc=True)
    assert trial_metrics(tis, T0, 1, 1, 1.0)["task_instances"] == 1
    with pytest.raises(ValueError, match="nothing ran"):
        trial_metrics(tis.iloc[1:], T0, 1, 1, 1.0)


def test_order_rotates_so_every_strategy_takes_every_position():
    order = trial_order(["a", "b", "c"], 3)
    assert order == [(0, "a"), (0, "b"), (0, "c"), (1, "b"), (1, "c"), (1, "a"), (2, "c"), (2, "a"), (2, "b")]
    positions = {s: [i % 3 for i, (_, x) in enumerate(order) if x == s] for s in "abc"}
    assert all(sorted(p) == [0, 1, 2] for p in positions.values())


def trials(*rows):
    return pd.DataFrame(
        [
            {
                "strategy": s,
                "makespan_s": m,
                "verified": v,
                "task_time_s": m,
                "task_instances": 1,
                "overhead_per_task_s": 0.5,
                "peak_concurrency": 1,
                "ideal_s": 2.0,
                "efficiency": 2.0 / m,
                "parallelism": p,
                "partitions": 8,
            }
            for s, m, v, p in rows
        ]
    )


def test_summary_uses_medians_of_verified_trials_and_computes_speedups():
    df = trials(
        ("sequential_loop", 20, True, 4),
        ("sequential_loop", 24, True, 4),
        ("sequential_loop", 22, True, 4),
        ("catchup_backfill", 12, True, 4),
        ("catchup_backfill", 10, True, 4),
        ("catchup_backfill", 11, True, 4),
        ("dynamic_mapping", 5, True, 4),
        ("dynamic_mapping", 6, True, 4),
        ("dynamic_mapping", 0.1, False, 4),
    )
    s = summarize(df).set_index("strategy")
    assert s.loc["sequential_loop", "makespan_s"] == 22
    assert s.loc["dynamic_mapping", "trials"] == 2 and s.loc["dynamic_mapping", "failed"] == 1
    assert s.loc["dynamic_mapping", "makespan_s"] == 5.5  # the fast unverified 0.1 s trial does not count
    assert (s.loc["dynamic_mapping", "makespan_min_s"], s.loc["dynamic_mapping", "makespan_max_s"]) == (5, 6)
    assert s.loc["dynamic_mapping", "speedup_vs_sequential"] == 4.0
    assert s.loc["dynamic_mapping", "speedup_vs_backfill"] == 2.0
    assert s.loc["sequential_loop", "speedup_vs_sequential"] == 1.0
    assert list(s.index) == ["sequential_loop", "catchup_backfill", "dynamic_mapping"]  # running order kept


def test_summary_carries_the_bounds_when_measured_and_still_reads_older_trials():
    older = trials(("dynamic_mapping", 5, True, 4), ("dynamic_mapping", 7, True, 4))
    assert "cpu_bound_s" not in summarize(older)  # a results.csv saved before the CPU bound
    newer = older.assign(
        cpu_s=[10.0, 14.0], cpu_bound_s=[5.0, 7.0], bound_s=[5.0, 7.0], efficiency_vs_bound=[1.0, 1.0]
    )
    s = summarize(newer).iloc[0]
    assert (s["cpu_bound_s"], s["bound"], s["efficiency_vs_bound"]) == (6.0, "cpu", 1.0)


def test_summary_without_a_baseline_leaves_its_speedup_empty():
    s = summarize(trials(("dynamic_mapping", 5, True, 4)))
    assert math.isnan(s.loc[0, "speedup_vs_sequential"])


def test_sweep_speedup_against_the_loop_with_the_ideal_line():
    df = trials(
        ("sequential_loop", 16, True, 4),
        ("sequential_loop", 16, True, 1),
        ("dynamic_mapping", 16, True, 1),
        ("dynamic_mapping", 8, True, 2),
        ("dynamic_mapping", 4, True, 4),
        ("dynamic_mapping", 1, False, 8),
    )
    sweep = sweep_summary(df, ["dynamic_mapping"])
    assert sweep["parallelism"].tolist() == [1, 2, 4]  # P=8 only has an unverified trial
    assert sweep["speedup"].tolist() == [1.0, 2.0, 4.0]
    assert sweep["ideal_speedup"].tolist() == [1.0, 2.0, 4.0]
    with pytest.raises(ValueError, match="baseline"):
        sweep_summary(df[df["strategy"] != "sequential_loop"], ["dynamic_mapping"])


def test_relative_speed_reads_right_on_both_sides_of_one():
    assert relative_speed(2.5, "catchup_backfill") == "2.50x as fast as catchup_backfill"
    assert relative_speed(1.0, "x", bold=True) == "**1.00x** as fast as x"
    assert relative_speed(0.84, "catchup_backfill") == "slower than catchup_backfill (0.84x its speed)"


def test_the_headline_names_the_larger_bound_only_when_the_cpu_was_measured():
    from lab.bench.results import bound_text

    text = bound_text({"cpu_bound_s": 6.0, "wave_bound_s": 4.0, "efficiency_vs_bound": 0.5})
    assert "50% of max(wave bound, CPU bound), here the CPU bound" in text and "= 6.0 s" in text
    assert "here the wave bound" in bound_text(
        {"cpu_bound_s": 3.0, "wave_bound_s": 4.0, "efficiency_vs_bound": 0.5}
    )
    assert bound_text({"cpu_bound_s": float("nan"), "wave_bound_s": 4.0, "efficiency_vs_bound": 0.3}) == ""
    assert bound_text({}) == ""  # a results.json saved before the CPU bound
