"""Writing partitions: the layout, idempotent re-runs, atomic swaps, crash leftovers."""

import subprocess
import sys
import time

import duckdb
import pytest

from lab import lake
from lab.partitions import Partition, PartitionError


def test_write_creates_hive_partition_with_exact_rows(tmp_path):
    written = lake.write_partition("2024-01-01", 250, lake_dir=tmp_path)
    assert written["rows"] == 250
    assert written["partition"] == "event_date=2024-01-01"
    assert written["path"] == str(lake.partition_dir("2024-01-01", lake_dir=tmp_path))
    assert lake.partition_files(lake_dir=tmp_path) == {"event_date=2024-01-01": ["data_0.parquet"]}
    counts = lake.partition_counts(lake_dir=tmp_path)
    assert counts.to_dict("records") == [{"partition": "event_date=2024-01-01", "rows": 250}]


def test_hive_columns_are_read_back(tmp_path):
    lake.write_partition("2024-01-02", 10, "DE", table="by_country", lake_dir=tmp_path)
    row = duckdb.sql(
        f"SELECT DISTINCT event_date::VARCHAR AS d, country FROM {lake.scan('by_country', tmp_path)}"
    ).fetchall()
    assert row == [("2024-01-02", "DE")]


def test_rerun_replaces_the_partition_and_leaves_others_alone(tmp_path):
    lake.write_partition("2024-01-01", 100, lake_dir=tmp_path)
    lake.write_partition("2024-01-02", 100, lake_dir=tmp_path)
    before = lake.checksums(lake_dir=tmp_path)
    lake.write_partition("2024-01-01", 40, lake_dir=tmp_path)
    after = lake.checksums(lake_dir=tmp_path)
    assert after["event_date=2024-01-02"] == before["event_date=2024-01-02"]
    assert lake.validate(["event_date=2024-01-01"], 40, lake_dir=tmp_path)["ok"]
    assert lake.partition_files(lake_dir=tmp_path)["event_date=2024-01-01"] == ["data_0.parquet"]
    assert list((tmp_path / lake.STAGING / "events").iterdir()) == []  # nothing left in staging


def test_same_input_writes_identical_bytes(tmp_path):
    lake.write_partition("2024-01-01", 100, lake_dir=tmp_path)
    first = lake.checksums(lake_dir=tmp_path)
    lake.write_partition("2024-01-01", 100, lake_dir=tmp_path)
    assert lake.checksums(lake_dir=tmp_path) == first


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"event_date": "2024-02-30", "events_per_partition": 1}, "not a real calendar date"),
        ({"event_date": "2024-01-01", "events_per_partition": 0}, "events_per_partition"),
        ({"event_date": "2024-01-01", "events_per_partition": 1, "country": "XX"}, "unknown country"),
    ],
)
def test_bad_input_writes_nothing(tmp_path, kwargs, message):
    with pytest.raises(PartitionError, match=message):
        lake.write_partition(**kwargs, lake_dir=tmp_path)
    assert not (tmp_path / "events").exists()


def test_validate_reports_missing_and_wrong_counts(tmp_path):
    lake.write_partition("2024-01-01", 5, lake_dir=tmp_path)
    report = lake.validate(["event_date=2024-01-01", "event_date=2024-01-02"], 6, lake_dir=tmp_path)
    assert report == {
        "missing": ["event_date=2024-01-02"],
        "wrong_counts": {"event_date=2024-01-01": 5},
        "several_files": {},
        "ok": False,
    }
    # Partition values and their paths are the same expectation.
    assert lake.validate([Partition("2024-01-01"), Partition("2024-01-02")], 6, lake_dir=tmp_path) == report


def test_validate_refuses_an_expectation_that_is_not_a_partition_path(tmp_path):
    with pytest.raises(PartitionError, match="a partition path is written"):
        lake.validate(["2024-01-01"], 6, lake_dir=tmp_path)


def test_partition_counts_with_files(tmp_path):
    lake.write_partition("2024-01-02", 3, "FR", table="t", lake_dir=tmp_path)
    lake.write_partition("2024-01-01", 4, "DE", table="t", lake_dir=tmp_path)
    assert lake.partition_counts("t", tmp_path, files=True).to_dict("records") == [
        {"partition": "event_date=2024-01-01/country=DE", "rows": 4, "files": 1},
        {"partition": "event_date=2024-01-02/country=FR", "rows": 3, "files": 1},
    ]
    assert list(lake.partition_counts("empty", tmp_path, files=True).columns) == [
        "partition",
        "rows",
        "files",
    ]


def test_the_writer_is_self_contained_as_a_virtualenv_task_needs(tmp_path):
    """@task.virtualenv runs the function's source alone: no module globals, no lab imports."""
    import inspect
    import textwrap

    from lab import lake_writer

    source = textwrap.dedent(inspect.getsource(lake_writer.write_events_partition))
    namespace: dict = {}
    exec(compile(source, "<virtualenv script>", "exec"), namespace)  # what the operator's script does
    written = namespace["write_events_partition"](
        "2024-01-01", 7, str(tmp_path / "t"), str(tmp_path / ".staging" / "t"), country="DE"
    )
    assert written["partition"] == "event_date=2024-01-01/country=DE" and written["rows"] == 7
    assert lake.partition_counts("t", tmp_path)["rows"].tolist() == [7]
    assert "PARTITION_BY (event_date, country)" in written["sql"]


def test_a_dry_run_shows_the_statement_and_writes_nothing(tmp_path):
    from lab.lake_writer import write_events_partition
    from lab.partitions import Partition

    sql = lake.copy_statement(Partition("2024-01-01", "DE"), 5, table="t")
    assert sql.startswith("COPY (\nSELECT") and "FROM range(5)" in sql
    assert sql.endswith(
        "TO '<lake>/.staging/t/<pid>-<uuid>/out' (FORMAT parquet, PARTITION_BY (event_date, country))"
    )
    dry = write_events_partition(
        "2024-01-01", 5, str(tmp_path / "t"), str(tmp_path / "s"), "DE", dry_run=True
    )
    assert dry["sql"].replace(str(tmp_path / "s"), "<lake>/.staging/t") == sql
    assert list(tmp_path.iterdir()) == []  # validated and rendered, nothing created


def test_writer_killed_mid_write_leaves_old_partition_and_its_staging_is_swept(tmp_path):
    lake.write_partition("2024-01-01", 10, lake_dir=tmp_path)
    before = lake.checksums(lake_dir=tmp_path)
    # A writer that dies (SIGKILL) while DuckDB is still writing a big partition.
    code = (
        "import sys; from lab import lake; "
        f"lake.write_partition('2024-01-01', 50_000_000, lake_dir={str(tmp_path)!r})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    staging = tmp_path / lake.STAGING / "events"
    deadline = time.monotonic() + 30
    while not any(staging.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until it has started writing, then kill it
    time.sleep(0.3)
    assert proc.poll() is None, "the writer finished before it could be killed"
    proc.kill()
    proc.wait()
    assert lake.checksums(lake_dir=tmp_path) == before  # the old partition is intact
    assert any(staging.iterdir())  # its leftovers are outside the table...
    lake.write_partition("2024-01-02", 10, lake_dir=tmp_path)
    assert not any(p.name.startswith(f"{proc.pid}-") for p in staging.iterdir())  # ...and swept next time
    assert set(lake.partition_files(lake_dir=tmp_path)) == {"event_date=2024-01-01", "event_date=2024-01-02"}


def test_table_names_cannot_escape_the_lake(tmp_path):
    with pytest.raises(ValueError, match="table name"):
        lake.table_dir("../etc", tmp_path)
