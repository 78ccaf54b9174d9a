"""The tuning tables: a variant is called better or worse than the default only beyond the spread."""

import pandas as pd
import pytest

from lab import profiles
from lab.bench.tuning import VARIANTS, compare, floors, verdict


def test_overlapping_spreads_are_no_measurable_difference():
    assert verdict(pd.Series([4.0, 5.0, 6.0]), pd.Series([5.5, 7.0, 8.0])) == "no measurable difference"


def test_disjoint_spreads_give_the_ratio_of_medians():
    assert verdict(pd.Series([2.0, 3.0, 4.0]), pd.Series([5.0, 6.0, 7.0])) == "lower: 0.50x the default"
    assert verdict(pd.Series([9.0, 12.0]), pd.Series([5.0, 6.0, 7.0])) == "higher: 1.75x the default"


def test_compare_leaves_unverified_trials_out():
    rows = pd.DataFrame(
        [
            {
                "variant": "default",
                "partitions": 32,
                "parallelism": 8,
                "makespan_s": m,
                "verified": True,
                "load_1min": 1,
            }
            for m in (10.0, 11.0, 12.0)
        ]
        + [
            {
                "variant": "idle_sleep_0.1",
                "partitions": 32,
                "parallelism": 8,
                "makespan_s": m,
                "verified": v,
                "load_1min": 1,
            }
            for m, v in ((6.0, True), (7.0, True), (1.0, False))
        ]
    )
    table = compare(rows, "makespan_s").set_index("variant")
    assert table.loc["idle_sleep_0.1", "runs"] == 2
    assert table.loc["idle_sleep_0.1", "makespan_s"] == "6.50 (6.00..7.00)"
    assert table.loc["idle_sleep_0.1", "verdict"] == "lower: 0.59x the default"
    assert table.loc["default", "verdict"] == ""


@pytest.mark.parametrize("name", [n for n in VARIANTS if n not in ("default", "lab")])
def test_each_candidate_changes_the_default_profile_in_one_place(name):
    base = profiles.profile_env("default")
    _, env = VARIANTS[name]
    changed = {k for k in env.keys() | base.keys() if env.get(k) != base.get(k)}
    assert len(changed) == 1, changed


def test_startup_table_shows_the_start_cpu_and_its_bound_per_checkout():
    from lab.bench import startup

    rows = pd.DataFrame(
        [
            {
                "checkout": "/a",
                "make_up_s": up,
                "up_cpu_s": cpu,
                "up_cpu_bound_s": cpu / 2,
                "cpu_pct": 8.0,
                "pss_mib": 780.0,
                "load_1min": 1.0,
            }
            for up, cpu in [(15.0, 24.0), (14.0, 22.0), (16.0, 26.0)]
        ]
    )
    line = startup.table(rows).splitlines()[2]
    assert line.startswith(
        "| /a | 3 | 15.0 (14.0..16.0) | 24.0 (22.0..26.0) | 12.0 (11.0..13.0) | 8.0 (8.0..8.0) |"
    )


def test_floors_climb_from_the_bare_write_to_the_running_airflow_per_task_instance():
    references = pd.DataFrame(
        [
            {"reference": "dag.test()", "per_task_s": 0.2, "verified": True, "round": 0},
            {"reference": "in-process write_partition", "per_task_s": 0.01, "verified": True, "round": 0},
            {"reference": "dag.test()", "per_task_s": 0.3, "verified": False, "round": 1},
            {"reference": "in-process write_partition", "per_task_s": 0.03, "verified": True, "round": 1},
        ]
    )
    trials = pd.DataFrame(
        [
            {"variant": v, "parallelism": p, "makespan_s": m, "task_instances": 17, "verified": ok}
            for v, p, m, ok in [
                ("default", 1, 17.0, True),
                ("default", 1, 34.0, True),
                ("lab", 1, 8.5, True),
                ("lab", 1, 0.5, False),  # unverified: left out
                ("lab", 8, 1.0, True),  # not one at a time: left out
            ]
        ]
    )
    table = floors(trials, references).set_index("one no-op task instance after another")
    assert list(table.index) == [
        "in-process write_partition",
        "dag.test()",
        "running Airflow, P = 1, Airflow's defaults (the `default` profile)",
        "running Airflow, P = 1, the `lab` profile",
    ]
    assert table["runs"].tolist() == [2, 2, 2, 1]
    assert table["verified"].tolist() == [True, False, True, True]
    assert table.loc["dag.test()", "s per task instance"] == "0.250 (0.200..0.300)"
    assert table.loc["dag.test()", "minus the bare write, s"] == "0.230"
    assert table.iloc[2]["s per task instance"] == "1.500 (1.000..2.000)"
    assert table.iloc[3]["minus the bare write, s"] == "0.480"


@pytest.mark.parametrize(("name", "base"), [("default_no_bytecode", "default"), ("lab_no_bytecode", "lab")])
def test_the_no_bytecode_explanations_are_their_profile_without_pyc_files(name, base):
    from lab.bench.tuning import EXPLANATIONS, KNOWN, WITHOUT_BYTECODE

    _, env = EXPLANATIONS[name]
    _, base_env = VARIANTS[base]
    assert {k: v for k, v in env.items() if base_env.get(k) != v} == WITHOUT_BYTECODE
    assert name in KNOWN and name not in VARIANTS  # make bench-candidates does not run them
