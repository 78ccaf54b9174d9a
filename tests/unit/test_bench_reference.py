"""The reference run's report (lab.bench.reference_report) from synthetic trials: no Airflow needed."""

import json
import re

import pandas as pd
import pytest

from lab.bench import reference
from lab.bench.config import BenchConfigError
from lab.bench.reference_report import (
    NO_DIFFERENCE,
    README_END,
    README_START,
    compare_text,
    overlaps,
    profile_table,
    profiles_table,
    round_ratios,
    update_readme,
)
from lab.cli import main as lab_main

# makespans per profile, strategy: one per round (3 rounds)
MAKESPANS = {
    "lab": {
        "sequential_loop": [34.0, 36.0, 35.0],
        "catchup_backfill": [10.0, 12.0, 11.0],
        "dynamic_mapping": [7.0, 9.0, 5.0],
    },
    "default": {
        "sequential_loop": [35.0, 35.0, 40.0],
        "catchup_backfill": [12.0, 14.0, 13.0],
        "dynamic_mapping": [13.0, 15.0, 20.0],
    },
}


def trials(makespans=MAKESPANS) -> pd.DataFrame:
    rows = []
    for profile, strategies in makespans.items():
        for strategy, values in strategies.items():
            for round_no, makespan in enumerate(values):
                rows.append(
                    {
                        "profile": profile,
                        "variant": profile,
                        "round": round_no,
                        "strategy": strategy,
                        "verified": True,
                        "makespan_s": makespan,
                        "task_time_s": makespan,
                        "task_instances": 1 if strategy == "sequential_loop" else 16,
                        "overhead_per_task_s": 0.5,
                        "peak_concurrency": 8,
                        "ideal_s": 4.0,
                        "efficiency": 4.0 / makespan,
                        "cpu_s": 10.0,
                        "cpu_bound_s": 5.0,
                        "bound_s": 5.0,
                        "efficiency_vs_bound": 5.0 / makespan,
                        "load_1min": 1.0 + round_no,
                    }
                )
    return pd.DataFrame(rows)


def test_overlap_is_decided_from_min_and_max():
    assert overlaps(pd.Series([1.0, 3.0]), pd.Series([3.0, 5.0]))  # touching ranges overlap
    assert overlaps(pd.Series([1.0, 10.0]), pd.Series([4.0, 5.0]))  # one inside the other
    assert not overlaps(pd.Series([1.0, 2.9]), pd.Series([3.0, 5.0]))
    assert not overlaps(pd.Series([6.0, 7.0]), pd.Series([3.0, 5.0]))


def test_speedups_are_ratios_within_a_round():
    ratios = round_ratios(trials(), "lab", "dynamic_mapping", "sequential_loop")
    assert list(ratios) == [34.0 / 7.0, 36.0 / 9.0, 35.0 / 5.0]  # not median(loop) / median(mapping)
    assert compare_text(trials(), "lab", "dynamic_mapping", "sequential_loop") == (
        "4.86x (4.00x..7.00x) as fast as sequential_loop, faster in every round"
    )


def test_overlapping_spreads_are_no_measurable_difference():
    lab = compare_text(trials(), "lab", "dynamic_mapping", "catchup_backfill")
    assert lab.startswith("1.43x (1.33x..2.20x) as fast as catchup_backfill") and "faster in every" in lab
    default = compare_text(trials(), "default", "dynamic_mapping", "catchup_backfill")
    assert default.startswith("0.92x (0.65x..0.93x)") and default.endswith(
        f"{NO_DIFFERENCE} (makespans overlap)"
    )


def test_a_round_that_did_not_verify_is_left_out():
    t = trials()
    bad = (t["profile"] == "lab") & (t["strategy"] == "dynamic_mapping") & (t["round"] == 2)
    t.loc[bad, "verified"] = False
    assert list(round_ratios(t, "lab", "dynamic_mapping", "sequential_loop")) == [34.0 / 7.0, 36.0 / 9.0]
    row = profile_table(t, "lab").set_index("strategy").loc["dynamic_mapping"]
    assert row["trials"] == "2 (1 failed)"
    assert row["makespan s, median (min..max)"] == "8.0 (7.0..9.0)"


