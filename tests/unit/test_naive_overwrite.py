"""The claims of lab.lake's docstring about DuckDB's own overwrite options, checked on DuckDB itself."""

import pandas as pd
import pytest

from lab.lake import events_sql
from lab.naive_overwrite import compare_copy, copy_sql, naive_copy, naive_copy_killed, table_health
from lab.partitions import Partition


def rows(table_dir) -> dict:
    health = table_health(table_dir)
    assert isinstance(health, pd.DataFrame), health
    return dict(zip(health["partition"], health["rows"], strict=False))


def test_overwrite_deletes_every_other_partition(tmp_path):
    naive_copy(tmp_path / "t", "2024-01-01", "DE", 10, "OVERWRITE_OR_IGNORE")
    naive_copy(tmp_path / "t", "2024-01-01", "FR", 10, "OVERWRITE_OR_IGNORE")
    naive_copy(tmp_path / "t", "2024-01-01", "DE", 5, "OVERWRITE")
    assert rows(tmp_path / "t") == {"event_date=2024-01-01/country=DE": 5}
    assert table_health(tmp_path / "t")["files"].tolist() == [1]


def test_overwrite_or_ignore_keeps_stale_files_of_a_bigger_earlier_write(tmp_path):
    naive_copy(tmp_path / "t", "2024-01-01", "FR", 100_000, "OVERWRITE_OR_IGNORE + FILE_SIZE_BYTES")
    naive_copy(tmp_path / "t", "2024-01-01", "FR", 1000, "OVERWRITE_OR_IGNORE + FILE_SIZE_BYTES")
    assert rows(tmp_path / "t")["event_date=2024-01-01/country=FR"] > 1000  # stale rows counted too


def test_a_killed_in_place_overwrite_breaks_every_query(tmp_path):
    naive_copy(tmp_path / "t", "2024-01-01", "DE", 10, "OVERWRITE_OR_IGNORE")
    naive_copy(tmp_path / "t", "2024-01-01", "FR", 10, "OVERWRITE_OR_IGNORE")
    assert naive_copy_killed(tmp_path / "t", "2024-01-01", "DE", 3_000_000) > 0
    health = table_health(tmp_path / "t")
    assert isinstance(health, str) and "event_date=2024-01-01/country=DE/data_0.parquet" in health
    assert "\n" not in health  # what broke, not the query
    assert str(tmp_path) not in health  # no machine path in what a notebook prints


def test_only_known_options_and_validated_values_reach_sql(tmp_path):
    with pytest.raises(ValueError, match="option must be one of"):
        copy_sql(tmp_path, "2024-01-01", "DE", 1, "OVERWRITE; DROP TABLE x")
    with pytest.raises(ValueError, match="unknown country"):
        copy_sql(tmp_path, "2024-01-01", "XX", 1, "OVERWRITE")
    with pytest.raises(ValueError, match="not a real calendar date"):
        copy_sql(tmp_path, "2024-02-30", "DE", 1, "OVERWRITE")
    with pytest.raises(ValueError, match="events_per_partition"):
        copy_sql(tmp_path, "2024-01-01", "DE", 0, "OVERWRITE")


def test_compare_copy_shows_the_same_select_written_to_two_targets():
    parts = compare_copy(Partition("2024-01-01", "DE"), 500, "events_by_country")
    assert parts["SELECT"] == events_sql(Partition("2024-01-01", "DE"), 500)  # what the lab's writer runs
    assert parts["lab"] == (
        "COPY (\n<the SELECT>\n) TO '<lake>/.staging/events_by_country/<pid>-<uuid>/out' "
        "(FORMAT parquet, PARTITION_BY (event_date, country))"
    )
    assert parts["naive"] == (
        "COPY (<the SELECT>) TO '<lake>/events_by_country' "
        "(FORMAT parquet, PARTITION_BY (event_date, country), OVERWRITE_OR_IGNORE)"
    )
