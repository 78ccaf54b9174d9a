"""Every DAG file imports cleanly on the pinned Airflow, without warnings, and the demo DAG has its shape."""

import warnings

import pytest
from airflow.dag_processing.dagbag import DagBag

from lab.config import REPO_ROOT


@pytest.fixture(scope="module")
def dagbag():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    bag.caught_warnings = [w for w in caught if "dags" in str(w.filename)]
    return bag


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_no_warnings_from_dag_files(dagbag):
    assert [f"{w.filename}:{w.lineno}: {w.message}" for w in dagbag.caught_warnings] == []


def test_dag_files_use_the_airflow_3_sdk():
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "dags").rglob("*.py")
        if "from airflow.decorators" in path.read_text() or "from airflow.models.param" in path.read_text()
    ]
    assert offenders == []


def test_demo_dag_shape(dagbag):
    dag = dagbag.dags.get("dynamic_task_mapping_demo")
    assert dag is not None
    assert type(dag.timetable).__name__ == "NullTimetable"  # schedule=None: triggered runs only
    assert set(dag.params.keys()) == {"mode", "start_date", "end_date", "events_per_partition"}
    assert dag.params.get_param("mode").schema["enum"] == ["daily", "range"]
    assert dag.params.get_param("events_per_partition").schema["minimum"] == 1
    mapped = dag.get_task("process_partition")
    assert type(mapped).__name__.endswith("MappedOperator")
    assert mapped.partial_kwargs["map_index_template"] == "Partition: {{ task.op_kwargs['event_date'] }}"
    assert dag.get_task("get_date_range").downstream_task_ids == {"process_partition"}


def test_the_demo_writes_each_partition_with_the_labs_one_writer_in_an_isolated_venv(dagbag):
    from importlib.metadata import version

    from lab.lake_writer import write_events_partition
    from lab.venv import VENV_DUCKDB

    mapped = dagbag.dags["dynamic_task_mapping_demo"].get_task("process_partition")
    assert mapped.operator_class.__name__ == "_PythonVirtualenvDecoratedOperator"
    assert mapped.python_callable is write_events_partition  # no second writer
    assert mapped.partial_kwargs["requirements"] == [f"duckdb=={VENV_DUCKDB}"]
    assert VENV_DUCKDB != version("duckdb")  # the venv's own release, not the host's
    assert mapped.partial_kwargs["system_site_packages"] is False
    assert mapped.partial_kwargs["inherit_env"] is False  # no PYTHONPATH with the repository
    assert list(mapped.op_kwargs_expand_input.value) == ["event_date"]
    shared = mapped.partial_kwargs["op_kwargs"]
    assert set(shared) == {"events_per_partition", "table_dir", "staging_dir", "countries"}
    assert shared["table_dir"].endswith("/events") and "/.staging/" in shared["staging_dir"]