def test_profile_table_has_medians_spreads_bounds_and_speedups():
    table = profile_table(trials(), "default").set_index("strategy")
    row = table.loc["dynamic_mapping"]
    assert row["makespan s, median (min..max)"] == "15.0 (13.0..20.0)"
    assert row["CPU bound s"] == "5.0" and row["bound"] == "cpu"
    assert row["efficiency vs bound"] == "0.33"
    assert row["speedup vs loop, per round"] == "2.33x (2.00x..2.69x)"
    assert table.loc["sequential_loop", "speedup vs loop, per round"] == "1.00x (1.00x..1.00x)"


def test_profiles_side_by_side():
    table = profiles_table(trials()).set_index("strategy")
    assert table.loc["dynamic_mapping", "lab / default (medians)"] == "0.47x"  # 7 / 15, apart
    assert table.loc["sequential_loop", "lab / default (medians)"] == f"1.00x: {NO_DIFFERENCE}"
    assert table.loc["dynamic_mapping", "default profile: makespan s"] == "15.0 (13.0..20.0)"


def saved_run(tmp_path, makespans=MAKESPANS):
    out = tmp_path / "reference-x"
    out.mkdir()
    meta = {
        "started_at": "2025-01-02T03:04:05+00:00",
        "elapsed_s": 1800,
        "parameters": {
            "partitions": 16,
            "events_per_partition": 10000,
            "latency_s": 2.0,
            "parallelism": 8,
            "chunk_size": 4,
            "rounds": 3,
            "strategies": ["sequential_loop", "catchup_backfill", "dynamic_mapping"],
            "profiles": ["lab", "default"],
        },
        "machine": {"cpu_model": "Test CPU", "cores_logical": 2, "memory_gib": 16.0},
        "versions": {"apache-airflow": "3.3.2", "duckdb": "2.0.0"},
        "t_partition_s": 2.05,
    }
    (out / "reference.json").write_text(json.dumps(meta))
    trials(makespans).to_csv(out / "results.csv", index=False)
    return out


def test_readme_block_is_rewritten_between_its_markers_only(tmp_path):
    out = saved_run(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text(f"# Lab\n\nbefore\n{README_START}\nplaceholder\n{README_END}\nafter\n")

    assert update_readme(out, repo) == 0
    text = (repo / "README.md").read_text()
    assert text.startswith("# Lab\n\nbefore\n") and text.endswith(f"{README_END}\nafter\n")
    assert "placeholder" not in text
    assert "**lab profile**: dynamic_mapping ran 4.86x (4.00x..7.00x) as fast as sequential_loop" in text
    assert "**default profile**: dynamic_mapping ran" in text and NO_DIFFERENCE in text
    assert "load average (1 min) 1.0..3.0 during the trials" in text
    assert "wave bound ceil(N/P) x t_partition = 4.1 s" in text
    assert "(docs/benchmark/reference_makespan.png)" in text
    assert (repo / "docs" / "benchmark" / "reference_makespan.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "report.md").read_text().startswith(README_START)
    assert update_readme(out, repo) == 0 and (repo / "README.md").read_text() == text  # idempotent


def test_readme_is_left_alone_without_markers_or_a_reference_run(tmp_path):
    (tmp_path / "README.md").write_text("# Lab\n")
    assert update_readme(saved_run(tmp_path), tmp_path) == 1
    notebook_run = tmp_path / "20250101T000000Z"
    notebook_run.mkdir()
    (tmp_path / "README.md").write_text(f"{README_START}\nold\n{README_END}\n")
    assert update_readme(notebook_run, tmp_path) == 1
    assert (tmp_path / "README.md").read_text() == f"{README_START}\nold\n{README_END}\n"


def test_reference_parameters_and_profile_order():
    config = reference.reference_config()
    assert (config.partitions, config.parallelism, config.latency_s, config.events_per_partition) == (
        16,
        8,
        2.0,
        10_000,
    )
    assert config.repeats >= 5 and config.chunk_size == 4
    assert [reference.profile_order(r) for r in range(3)] == [
        ["lab", "default"],
        ["default", "lab"],
        ["lab", "default"],
    ]
    with pytest.raises(BenchConfigError):
        reference.reference_config({"parallelism": 0})


@pytest.mark.parametrize(
    ("param", "message"),
    [(["-p", "sweep", "1,2"], "unknown parameter(s) ['sweep']"), (["-p", "repeats", "0"], "repeats")],
)
def test_bad_reference_parameters_are_refused_before_anything_runs(param, message, tmp_path):
    with pytest.raises(SystemExit, match=re.escape(message)):
        lab_main(["bench", "--reference", "--out", str(tmp_path / "out"), *param])
    assert not (tmp_path / "out").exists()
