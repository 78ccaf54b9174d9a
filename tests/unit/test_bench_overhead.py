"""A task instance's time taken apart: phases from Airflow's records and the task's own report."""

import math

import pandas as pd
import pytest

from lab.bench.overhead import (
    IN_TASK,
    PHASES,
    add_reports,
    decompose,
    in_task_residual_s,
    phase_summary,
    serial_chain,
    slot_overhead_per_task,
)
from lab.bench.workload import process_started_at, report

T0 = pd.Timestamp("2024-06-01T12:00:00Z")
EPOCH = T0.timestamp()


def at(seconds):
    return None if seconds is None else T0 + pd.Timedelta(seconds=seconds)


def instance(task_id, map_index, scheduled, queued, start, end):
    return {
        "task_id": task_id,
        "map_index": map_index,
        "state": "success",
        "scheduled_when": at(scheduled),
        "queued_when": at(queued),
        "start_date": at(start),
        "end_date": at(end),
    }


def reported(forked, entered, exited, work):
    """A task's report, with moments in seconds after T0."""
    return {
        "partitions": ["2024-01-01"],
        "events": 1,
        "work_s": work,
        "process_started_at": EPOCH + forked,
        "entered_at": EPOCH + entered,
        "exited_at": EPOCH + exited,
    }


@pytest.fixture
def mapping_at_p1():
    """A planning task, then two mapped instances one after the other (P = 1)."""
    tis = pd.DataFrame(
        [
            instance("plan", -1, 0.5, 1.0, 1.5, 2.5),
            instance("process", 0, 3.0, 3.2, 3.6, 5.0),
            instance("process", 1, 3.0, 5.5, 6.0, 7.25),
        ]
    )
    reports = [None, reported(3.5, 4.0, 4.75, 0.5), reported(5.9, 6.5, 7.0, 0.25)]
    return add_reports(tis, reports)


def test_reports_become_timestamps(mapping_at_p1):
    row = mapping_at_p1.iloc[1]
    assert row["entered_at"] == at(4.0)
    assert row["exited_at"] == at(4.75)
    assert row["process_started_at"] == at(3.5)
    assert row["work_s"] == 0.5
    assert pd.isna(mapping_at_p1.iloc[0]["entered_at"])  # the planning task reports nothing


def test_report_count_must_match():
    with pytest.raises(ValueError, match="2 reports for 1"):
        add_reports(pd.DataFrame([instance("t", -1, 0, 0, 1, 2)]), [None, None])


def test_phases(mapping_at_p1):
    d = decompose(mapping_at_p1).set_index("map_index")
    first = d.loc[0]
    assert first["scheduled_s"] == pytest.approx(0.2)
    assert first["queued_s"] == pytest.approx(0.4)
    assert first["startup_s"] == pytest.approx(0.4)
    assert first["function_s"] == pytest.approx(0.75)
    assert first["finish_s"] == pytest.approx(0.25)
    assert first["function_overhead_s"] == pytest.approx(0.25)  # 0.75 in the function, 0.5 of it work
    assert first["forked_before_start_s"] == pytest.approx(0.1)
    assert first["slot_gap_s"] == pytest.approx(0.5)  # ended at 5.0, the next one queued at 5.5


def test_in_task_phases_sum_to_the_duration(mapping_at_p1):
    d = decompose(mapping_at_p1)
    with_report = d.dropna(subset=["entered_at"])
    assert len(with_report) == 2
    for _, row in with_report.iterrows():
        assert sum(row[p] for p in IN_TASK) == pytest.approx(row["duration_s"])
    assert in_task_residual_s(with_report).abs().max() == pytest.approx(0, abs=1e-9)
    assert in_task_residual_s(d).isna().tolist() == [True, False, False]  # nothing to split without a report


def test_every_phase_from_scheduled_to_the_next_queued_adds_up(mapping_at_p1):
    d = decompose(mapping_at_p1).set_index("map_index")
    first = d.loc[0]
    total = sum(first[p] for p in PHASES)
    assert total == pytest.approx((first["next_queued_when"] - first["scheduled_when"]).total_seconds())


def test_slots_are_reused_in_queued_order():
    """Two slots: the third instance takes the slot freed first, the gap is measured from its end."""
    tis = pd.DataFrame(
        [
            instance("t", 0, 0, 0.0, 0.1, 2.0),
            instance("t", 1, 0, 0.0, 0.1, 1.0),
            instance("t", 2, 0, 1.5, 1.6, 3.0),
            instance("t", 3, 0, 2.25, 2.3, 3.0),
        ]
    )
    d = decompose(tis).set_index("map_index")
    assert d.loc[2, "slot"] == d.loc[1, "slot"] != d.loc[0, "slot"]
    assert d.loc[1, "slot_gap_s"] == pytest.approx(0.5)
    assert d.loc[0, "slot_gap_s"] == pytest.approx(0.25)
    assert math.isnan(d.loc[2, "slot_gap_s"]) and math.isnan(d.loc[3, "slot_gap_s"])  # nothing came after
    assert d["slot"].max() == 1  # never more than the two slots


def test_instances_that_never_ran_are_left_alone():
    tis = pd.DataFrame([instance("t", 0, 0, 0.0, 0.5, 1.0), instance("t", 1, 0, None, None, None)])
    d = decompose(tis).set_index("map_index")
    assert pd.isna(d.loc[1, "slot"]) and math.isnan(d.loc[1, "queued_s"])
    assert math.isnan(d.loc[0, "slot_gap_s"])


def test_phase_summary(mapping_at_p1):
    d = decompose(mapping_at_p1).assign(strategy="dynamic_mapping")
    table = phase_summary(d).set_index("phase")
    assert table.loc["startup_s", "instances"] == 2
    assert table.loc["startup_s", "median"] == pytest.approx((0.4 + 0.5) / 2)
    assert table.loc["startup_s", "min"] == pytest.approx(0.4)
    assert table.loc["queued_s", "instances"] == 3  # the planning task too


def test_serial_chain_adds_up_to_the_makespan(mapping_at_p1):
    d = decompose(mapping_at_p1)
    chain = serial_chain(d, T0)
    assert chain["lead_in_s"].tolist() == pytest.approx([1.0, 0.7, 0.5])
    assert chain.drop(columns=["task_id", "map_index"]).sum().sum() == pytest.approx(7.25)
    assert chain.iloc[0]["unreported_s"] == pytest.approx(1.0)  # the planning task's whole duration


def test_serial_chain_refuses_overlapping_instances():
    tis = pd.DataFrame([instance("t", 0, 0, 0, 0.1, 2), instance("t", 1, 0, 0.5, 0.6, 3)])
    with pytest.raises(ValueError, match="overlap"):
        serial_chain(decompose(tis), T0)


def test_slot_overhead_per_task(mapping_at_p1):
    d = decompose(mapping_at_p1)
    # P = 1: 7.25 s of makespan, 0.75 + 0.5 s in functions, 3 instances
    assert slot_overhead_per_task(d, T0, 1) == pytest.approx((7.25 - 1.25) / 3)
    assert slot_overhead_per_task(d, T0, 2) == pytest.approx((14.5 - 1.25) / 3)


def test_the_task_report_carries_its_own_moments():
    entered = EPOCH
    r = report([{"event_date": "2024-01-01", "rows": 5, "seconds": 0.25}], entered)
    assert r["partitions"] == ["2024-01-01"] and r["events"] == 5 and r["work_s"] == 0.25
    assert r["entered_at"] == entered
    assert r["exited_at"] >= r["process_started_at"]
    started = process_started_at()
    assert started is not None and started <= r["exited_at"]
