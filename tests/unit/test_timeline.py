"""Concurrency and lanes computed from recorded task-instance timelines."""

import pandas as pd

from lab.timeline import assign_lanes, max_concurrency, span_seconds

T0 = pd.Timestamp("2024-01-01T00:00:00Z")


def tis(*intervals):
    return pd.DataFrame(
        [
            {
                "task_id": "t",
                "start_date": T0 + pd.Timedelta(seconds=a),
                "end_date": T0 + pd.Timedelta(seconds=b),
            }
            for a, b in intervals
        ]
    )


def test_sequential_instances_never_overlap():
    frame = tis((0, 1), (1, 2), (2, 3))  # each starts exactly when the previous ends
    assert max_concurrency(frame) == 1
    assert assign_lanes(frame)["lane"].tolist() == [0, 0, 0]
    assert span_seconds(frame) == 3


def test_two_slots():
    frame = tis((0, 2), (0, 2), (2, 4), (2.5, 3))
    assert max_concurrency(frame) == 2
    assert assign_lanes(frame)["lane"].tolist() == [0, 1, 0, 1]


def test_unfinished_instances_are_ignored():
    frame = pd.concat([tis((0, 5)), pd.DataFrame([{"task_id": "t", "start_date": None, "end_date": None}])])
    assert max_concurrency(frame) == 1
    assert len(assign_lanes(frame)) == 1
