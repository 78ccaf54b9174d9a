"""Lesson 07's what-if answers (lab.bench.what_if): the model's tables and charts, no Airflow needed."""

import json
from dataclasses import replace
from importlib.metadata import version

import matplotlib
import pandas as pd
import pytest

from lab.bench import calibration as calibrations
from lab.bench import validation, what_if
from lab.bench.model import Overheads

matplotlib.use("Agg")

COSTS = Overheads(
    trigger_s=0.5,
    plan_s=0.1,
    expand_s=0.2,
    task_wall_s=0.1,
    task_cpu_s=0.0,
    slot_gap_s=0.1,
    run_create_s=0.01,
    backfill_start_s=0.1,
    run_task_wall_s=0.1,
    run_gap_s=0.4,
    run_cpu_s=0.0,
    write_s=0.0,
    write_per_row_s=0.0,
    active_cores=0.0,
)
FREE = what_if.Calibration("test", "lab", 2, "20260101T000000Z", COSTS)


def with_costs(**changes) -> what_if.Calibration:
    return replace(FREE, overheads=replace(COSTS, **changes))


@pytest.mark.parametrize("profile", ["lab", "default"])
def test_the_reference_calibrations_load_and_were_measured_on_the_pinned_airflow(profile):
    cal = what_if.calibration("reference", profile)
    assert cal.profile == profile and cal.cores == 2
    saved = json.loads((what_if.REFERENCE_DIR / f"calibration-{profile}.json").read_text())
    # A new Airflow pin makes the committed costs stale: `make bench-calibrate` on both profiles again.
    assert saved["versions"]["apache-airflow"] == version("apache-airflow")


def test_the_reference_profiles_really_differ_where_the_lab_tunes_airflow():
    lab, default = (what_if.calibration("reference", p) for p in ("lab", "default"))
    assert lab.overheads != default.overheads
    saved = {
        p: json.loads((what_if.REFERENCE_DIR / f"calibration-{p}.json").read_text())
        for p in ("lab", "default")
    }
    assert (
        saved["lab"]["airflow"]["scheduler_idle_sleep_time"]
        != saved["default"]["airflow"]["scheduler_idle_sleep_time"]
    )


def test_an_unknown_profile_or_a_missing_calibration_is_a_clear_error(tmp_path):
    with pytest.raises(calibrations.CalibrationError, match="no reference calibration for profile 'fast'"):
        what_if.calibration("reference", "fast")
    with pytest.raises(calibrations.CalibrationError, match="lab bench calibrate"):
        what_if.calibration(tmp_path)


def test_compare_gives_every_strategy_with_parts_that_add_up():
    table = what_if.compare(FREE, 16, 4, 1.0)
    assert table["strategy"].tolist() == list(what_if.STRATEGIES)
    parts = table[["start_s", "work_s", "orchestration_s", "cpu_contention_s"]].sum(axis=1)
    assert parts.to_numpy() == pytest.approx(table["makespan_s"].to_numpy(), abs=0.03)
    assert table["x_fastest"].min() == 1.0
    loop = table.set_index("strategy").loc["sequential_loop"]
    assert loop["speedup_vs_loop"] == 1.0 and loop["task_instances"] == 1
    assert table.set_index("strategy").loc["dynamic_mapping", "waves"] == 4


def test_with_free_orchestration_and_long_work_parallel_strategies_beat_the_loop_by_about_p():
    table = what_if.compare(FREE, 16, 8, 10.0).set_index("strategy")
    assert table.loc["dynamic_mapping", "speedup_vs_loop"] > 7
    assert table.loc["sequential_loop", "x_fastest"] > 7


def test_when_each_task_costs_much_more_than_the_work_the_loop_wins_the_crossover():
    cross = what_if.crossover(
        with_costs(task_wall_s=5.0, run_task_wall_s=5.0), parallelism=2, partitions=(8, 64), latencies=(0.0,)
    )
    assert cross["fastest"].tolist() == ["sequential_loop", "sequential_loop"]
    assert (cross["margin"] >= 1).all()


