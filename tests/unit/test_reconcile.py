"""The partition-status matrix's logic without Airflow: verdicts, labels, bad input, the grid."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from lab import reconcile
from lab.client import Airflow
from lab.partitions import PartitionError
from lab.processes import free_port

T0 = pd.Timestamp("2024-01-05 10:00:00", tz="UTC")
T1 = T0 + pd.Timedelta(seconds=10)


def attempt(state: str | None, start=T0, end=T1) -> pd.Series:
    return pd.Series({"state": state, "start_date": start, "end_date": end, "try_number": 1})


@pytest.mark.parametrize(
    "latest, files, written, verdict",
    [
        (None, 0, pd.NaT, "not loaded"),
        (None, 1, T0, "files, no successful run"),
        (attempt("success"), 1, T0 + pd.Timedelta(seconds=5), "ok"),
        (attempt("success"), 0, pd.NaT, "success, no files"),
        (attempt("success"), 1, T0 - pd.Timedelta(days=1), "success, older files"),
        (attempt("success"), 1, T0 + pd.Timedelta(minutes=5), "files newer than the run"),
        (attempt("failed"), 1, T0 - pd.Timedelta(days=1), "failed, older files"),
        (attempt("upstream_failed", None, None), 0, pd.NaT, "failed, no files"),
        (attempt("up_for_retry"), 1, T0, "in progress"),
        (attempt(None, None, None), 0, pd.NaT, "in progress"),
    ],
)
def test_verdict(latest, files, written, verdict):
    assert reconcile._verdict(latest, files, written) == verdict
    assert (verdict in reconcile.FLAGGED) == (verdict not in ("ok", "not loaded", "in progress"))


@pytest.mark.parametrize(
    "ti, key",
    [
        (
            {"rendered_fields": {"op_kwargs": {"event_date": "2024-01-02", "country": "FR"}}},
            ("2024-01-02", "FR"),
        ),
        ({"rendered_fields": {}, "rendered_map_index": "2024-01-02 / FR"}, ("2024-01-02", "FR")),
    ],
)
def test_a_task_instance_names_its_partition(ti, key):
    source = reconcile.SOURCES["partitioned_events"]
    assert reconcile._key_of(None, source, pd.Series(ti), {}) == key


def test_a_demo_task_instance_names_its_date():
    source = reconcile.SOURCES["dynamic_task_mapping_demo"]
    by_kwargs = pd.Series({"rendered_fields": {"op_kwargs": {"date_str": "2024-01-03", "lake_dir": "/x"}}})
    by_label = pd.Series({"rendered_fields": None, "rendered_map_index": "Partition: 2024-01-03"})
    assert reconcile._key_of(None, source, by_kwargs, {}) == ("2024-01-03", None)
    assert reconcile._key_of(None, source, by_label, {}) == ("2024-01-03", None)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("no_such_dag", "2024-01-01", "2024-01-02"), {}, "no partition layout known for DAG 'no_such_dag'"),
        (("partitioned_events", "2024-01-05", "2024-01-01"), {}, "before start_date"),
        (("partitioned_events", "2024-01-01", "2024-01-02", ["XX"]), {}, "unknown country 'XX'"),
        (("dynamic_task_mapping_demo", "2024-01-01", "2024-01-02", ["DE"]), {}, "leave countries out"),
    ],
)
def test_bad_input_is_refused_before_asking_airflow(args, kwargs, message, tmp_path):
    closed = Airflow(url=f"http://127.0.0.1:{free_port()}")  # would raise "cannot reach" if asked
    with pytest.raises(PartitionError, match=message):
        reconcile.partition_status(*args, client=closed, lake_dir=tmp_path, **kwargs)


def test_grid_and_style():
    status = pd.DataFrame(
        {
            "event_date": ["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-02"],
            "country": ["FR", "DE", "FR", "DE"],
            "rows": [10, 0, 0, 4],
            "verdict": ["ok", "success, no files", "not loaded", "files, no successful run"],
        }
    )
    grid = reconcile.status_grid(status)
    assert list(grid.columns) == ["FR", "DE"]
    assert grid.loc["2024-01-01"].tolist() == ["ok, 10 rows", "success, no files"]
    assert grid.loc["2024-01-02"].tolist() == ["not loaded", "files, no successful run"]
    css = reconcile.style_status(grid).to_html().split("</style>")[0]
    red = re.search(r"([^{}]*)\{[^}]*#ffebe9", css).group(1)  # the selectors styled red
    green = re.search(r"([^{}]*)\{[^}]*#dafbe1", css).group(1)
    assert "row0_col1" in red and "row1_col1" in red and "row0_col0" not in red
    assert "row0_col0" in green
    dates_only = reconcile.status_grid(status.drop(columns="country").iloc[:1])
    assert dates_only.to_dict() == {"partition": {"2024-01-01": "ok, 10 rows"}}
