"""The `Partition` value: validated on construction; its key, label, hive path and JSON form agree."""

from datetime import date, datetime
from types import SimpleNamespace

import jinja2
import pytest

from lab.partitions import DATE_COUNTRY_KEY_PATTERN, LABEL_TEMPLATE, Partition, PartitionError

DE = Partition("2024-01-01", "DE")
DAY = Partition("2024-01-01")


def test_names_of_a_date_x_country_partition():
    assert DE.event_date == date(2024, 1, 1)
    assert DE.key == "2024-01-01/DE"
    assert DE.label == "2024-01-01 / DE"
    assert DE.path == "event_date=2024-01-01/country=DE"
    assert DE.columns == ("event_date", "country")
    assert DE.as_kwargs() == {"event_date": "2024-01-01", "country": "DE"}


def test_names_of_a_date_partition():
    assert DAY.country is None
    assert DAY.key == DAY.label == "2024-01-01"
    assert DAY.path == "event_date=2024-01-01"
    assert DAY.columns == ("event_date",)
    assert DAY.as_kwargs() == {"event_date": "2024-01-01"}


def test_a_date_a_datetime_and_a_string_make_the_same_partition():
    assert Partition(date(2024, 1, 1), "DE") == Partition(datetime(2024, 1, 1, 12, 30), "DE") == DE
    assert len({DE, Partition("2024-01-01", "DE"), DAY}) == 2  # hashable, equal by value


@pytest.mark.parametrize("partition", [DE, DAY, Partition("2024-02-29", "US")])
def test_every_form_reads_back_to_the_same_partition(partition):
    assert Partition.from_key(partition.key) == partition
    assert Partition.from_path(partition.path) == partition
    assert Partition(**partition.as_kwargs()) == partition


def test_values_cannot_be_changed():
    with pytest.raises(AttributeError):
        DE.country = "FR"


@pytest.mark.parametrize(
    "args, message",
    [
        (("2024-02-30", "DE"), "event_date '2024-02-30' is not a real calendar date"),
        (("2024-1-1",), "event_date must be a date written YYYY-MM-DD"),
        ((None,), "event_date must be a date written YYYY-MM-DD"),
        (("2024-01-01", "XX"), "unknown country 'XX': known are"),
        (("2024-01-01", "de"), "country must be a two-letter upper-case ISO code such as 'DE'"),
        (("2024-01-01", ""), "two-letter upper-case ISO code"),
        (("2024-01-01", "DE'; DROP TABLE x; --"), "two-letter upper-case ISO code"),
    ],
)
def test_construction_refuses_bad_values(args, message):
    with pytest.raises(PartitionError, match=message):
        Partition(*args)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("2024-01-01-DE", "partition key '2024-01-01-DE': event_date must be a date written YYYY-MM-DD"),
        ("2024-01-01/de", "partition key '2024-01-01/de': country must be a two-letter"),
        ("2024-02-30/DE", "partition key '2024-02-30/DE': event_date '2024-02-30' is not a real"),
        ("2024-01-01/XX", "unknown country 'XX'"),
        ("2024-01-01/DE/x", r"a partition key is written YYYY-MM-DD or YYYY-MM-DD/CC"),
        ("", "partition key ''"),
        (None, r"a partition key is written YYYY-MM-DD or YYYY-MM-DD/CC, such as '2024-01-01/DE', got None"),
    ],
)
def test_bad_keys_are_refused(bad, message):
    with pytest.raises(PartitionError, match=message):
        Partition.from_key(bad)


@pytest.mark.parametrize(
    "bad",
    [
        "country=DE/event_date=2024-01-01",  # wrong order
        "event_date=2024-01-01/region=EU",  # unknown column
        "2024-01-01/DE",  # a key, not a path
        "/lake/events/event_date=2024-01-01",  # absolute: paths are relative to their table
        "",
    ],
)
def test_bad_paths_are_refused(bad):
    with pytest.raises(PartitionError, match="a partition path is written event_date=YYYY-MM-DD"):
        Partition.from_path(bad)


def test_a_path_with_a_bad_value_says_which():
    with pytest.raises(
        PartitionError, match="partition path 'event_date=2024-02-30': .* not a real calendar"
    ):
        Partition.from_path("event_date=2024-02-30")


def test_the_label_template_renders_the_label_from_a_mapped_instances_kwargs():
    """What Airflow does with `map_index_template`: render it with the instance's op_kwargs."""
    task = SimpleNamespace(op_kwargs=DE.as_kwargs())
    assert jinja2.Template(LABEL_TEMPLATE).render(task=task) == DE.label


def test_the_key_pattern_accepts_exactly_date_x_country_keys():
    import re

    assert re.match(DATE_COUNTRY_KEY_PATTERN, DE.key)
    assert not re.match(DATE_COUNTRY_KEY_PATTERN, DAY.key)
    assert not re.match(DATE_COUNTRY_KEY_PATTERN, "2024-01-01-DE")
