"""The tuning tables: a variant is called better or worse than the default only beyond the spread."""

import pandas as pd
import pytest

from lab import profiles
from lab.bench.tuning import VARIANTS, compare, verdict


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
