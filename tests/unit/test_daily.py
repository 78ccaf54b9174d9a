"""lab.daily's views of a meeting of runs (built from synthetic records; the real runs are in
tests/integration/test_partitioned_events_daily.py)."""

import pandas as pd

from lab import daily

T0 = pd.Timestamp("2024-04-10T12:00:00Z")


def ti(run, task_id, start, end, label=None):
    return {
        "run": run,
        "task_id": task_id,
        "rendered_map_index": label,
        "start_date": T0 + pd.Timedelta(seconds=start),
        "end_date": T0 + pd.Timedelta(seconds=end),
    }


def meeting():
    scheduled = "scheduled 2024-04-02 (backfill)"
    tis = pd.DataFrame(
        [
            ti(daily.RELOAD, "plan_partitions", 0, 1),
            ti(daily.RELOAD, "write_partition", 1, 4, "2024-04-10 / DE"),
            ti(daily.RELOAD, "write_partition", 1, 4, "2024-04-10 / FR"),
            ti(scheduled, "plan_partitions", 0, 2),  # not a write: the pool does not count it
            ti(scheduled, "write_partition", 2, 3, "2024-04-01 / DE"),
        ]
    )
    runs = pd.DataFrame(
        [
            {
                "run": daily.RELOAD,
                "run_type": "manual",
                "ds": None,
                "logical_date": None,
                "run_after": "2024-04-10T11:59:58.123Z",
                "data_interval_start": None,
                "data_interval_end": None,
                "loads": "2024-04-10 / DE, 2024-04-10 / FR",
                "partitions": 2,
                "state": "success",
            },
            {
                "run": scheduled,
                "run_type": "backfill",
                "ds": "2024-04-02",
                "logical_date": "2024-04-02T00:00:00Z",
                "run_after": "2024-04-02T00:00:00Z",
                "data_interval_start": "2024-04-02T00:00:00Z",
                "data_interval_end": "2024-04-02T00:00:00Z",
                "loads": "2024-04-01 / DE",
                "partitions": 1,
                "state": "success",
            },
        ]
    )
    return daily.Meeting(runs=runs, tis=tis)


def test_peaks_count_the_writes_per_run_and_together():
    seen = meeting()
    assert seen.peaks().to_dict() == {daily.RELOAD: 2, "scheduled 2024-04-02 (backfill)": 1}
    assert seen.total_peak() == 3
    assert len(seen.writes()) == 3


def test_dates_show_only_the_scheduled_runs_to_the_minute():
    assert meeting().dates().to_dict("index") == {
        "scheduled 2024-04-02 (backfill)": {
            "ds": "2024-04-02",
            "logical_date": "2024-04-02 00:00",
            "run_after": "2024-04-02 00:00",
            "data_interval_start": "2024-04-02 00:00",
            "data_interval_end": "2024-04-02 00:00",
            "loads": "2024-04-01 / DE",
        }
    }


def test_summary_of_many_partitions_names_the_first_and_last():
    assert daily._summary(["a", "b"]) == "a, b"
    assert daily._summary(["a", "b", "c", "d"]) == "a ... d (4)"


def test_summary_marks_a_manual_run_without_a_day():
    summary = meeting().summary()
    assert summary["ds"].tolist() == ["-", "2024-04-02"]
    assert list(summary.columns) == ["run", "run_type", "ds", "loads", "partitions", "state"]
