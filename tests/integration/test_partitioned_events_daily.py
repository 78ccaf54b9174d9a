"""partitioned_events_daily on the session's real Airflow: one DAG on a schedule that also takes reloads.

What a scheduled day's run is on Airflow 3 (`@daily` is a CronTriggerTimetable), that the lab's
copy never runs by itself, and what its limits do when a large reload meets the daily runs:
max_active_runs holds back a second manual run but not a backfill, max_active_tis_per_dagrun
caps each run, the pool caps all of them together.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest

from lab import daily, lake
from lab.concurrency import DAILY
from lab.partitions import COUNTRY_TABLE, plan_partitions
from lab.timeline import overlaps

pytestmark = pytest.mark.airflow
EVENTS = 40
RELOAD = {
    "mode": "range",
    "start_date": "2023-05-10",
    "end_date": "2023-05-12",
    "countries": ["DE", "FR", "NL"],
    "events_per_partition": EVENTS,
    "latency_s": 2,
}
FIX = {
    "mode": "country_reload",
    "start_date": "2023-05-11",
    "end_date": "2023-05-11",
    "countries": ["SE"],
    "events_per_partition": EVENTS,
    "latency_s": 2,
}
DAYS = ("2023-05-02", "2023-05-03")
DAY_CONF = {"countries": ["DE", "FR"], "events_per_partition": EVENTS, "latency_s": 2}


@pytest.fixture(scope="module")
def meeting():
    from lab.client import Airflow

    return daily.meet(Airflow(), reload=RELOAD, fix=FIX, days=DAYS, day_conf=DAY_CONF)


def test_the_lab_copy_is_daily_and_never_runs_by_itself(airflow):
    schedule = daily.schedule(airflow)
    assert schedule["timetable_summary"] == "0 0 * * *" and schedule["catchup"] is False
    assert schedule["end_date"] == "2024-12-31T00:00:00Z"
    assert schedule["next_dagrun_run_after"] is None  # past its end_date: the scheduler creates no run
    before = len(airflow.runs(daily.DAG_ID))
    airflow.unpause(daily.DAG_ID)
    time.sleep(10)  # several scheduler loops (heartbeat 2 s)
    assert len(airflow.runs(daily.DAG_ID)) == before


def test_a_scheduled_day_is_due_at_midnight_and_loads_the_day_before(meeting):
    dates = meeting.dates()
    assert dates.to_dict("index") == {
        "scheduled 2023-05-02 (backfill)": {
            "ds": "2023-05-02",
            "logical_date": "2023-05-02 00:00",
            "run_after": "2023-05-02 00:00",
            "data_interval_start": "2023-05-02 00:00",  # a data interval of zero length
            "data_interval_end": "2023-05-02 00:00",
            "loads": "2023-05-01 / DE, 2023-05-01 / FR",
        },
        "scheduled 2023-05-03 (backfill)": {
            "ds": "2023-05-03",
            "logical_date": "2023-05-03 00:00",
            "run_after": "2023-05-03 00:00",
            "data_interval_start": "2023-05-03 00:00",
            "data_interval_end": "2023-05-03 00:00",
            "loads": "2023-05-02 / DE, 2023-05-02 / FR",
        },
    }
    runs = meeting.runs.set_index("run")
    assert runs["state"].tolist() == ["success"] * 4
    assert runs["run_type"].tolist() == ["manual", "manual", "backfill", "backfill"]
    assert pd.isna(runs.loc[daily.RELOAD, "ds"])  # a manual run has no logical date
    written = plan_partitions("range", "2023-05-01", "2023-05-02", ["DE", "FR"])
    written += plan_partitions("range", "2023-05-10", "2023-05-12", ["DE", "FR", "NL"])
    written += plan_partitions("range", "2023-05-11", "2023-05-11", ["SE"])
    assert lake.validate(written, EVENTS, COUNTRY_TABLE)["ok"]


def test_each_run_is_capped_and_the_pool_caps_them_all(meeting, airflow):
    peaks = meeting.peaks()
    assert (peaks <= DAILY.max_active_tis_per_dagrun).all()
    assert peaks[daily.RELOAD] == DAILY.max_active_tis_per_dagrun  # the reload reached its cap (> 1)
    # Together they wrote more at once than any one run may: the daily runs took the pool's
    # slot the capped reload left free, and never more than the pool holds.
    assert DAILY.max_active_tis_per_dagrun < meeting.total_peak() <= DAILY.pool_slots
    assert set(meeting.writes()["pool"]) == {DAILY.pool}
    assert airflow.pool(DAILY.pool)["slots"] == DAILY.pool_slots


def test_max_active_runs_holds_back_a_manual_run_but_not_the_backfill(meeting):
    spans = meeting.runs.set_index("run")
    reload, fix = spans.loc[daily.RELOAD], spans.loc[daily.FIX]
    first, second = (spans.loc[f"scheduled {day} (backfill)"] for day in DAYS)
    assert fix["first_start"] >= reload["last_end"]  # max_active_runs=1: the fix waited for the reload
    assert overlaps(first, reload)  # a backfill's runs count against the backfill's own limit
    assert not overlaps(first, second)  # ... which is 1: one scheduled day after the other
    assert [b["completed_at"] is not None for b in daily_backfills()] == [True]


def daily_backfills():
    from lab.client import Airflow

    return Airflow().backfills(daily.DAG_ID)
