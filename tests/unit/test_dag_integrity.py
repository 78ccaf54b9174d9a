"""Every DAG file, on its own: it imports cleanly on the pinned Airflow, without warnings and without
a query to the metadata database, and its DAGs are tagged, documented and acyclic; the demo DAG has its shape.

Parametrized per file (dags/, dags/steps/, dags/antipatterns/, dags/bench/), so a broken file
fails under its own name. A DAG file is imported by the dag-processor every few seconds and by
every task instance it runs: a metadata-DB query at import time would be paid each time, and
Airflow's own example-DAG tests forbid it in the same way (no SQL while a DagBag parses).
"""

import ast
import functools

import pytest

from lab.config import REPO_ROOT
from tests.helpers import ParsedDags, parse_dags

DAGS = REPO_ROOT / "dags"
# dags/participant/ is where participants write exercise 5 (git-ignored), not the lab's own.
DAG_FILES = sorted(p for p in DAGS.rglob("*.py") if "participant" not in p.relative_to(DAGS).parts)
by_file = pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: str(p.relative_to(DAGS)))


@functools.cache
def parsed(path) -> ParsedDags:
    return parse_dags(path)


def test_every_folder_of_dag_files_is_checked():
    folders = {p.parent.relative_to(DAGS).as_posix() for p in DAG_FILES}
    assert {".", "steps", "antipatterns", "bench"} <= folders


@by_file
def test_imports_without_errors_or_warnings(path):
    result = parsed(path)
    assert result.bag.import_errors == {}
    assert result.warnings == []
    assert result.dags, f"{path.name} defines no DAG"


@by_file
def test_parsing_makes_no_metadata_db_queries(path):
    assert parsed(path).queries == []


@by_file
def test_uses_the_airflow_3_sdk(path):
    source = path.read_text()
    assert "from airflow.decorators" not in source
    assert "from airflow.models.param" not in source


@by_file
def test_says_what_it_shows_and_its_dags_are_tagged_and_acyclic(path):
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} has no module docstring"
    for dag in parsed(path).dags.values():
        assert "lab" in dag.tags and len(dag.tags) >= 2, f"{dag.dag_id}: tags {sorted(dag.tags)}"
        dag.check_cycle()


def test_the_query_check_sees_a_dag_file_that_queries_the_database(tmp_path):
    """The check above could pass by not counting: a file that runs SQL on import is caught."""
    path = tmp_path / "queries_at_import.py"
    path.write_text(
        "from sqlalchemy import text\n"
        "from airflow.sdk import dag\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as session:\n"
        "    session.execute(text('SELECT 1'))\n"
        "@dag(schedule=None, tags=['lab', 'canary'])\n"
        "def queries_at_import():\n"
        "    pass\n"
        "queries_at_import()\n"
    )
    result = parse_dags(path)
    assert result.bag.import_errors == {}
    assert any("SELECT 1" in q for q in result.queries)


def test_a_broken_file_is_an_import_error_of_that_file(tmp_path):
    (tmp_path / "fine.py").write_text(
        "from airflow.sdk import dag\n@dag(schedule=None)\ndef fine():\n    pass\nfine()\n"
    )
    (tmp_path / "broken.py").write_text("from airflow.sdk import dag\nraise RuntimeError('boom')\n")
    result = parse_dags(tmp_path)
    assert [p.rsplit("/", 1)[-1] for p in result.bag.import_errors] == ["broken.py"]
    assert list(result.dags) == ["fine"]


# ------------------------------------------------------------------ the demo DAG


@pytest.fixture(scope="module")
def demo():
    return parsed(DAGS / "dynamic_task_mapping_demo.py").dags["dynamic_task_mapping_demo"]


def test_demo_dag_shape(demo):
    assert type(demo.timetable).__name__ == "NullTimetable"  # schedule=None: triggered runs only
    assert set(demo.params.keys()) == {"mode", "start_date", "end_date", "events_per_partition"}
    assert demo.params.get_param("mode").schema["enum"] == ["daily", "range"]
    assert demo.params.get_param("events_per_partition").schema["minimum"] == 1
    mapped = demo.get_task("process_partition")
    assert type(mapped).__name__.endswith("MappedOperator")
    assert mapped.partial_kwargs["map_index_template"] == "Partition: {{ task.op_kwargs['event_date'] }}"
    assert demo.get_task("get_date_range").downstream_task_ids == {"process_partition"}


def test_the_demo_writes_each_partition_with_the_labs_one_writer_in_an_isolated_venv(demo):
    from importlib.metadata import version

    from lab.lake_writer import write_events_partition
    from lab.venv import VENV_DUCKDB

    mapped = demo.get_task("process_partition")
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
