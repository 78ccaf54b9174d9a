"""lab.migration: the installed Airflow 3 itself says which Airflow 2 imports and commands still work."""

import dataclasses

import pytest

from lab.config import settings
from lab.migration import check


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    cfg = dataclasses.replace(settings(), airflow_home=tmp_path_factory.mktemp("airflow-home"))
    df = check(
        imports=[
            "from airflow.decorators import dag, task",
            "from airflow.sdk import Param, dag, task",
            "from airflow.no_such_module import x",
        ],
        commands=[
            ["dags", "backfill", "some_dag"],
            ["backfill", "create", "--dag-id", "d", "--from-date", "2024-01-01", "--to-date", "2024-01-02"],
        ],
        cfg=cfg,
    )
    return dict(zip(df["airflow_2_code"], df["on_airflow_3"], strict=False))


def test_airflow_decorators_is_deprecated_in_favour_of_the_sdk(report):
    found = report["from airflow.decorators import dag, task"]
    assert "DeprecatedImportWarning" in found and "airflow.sdk.dag" in found and "airflow.sdk.task" in found


def test_sdk_imports_raise_no_warning(report):
    assert report["from airflow.sdk import Param, dag, task"] == "works, no warning"


def test_an_import_that_fails_is_reported_as_an_error(report):
    assert report["from airflow.no_such_module import x"].startswith("ModuleNotFoundError")


def test_dags_backfill_is_gone_and_backfill_create_parses(report):
    assert "has been removed" in report["airflow dags backfill some_dag"]
    assert (
        report["airflow backfill create --dag-id d --from-date 2024-01-01 --to-date 2024-01-02"]
        == "a valid command"
    )


def test_only_import_statements_are_accepted():
    with pytest.raises(ValueError, match="only import statements"):
        check(imports=["print('not an import')"], commands=[])
