"""Concurrency and lanes computed from recorded task-instance timelines."""

import pandas as pd

from lab.timeline import assign_lanes, max_concurrency, max_concurrency_by, overlaps, span_seconds, spans

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


def test_peaks_and_spans_per_group():
    frame = tis((0, 4), (1, 3), (2, 5), (5, 7)).assign(run=["a", "a", "b", "b"])
    assert max_concurrency_by(frame, "run").to_dict() == {"a": 2, "b": 1}
    assert max_concurrency(frame) == 3  # a's two and b's first, at t = 2..3
    found = spans(frame, "run")
    assert list(found.index) == ["a", "b"]
    assert (found.loc["a", "first_start"], found.loc["a", "last_end"]) == (T0, T0 + pd.Timedelta(seconds=4))
    assert overlaps(found.loc["a"], found.loc["b"])
    after = spans(tis((4, 5)).assign(run="c"), "run").loc["c"]
    assert not overlaps(found.loc["a"], after)  # c starts exactly when a ends