def test_the_crossover_grid_has_one_cell_per_point_and_marks_ties():
    cross = what_if.crossover(FREE, partitions=(1, 16, 256), latencies=(0.0, 2.0))
    assert len(cross) == 6
    grid = what_if.fastest_grid(cross)
    assert grid.shape == (3, 2) and list(grid.columns) == ["0 s", "2 s"]
    tie = cross["margin"] < what_if.TIE_MARGIN
    assert tie.any() and not tie.all()
    for row, cell in zip(cross.itertuples(), grid.to_numpy().ravel(), strict=True):
        assert cell.startswith(what_if.short(row.fastest))
        assert ("~" in cell) == (row.margin < what_if.TIE_MARGIN)


def test_the_best_chunk_fills_every_slot_once_when_tasks_cost_cpu_nothing():
    best = what_if.best_chunk_size(FREE, partitions=64, parallelism=8, latency_s=1.0)
    assert best.loc[0, "chunk_size"] == 8 and best.loc[0, "waves"] == 1
    assert best["makespan_s"].is_monotonic_increasing
    assert best["chunk_size"].max() <= 64


def test_profile_shift_lists_only_the_cells_whose_winner_changes():
    same = what_if.profile_shift(FREE, FREE, partitions=(4, 64), latencies=(0.0, 1.0))
    assert same.empty
    slow = replace(with_costs(task_wall_s=5.0, run_task_wall_s=5.0), profile="default")
    moved = what_if.profile_shift(FREE, slow, parallelism=2, partitions=(64,), latencies=(0.1, 10.0))
    assert list(moved.columns) == ["partitions", "latency_s", "fastest_lab", "fastest_default"]
    assert moved.to_dict("records") == [
        {
            "partitions": 64,
            "latency_s": 0.1,
            "fastest_lab": "chunked_mapping",
            "fastest_default": "sequential_loop",
        }
    ]


def test_check_compares_the_median_of_verified_trials_with_the_prediction():
    from lab.bench.config import BenchConfig

    config = BenchConfig(partitions=8, parallelism=4, latency_s=0.5, chunk_size=4)
    trials = pd.DataFrame(
        [
            {"strategy": "dynamic_mapping", "parallelism": 4, "makespan_s": 4.0, "verified": True},
            {"strategy": "dynamic_mapping", "parallelism": 4, "makespan_s": 3.0, "verified": True},
            {"strategy": "dynamic_mapping", "parallelism": 4, "makespan_s": 6.0, "verified": True},
            {"strategy": "sequential_loop", "parallelism": 4, "makespan_s": 9.0, "verified": False},
        ]
    )
    checked = what_if.check(FREE, trials, config)
    assert checked["strategy"].tolist() == ["dynamic_mapping"]
    row = checked.iloc[0]
    assert (row["trials"], row["measured_s"], row["measured_min_s"], row["measured_max_s"]) == (
        3,
        4.0,
        3.0,
        6.0,
    )
    assert row["error"] == pytest.approx((row["predicted_s"] - 4.0) / 4.0, abs=0.01)


def test_the_sliders_drive_the_same_tables():
    ui = what_if.explore(FREE, partitions=16, parallelism=4, latency_s=1.0, chunk_size=2)
    sliders = {w.description: w.value for w in ui.children[:-1]}
    assert sliders == {"N": 16, "P": 4, "s/partition": 1.0, "chunk k": 2}


def test_the_committed_validation_points_are_verified_predictions_of_measured_trials():
    points = what_if.validation_points()
    assert len(points) >= 30 and points["verified"].all()
    assert set(points["strategy"]) == set(what_if.STRATEGIES)
    assert points["error"].to_numpy() == pytest.approx(
        ((points["predicted_s"] - points["measured_s"]) / points["measured_s"]).to_numpy(), abs=0.002
    )
    assert validation.errors(points).loc[0, "trials"] == len(points)


def test_the_charts_draw_one_cell_per_point_and_one_dot_per_trial():
    cross = what_if.crossover(FREE, partitions=(1, 16), latencies=(0.0, 1.0, 2.0))
    ax = what_if.plot_crossover(cross)
    assert len(ax.texts) == 6
    points = what_if.validation_points()
    ax = what_if.plot_predicted_vs_measured(points)
    assert sum(len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets")) >= len(points)
    ax = what_if.plot_terms(what_if.compare(FREE, 16, 4, 1.0))
    assert len(ax.patches) == 4 * 4
