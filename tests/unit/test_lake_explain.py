"""lab.lake.explain_scans: partition pruning as numbers, on a real lake of Parquet files."""

import pytest

from lab import lake


@pytest.fixture
def con(tmp_path):
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        lake.write_partition(day, 20, table="pruning", lake_dir=tmp_path)
    connection = lake.connect()
    connection.execute(f"CREATE VIEW t AS SELECT * FROM {lake.scan('pruning', tmp_path)}")
    yield connection
    connection.close()


def test_a_filter_on_the_partition_key_reads_one_file(con):
    (scan,) = lake.explain_scans(con, "SELECT count(*) FROM t WHERE event_date = DATE '2024-01-02'")
    assert scan["files_read"] == 1
    assert scan["files_considered"] == "1/3"
    assert "event_date" in scan["file_filters"]
    assert scan["rows_scanned"] == 20


def test_parameters_prune_too(con):
    (scan,) = lake.explain_scans(
        con, "SELECT count(*) FROM t WHERE event_date = CAST(? AS DATE)", ["2024-01-03"]
    )
    assert scan["files_read"] == 1


def test_the_whole_table_reads_every_file(con):
    (scan,) = lake.explain_scans(con, "SELECT count(*) FROM t")
    assert scan["files_read"] == 3
    assert scan["file_filters"] is None
    assert scan["rows_scanned"] == 60


def test_a_filter_on_a_data_column_prunes_no_file(con):
    (scan,) = lake.explain_scans(con, "SELECT count(*) FROM t WHERE country = 'DE'")
    assert scan["files_read"] == 3


def test_connect_turns_the_progress_bar_off():
    con = lake.connect()
    assert con.execute("SELECT current_setting('enable_progress_bar')").fetchall() == [(False,)]


def test_two_partition_filters_are_reported_whole(con):
    (scan,) = lake.explain_scans(
        con,
        "SELECT count(*) FROM t WHERE event_date >= DATE '2024-01-02' AND event_date <= DATE '2024-01-03'",
    )
    assert scan["files_read"] == 2
    assert scan["file_filters"].count("(") == scan["file_filters"].count(")")
