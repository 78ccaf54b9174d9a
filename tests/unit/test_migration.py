"""lab.migration: the installed Airflow 3 itself says which Airflow 2 code still works, and what changed."""

import dataclasses

import pytest

from lab.config import settings
from lab.migration import check, scheduled_runs


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return dataclasses.replace(settings(), airflow_home=tmp_path_factory.mktemp("airflow-home"))


@pytest.fixture(scope="module")
def report(cfg):
    df = check(
        imports=[
            "from airflow.decorators import dag, task",
            "from airflow.sdk import Param, dag, task",
            "from airflow.no_such_module import x",
        ],
        code=[
            'DAG("d", schedule="@daily", concurrency=4)',
            'DAG("d", schedule="@daily", max_active_tasks=4).max_active_tasks',
            'DAG("d", schedule="@daily").timetable',
            'DAG("d", schedule="@daily").catchup',
            'conf.getboolean("scheduler", "catchup_by_default")',
            'conf.getboolean("scheduler", "create_cron_data_intervals")',
            'param_doc(DAG, "max_active_tasks")',
            "x = 1",
        ],
        commands=[
            ["dags", "backfill", "some_dag"],
            ["backfill", "create", "--dag-id", "d", "--from-date", "2024-01-01", "--to-date", "2024-01-02"],
        ],
        cfg=cfg,
    )
    assert list(df.columns) == ["code", "on_airflow_3"]
    return dict(zip(df["code"], df["on_airflow_3"], strict=True))


def test_airflow_decorators_is_deprecated_in_favour_of_the_sdk(report):
    found = report["from airflow.decorators import dag, task"]
    assert "DeprecatedImportWarning" in found and "airflow.sdk.dag" in found and "airflow.sdk.task" in found


def test_sdk_imports_raise_no_warning(report):
    assert report["from airflow.sdk import Param, dag, task"] == "works, no warning"
    assert report["x = 1"] == "works, no warning"


def test_an_import_that_fails_is_reported_as_an_error(report):
    assert report["from airflow.no_such_module import x"].startswith("ModuleNotFoundError")


def test_concurrency_is_gone_and_max_active_tasks_is_per_run(report):
    assert report['DAG("d", schedule="@daily", concurrency=4)'] == (
        "TypeError: DAG.__init__() got an unexpected keyword argument 'concurrency'"
    )
    assert report['DAG("d", schedule="@daily", max_active_tasks=4).max_active_tasks'] == "4"
    assert "per Dag run" in report['param_doc(DAG, "max_active_tasks")']


def test_daily_is_a_cron_trigger_timetable_without_catchup(report):
    assert report['DAG("d", schedule="@daily").timetable'].startswith(
        "CronTriggerTimetable(expression='0 0 * * *'"
    )
    assert report['DAG("d", schedule="@daily").catchup'] == "False"
    assert report['conf.getboolean("scheduler", "catchup_by_default")'] == "False"
    assert report['conf.getboolean("scheduler", "create_cron_data_intervals")'] == "False"


def test_dags_backfill_is_gone_and_backfill_create_parses(report):
    assert "has been removed" in report["airflow dags backfill some_dag"]
    assert (
        report["airflow backfill create --dag-id d --from-date 2024-01-01 --to-date 2024-01-02"]
        == "a valid command"
    )


def test_only_import_statements_are_accepted():
    with pytest.raises(ValueError, match="only import statements"):
        check(imports=["print('not an import')"], commands=[])


def test_a_scheduled_daily_run_is_about_its_own_day_on_airflow_3_and_the_day_before_on_airflow_2(cfg):
    runs = scheduled_runs("@daily", "2024-01-01", runs=2, cfg=cfg)
    due = runs[runs["run_after"] == "2024-01-02T00:00:00+00:00"].set_index("timetable")
    assert due.loc["CronTriggerTimetable", "ds"] == "2024-01-02"  # the day that has just begun
    assert (
        due.loc["CronTriggerTimetable", "data_interval_start"]
        == due.loc["CronTriggerTimetable", "data_interval_end"]
    )
    assert due.loc["CronDataIntervalTimetable", "ds"] == "2024-01-01"  # the day that has just ended
    assert due.loc["CronDataIntervalTimetable", "data_interval_end"] == "2024-01-02T00:00:00+00:00"
