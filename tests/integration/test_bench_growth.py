"""The growth study on the session's Airflow, at a toy size: every trial verified, its CPU read per part.

Timings are never asserted: only that each trial did what it must (runs, task instances, the lake
checked by the runner), that CPU was seen where the work ran, and that the report is written.
"""

from __future__ import annotations

import pytest

from lab.bench import cpu
from lab.bench.growth import GrowthConfig, run
from lab.bench.growth_report import write

pytestmark = pytest.mark.airflow


def test_a_toy_growth_study_verifies_every_trial_and_measures_cpu(airflow, tmp_path):
    config = GrowthConfig(
        sizes=[3],
        strategies=["dynamic_mapping", "catchup_backfill"],
        workloads=["noop"],
        parallelism=2,
        cores=False,
    )
    trials = run(config, tmp_path, progress=lambda _: None).set_index(["strategy", "partitions"])
    assert trials["verified"].all(), trials["problems"].tolist()
    assert trials.loc[("dynamic_mapping", 3), "task_instances"] == 4  # the planning task + 3 mapped
    assert (trials.loc[("catchup_backfill", 3), ["runs", "task_instances"]] == [3, 3]).all()
    assert (trials["cpu_tasks_s"] > 0).all() and (trials["cpu_scheduler_s"] > 0).all()
    # the CPU was read from the trigger until the runs were seen finished: pro-rated to the makespan
    share = (trials["makespan_s"] / trials["cpu_window_s"]).clip(upper=1.0)
    expected = trials["cpu_s"] * share / cpu.cores()
    assert list(trials["cpu_bound_s"]) == pytest.approx(list(expected), abs=2e-3)
    assert (trials["cpu_window_s"] >= trials["makespan_s"]).all()
    assert set(trials["bound"]) <= {"wave", "cpu"}
    text = write(tmp_path)
    assert "How the cost grows" in text
    assert (tmp_path / "growth.png").exists() and (tmp_path / "trials.csv").exists()
