"""partitioned_events on the session's real Airflow: every mode, bad input, failure isolation, a killed task.

Every scenario checks the real Parquet with DuckDB and proves that the partitions a run should
not touch were not touched: their checksums (bytes) and their write stamps (inode and mtime,
which change on every write, even one with identical bytes) are the same before and after.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psutil
import pytest

from lab import lake
from lab.client import AirflowError
from lab.failures import attempts, kill_mid_write, rewritten, staging_leftovers, write_stamps
from lab.partitions import COUNTRY_TABLE, Partition, known_countries
from tests.helpers import events_conf, mapped_instances

pytestmark = pytest.mark.airflow
DAG_ID = "partitioned_events"
TABLE = COUNTRY_TABLE


def paths(*keys: str) -> list[str]:
    return [Partition.from_key(key).path for key in keys]


def run_dag(airflow, conf: dict, timeout: float = 300) -> dict:
    return airflow.trigger_and_wait(DAG_ID, conf, timeout=timeout, progress=False)


def mapped(airflow, run_id: str):
    return mapped_instances(airflow, DAG_ID, run_id, "write_partition")


def dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def snapshot() -> tuple[dict, dict]:
    return lake.checksums(TABLE), write_stamps(TABLE)


def test_range_writes_the_date_x_country_cross_product_and_nothing_else(airflow):
    lake.write_partition("2024-01-01", 9, "IT", table=TABLE)  # same date, another country
    lake.write_partition("2023-12-31", 9, "DE", table=TABLE)  # same country, another date
    bystanders = paths("2024-01-01/IT", "2023-12-31/DE")
    sums, stamps = snapshot()

    run = run_dag(airflow, events_conf("2024-01-01", "2024-01-02", ["DE", "FR"], 40))
    assert run["state"] == "success"
    tis = mapped(airflow, run["dag_run_id"])
    assert tis.rendered_map_index.tolist() == [
        "2024-01-01 / DE",
        "2024-01-01 / FR",
        "2024-01-02 / DE",
        "2024-01-02 / FR",
    ]
    expected = paths("2024-01-01/DE", "2024-01-01/FR", "2024-01-02/DE", "2024-01-02/FR")
    assert lake.validate(expected, 40, TABLE)["ok"]
    new_sums, new_stamps = snapshot()
    assert rewritten(stamps, new_stamps) == sorted(expected)
    assert {p: new_sums[p] for p in bystanders} == {p: sums[p] for p in bystanders}
    assert staging_leftovers() == []


def test_country_reload_rewrites_one_country_and_leaves_the_others(airflow):
    for day in ("2024-01-10", "2024-01-11"):
        for country in ("DE", "FR", "NL"):
            lake.write_partition(day, 15, country, table=TABLE)
    sums, stamps = snapshot()

    run = run_dag(airflow, events_conf("2024-01-10", "2024-01-11", ["FR"], 25, mode="country_reload"))
    assert run["state"] == "success"
    assert mapped(airflow, run["dag_run_id"]).rendered_map_index.tolist() == [
        "2024-01-10 / FR",
        "2024-01-11 / FR",
    ]
    reloaded = paths("2024-01-10/FR", "2024-01-11/FR")
    assert lake.validate(reloaded, 25, TABLE)["ok"]
    assert lake.validate(
        paths("2024-01-10/DE", "2024-01-10/NL", "2024-01-11/DE", "2024-01-11/NL"), 15, TABLE
    )["ok"]
    new_sums, new_stamps = snapshot()
    assert rewritten(stamps, new_stamps) == sorted(reloaded)
    assert {p: s for p, s in new_sums.items() if p not in reloaded} == {
        p: s for p, s in sums.items() if p not in reloaded
    }


def test_daily_writes_yesterday_for_the_countries(airflow):
    # The default `countries` (all 8 of data/countries.csv) is what lesson 05 runs; two are enough here.
    sums, _ = snapshot()
    run = run_dag(airflow, {"mode": "daily", "countries": ["NL", "SE"], "events_per_partition": 6})
    assert run["state"] == "success"
    assert run["logical_date"] is None  # a manual run on Airflow 3 has no logical date: run_after it is
    day = (
        (datetime.fromisoformat(run["run_after"].replace("Z", "+00:00")) - timedelta(days=1))
        .date()
        .isoformat()
    )
    tis = mapped(airflow, run["dag_run_id"])
    assert tis.rendered_map_index.tolist() == [f"{day} / NL", f"{day} / SE"]
    expected = [Partition(day, "NL").path, Partition(day, "SE").path]
    assert lake.validate(expected, 6, TABLE)["ok"]
    assert {p: s for p, s in lake.checksums(TABLE).items() if p not in expected} == {
        p: s for p, s in sums.items() if p not in expected
    }


GOOD = events_conf("2024-01-01", "2024-01-02", ["DE", "FR"], 10)

# Refused by the Params' JSON schema: the REST API answers 400 and no run is created.
REFUSED_AT_TRIGGER = [
    ({"start_date": "2024-02-30"}, "Invalid input for param start_date: '2024-02-30' is not a 'date'"),
    ({"end_date": "2024-13-01"}, "Invalid input for param end_date: '2024-13-01' is not a 'date'"),
    (
        {"mode": "weekly"},
        "Invalid input for param mode: 'weekly' is not one of ['daily', 'range', 'country_reload']",
    ),
    ({"countries": ["XX"]}, "Invalid input for param countries: 'XX' is not one of"),
    ({"countries": ["de"]}, "Invalid input for param countries: 'de' is not one of"),
    ({"countries": ["DEU"]}, "Invalid input for param countries: 'DEU' is not one of"),
    ({"countries": []}, "Invalid input for param countries: [] should be non-empty"),
    ({"countries": ["DE", "DE"]}, "Invalid input for param countries: ['DE', 'DE'] has non-unique elements"),
    (
        {"events_per_partition": 0},
        "Invalid input for param events_per_partition: 0 is less than the minimum of 1",
    ),
    (
        {"fail_partitions": ["2024-01-01-DE"]},
        "Invalid input for param fail_partitions: '2024-01-01-DE' does not match",
    ),
]

# Valid for the schema, refused by the planning task: the run fails before any partition is written.
REFUSED_BY_PLANNING = [
    (
        {"start_date": "2024-02-10", "end_date": "2024-02-01"},
        "PartitionError: end_date 2024-02-01 is before start_date 2024-02-10: swap them",
    ),
    (
        {"start_date": "2024-01-01", "end_date": "2024-05-31", "countries": list(known_countries())},
        "PartitionError: 1216 partitions (152 dates x 8 countries) is more than one mapped task may expand to "
        "([core] max_map_length = 1024). Split the range into several runs, map over chunks of partitions, "
        "or raise AIRFLOW__CORE__MAX_MAP_LENGTH.",
    ),
    (
        {"mode": "country_reload"},
        "PartitionError: country_reload reloads one country: set countries to a single code such as ['DE'], "
        "got 2: DE, FR. To reload several countries use mode range.",
    ),
    (
        {"fail_partitions": ["2024-03-01/DE"]},
        "PartitionError: fail_partitions names 2024-03-01/DE, which this run does not process: pick from "
        "2024-01-01/DE, 2024-01-01/FR, 2024-01-02/DE, 2024-01-02/FR",
    ),
]


def test_bad_input_is_refused_with_its_message_and_the_lake_is_unchanged(airflow):
    lake.write_partition("2024-01-01", 11, "DE", table=TABLE)
    sums, stamps = snapshot()
    runs_before = len(airflow.runs(DAG_ID))

    for change, message in REFUSED_AT_TRIGGER:
        with pytest.raises(AirflowError, match="400") as refused:
            airflow.trigger(DAG_ID, {**GOOD, **change})
        assert message in str(refused.value), change
    assert len(airflow.runs(DAG_ID)) == runs_before  # no run was even created

    started = [airflow.trigger(DAG_ID, {**GOOD, **change})["dag_run_id"] for change, _ in REFUSED_BY_PLANNING]
    for run_id, (change, message) in zip(started, REFUSED_BY_PLANNING, strict=False):
        assert airflow.wait(DAG_ID, run_id, timeout=300, progress=False)["state"] == "failed", change
        tis = airflow.task_instances(DAG_ID, run_id).set_index("task_id")
        assert tis.loc["plan_partitions", "state"] == "failed"
        assert tis.loc["write_partition", "state"] == "upstream_failed"  # never expanded, never ran
        assert airflow.task_error(DAG_ID, run_id, "plan_partitions") == message

    assert snapshot() == (sums, stamps)
    assert staging_leftovers() == []


def test_a_failing_partition_retries_alone_and_clearing_it_reruns_only_it(airflow):
    conf = {
        "mode": "range",
        "start_date": "2024-02-01",
        "end_date": "2024-02-02",
        "countries": ["DE", "FR"],
        "events_per_partition": 30,
        "fail_partitions": ["2024-02-02/FR"],
        "fail_tries": 2,
    }
    run = run_dag(airflow, conf)
    run_id = run["dag_run_id"]
    assert run["state"] == "failed"
    assert attempts(airflow.task_instances(DAG_ID, run_id)).to_dict("records") == [
        {"partition": "2024-02-01 / DE", "state": "success", "tries": 1},
        {"partition": "2024-02-01 / FR", "state": "success", "tries": 1},
        {"partition": "2024-02-02 / DE", "state": "success", "tries": 1},
        {"partition": "2024-02-02 / FR", "state": "failed", "tries": 2},  # tried, retried once, failed
    ]
    for try_number in (1, 2):
        assert airflow.task_error(DAG_ID, run_id, "write_partition", map_index=3, try_number=try_number) == (
            f"RuntimeError: partition 2024-02-02/FR fails on purpose on try {try_number} (fail_partitions)"
        )
    good = paths("2024-02-01/DE", "2024-02-01/FR", "2024-02-02/DE")
    failed = Partition("2024-02-02", "FR").path
    assert lake.validate(good, 30, TABLE)["ok"]
    assert failed not in lake.partition_files(TABLE)  # it failed before writing anything
    sums, stamps = snapshot()

    airflow.clear(DAG_ID, run_id, "write_partition", map_indexes=[3])  # try 3: past fail_tries, it succeeds
    assert airflow.wait(DAG_ID, run_id, timeout=300, progress=False)["state"] == "success"
    assert attempts(airflow.task_instances(DAG_ID, run_id))["tries"].tolist() == [1, 1, 1, 3]
    assert lake.validate([*good, failed], 30, TABLE)["ok"]
    new_sums, new_stamps = snapshot()
    assert rewritten(stamps, new_stamps) == [failed]  # the three good partitions were written once
    assert {p: new_sums[p] for p in sums} == sums


def test_a_task_killed_mid_write_leaves_the_old_partition_and_its_retry_repairs_it(airflow):
    lake.write_partition("2024-03-01", 10, "DE", table=TABLE)  # the partition as it was
    lake.write_partition("2024-03-01", 10, "FR", table=TABLE)
    target = Partition("2024-03-01", "DE").path
    sums, stamps = snapshot()
    rows = 3_000_000  # takes seconds to write, even on a busy machine: long enough to be caught mid-write

    run = airflow.trigger(
        DAG_ID,
        {
            "mode": "range",
            "start_date": "2024-03-01",
            "end_date": "2024-03-01",
            "countries": ["DE"],
            "events_per_partition": rows,
        },
    )
    killed = kill_mid_write(TABLE)  # SIGKILL the task process once its Parquet file has bytes
    assert dead(killed.pid)

    # Right after the kill: the old partition is intact, the half-written file is only in staging.
    assert snapshot() == (sums, stamps)
    assert lake.validate([target], 10, TABLE)["ok"]
    assert killed.partial_bytes > 0 and killed.leftovers()
    assert all(f.startswith(f"out/{target}/") for f in killed.leftovers())  # the unfinished file, in staging

    # Airflow marks the try failed (the process died) and retries it: the retry writes the partition.
    finished = airflow.wait(DAG_ID, run["dag_run_id"], timeout=300, progress=False)
    assert finished["state"] == "success"
    assert attempts(airflow.task_instances(DAG_ID, run["dag_run_id"])).to_dict("records") == [
        {"partition": "2024-03-01 / DE", "state": "success", "tries": 2},
    ]
    assert lake.validate([target], rows, TABLE)["ok"]  # one file, every row, nothing partial
    assert rewritten(stamps, write_stamps(TABLE)) == [target]
    assert (
        lake.checksums(TABLE)[Partition("2024-03-01", "FR").path] == sums[Partition("2024-03-01", "FR").path]
    )
    assert killed.leftovers() == [] and staging_leftovers() == []  # the retry swept the dead writer's staging
