"""The lesson DAGs: each step file has the shape its lesson explains; the anti-patterns loop in one task.

Shapes are read from the parsed DAGs (DagBag), so a step file cannot drift away from what
notebook 02 says about it. The anti-pattern tasks are also called in-process against a
temporary lake: their loops write real Parquet, one partition after the other.
"""

import ast
from datetime import UTC, datetime

import pandas as pd
import pytest

from lab import lake
from lab.config import REPO_ROOT
from lab.partitions import PartitionError
from lab.timeline import max_concurrency
from tests.helpers import dag_bag

STEPS = REPO_ROOT / "dags" / "steps"
ANTIPATTERNS = REPO_ROOT / "dags" / "antipatterns"


@pytest.fixture(scope="module")
def dags():
    return dag_bag(STEPS, ANTIPATTERNS)


def mapped_args(dag, task_id):
    return dag.get_task(task_id).op_kwargs_expand_input.value


def test_every_step_file_holds_one_dag_named_after_it_with_a_docstring(dags):
    files = sorted(STEPS.glob("step_*.py"))
    assert len(files) == 9
    for path in files:
        assert path.stem in dags, f"{path.name} should define the DAG {path.stem!r}"
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and doc.startswith(f"Step {int(path.stem[5:7])}:"), path.name


def test_step_01_maps_over_a_literal_list(dags):
    assert mapped_args(dags["step_01_literal_list"], "process_partition") == {
        "date_str": ["2024-01-01", "2024-01-02", "2024-01-03"]
    }


def test_step_02_maps_over_what_a_task_returns(dags):
    dag = dags["step_02_task_generated"]
    (arg,) = mapped_args(dag, "process_partition").values()
    assert type(arg).__name__ == "PlainXComArg" and arg.operator.task_id == "get_dates"


def test_step_03_passes_constants_with_partial(dags):
    task = dags["step_03_partial"].get_task("process_partition")
    assert task.partial_kwargs["op_kwargs"] == {"events_per_partition": 25, "table": "step_03"}
    assert list(mapped_args(dags["step_03_partial"], "process_partition")) == ["date_str"]


def test_step_04_expands_two_arguments_into_a_product(dags):
    args = mapped_args(dags["step_04_cross_product"], "process_partition")
    assert list(args) == ["date_str", "country"]
    assert args["country"] == ["DE", "FR", "NL"]


def test_step_05_maps_over_pairs_with_expand_kwargs_and_zip(dags):
    dag = dags["step_05_pairs"]
    assert type(dag.get_task("write_pair").op_kwargs_expand_input).__name__ == "ListOfDictsExpandInput"
    assert type(mapped_args(dag, "count_rows")["pair"]).__name__ == "ZipXComArg"
    assert dag.get_task("count_rows").upstream_task_ids == {"get_dates", "get_countries", "write_pair"}


def test_step_06_continues_after_an_empty_map(dags):
    dag = dags["step_06_empty_input"]
    assert dag.get_task("report").trigger_rule == "none_failed"
    assert dag.get_task("report").upstream_task_ids == {"process_partition"}


def test_step_07_takes_its_dates_as_params(dags):
    dag = dags["step_07_params"]
    assert dag.params.dump() == {
        "start_date": "2024-01-01",
        "end_date": "2024-01-03",
        "events_per_partition": 100,
    }
    assert dag.params.get_param("events_per_partition").schema == {"type": "integer", "minimum": 1}
    assert dag.render_template_as_native_obj is True
    task = dag.get_task("process_partition")
    assert task.partial_kwargs["op_kwargs"] == {"events_per_partition": "{{ params.events_per_partition }}"}


def test_step_08_names_the_dag_the_tasks_and_each_instance(dags):
    dag = dags["step_08_labels"]
    assert dag.dag_display_name.startswith("Step 8")
    assert dag.get_task("get_dates").task_display_name == "Get date range"
    task = dag.get_task("process_partition")
    assert task.task_display_name == "Process partition"
    assert task.partial_kwargs["map_index_template"] == "Partition: {{ task.op_kwargs['date_str'] }}"


def test_step_09_runs_the_labs_writer_in_a_cached_isolated_virtualenv(dags):
    from lab.lake_writer import write_events_partition
    from lab.venv import partition_venv

    dag = dags["step_09_virtualenv"]
    task = dag.get_task("process_partition")
    assert task.operator_class.__name__ == "_PythonVirtualenvDecoratedOperator"
    assert task.python_callable is write_events_partition
    spec = partition_venv()
    assert {k: task.partial_kwargs[k] for k in spec} == spec
    assert task.partial_kwargs["map_index_template"] == "Partition: {{ task.op_kwargs['event_date'] }}"
    assert list(mapped_args(dag, "process_partition")) == ["event_date"]
    assert task.partial_kwargs["op_kwargs"]["table_dir"].endswith("/step_09")
    # The probe runs twice: in the spec's venv, and with Airflow's default of inheriting the environment.
    assert dag.get_task("inspect_venv").inherit_env is False
    assert dag.get_task("inspect_venv_inherit_env").inherit_env is True


# ------------------------------------------------------------------ the anti-patterns

EXHIBITS = {
    "antipattern_daily_load": "load_yesterday",
    "antipattern_date_range_reload": "reload_date_range",
    "antipattern_country_reload": "reload_country",
}


def test_each_anti_pattern_is_one_unmapped_task_labelled_as_an_exhibit(dags):
    for dag_id, task_id in EXHIBITS.items():
        dag = dags[dag_id]
        assert [t.task_id for t in dag.tasks] == [task_id]
        assert "MappedOperator" not in type(dag.tasks[0]).__name__
        assert dag.dag_display_name.startswith("Anti-pattern")
    for path in ANTIPATTERNS.glob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc.startswith("ANTI-PATTERN, do not copy.") and "only deliberate duplication" in doc, (
            path.name
        )


def quick(start_date: str, end_date: str, events_per_partition: int, **extra) -> dict:
    """An anti-pattern's Params for a test: no simulated latency."""
    return {
        "start_date": start_date,
        "end_date": end_date,
        "events_per_partition": events_per_partition,
        "latency_s": 0.0,
        **extra,
    }


@pytest.fixture
def lake_dir(tmp_path, monkeypatch):
    """The exhibits write where LAB_LAKE_DIR points: a temporary lake."""
    monkeypatch.setenv("LAB_LAKE_DIR", str(tmp_path))
    return tmp_path


def timeline(processed):
    df = pd.DataFrame(processed)
    df["start_date"] = pd.to_datetime(df["start"], utc=True, format="ISO8601")
    df["end_date"] = pd.to_datetime(df["end"], utc=True, format="ISO8601")
    return df


def test_the_range_reload_loop_writes_each_partition_one_after_the_other(dags, lake_dir):
    reload = dags["antipattern_date_range_reload"].get_task("reload_date_range").python_callable
    processed = reload(params=quick("2024-03-01", "2024-03-04", 15))
    expected = [f"event_date=2024-03-0{d}" for d in range(1, 5)]
    assert [p["partition"] for p in processed] == expected
    assert max_concurrency(timeline(processed)) == 1
    assert lake.validate(expected, 15, table="antipattern_events", lake_dir=lake_dir)["ok"]


def test_the_country_reload_writes_date_x_country_partitions(dags, lake_dir):
    reload = dags["antipattern_country_reload"].get_task("reload_country").python_callable
    processed = reload(params=quick("2024-03-01", "2024-03-02", 9, country="FR"))
    expected = ["event_date=2024-03-01/country=FR", "event_date=2024-03-02/country=FR"]
    assert [p["partition"] for p in processed] == expected
    assert lake.validate(expected, 9, table="events_by_country", lake_dir=lake_dir)["ok"]


def test_the_daily_load_writes_the_day_before_run_after(dags, lake_dir):
    from airflow.models.dagrun import DagRun

    load = dags["antipattern_daily_load"].get_task("load_yesterday").python_callable
    run = DagRun(
        dag_id="antipattern_daily_load",
        run_id="manual",
        run_after=datetime(2024, 5, 2, 7, 30, tzinfo=UTC),
    )
    processed = load(dag_run=run)
    assert [p["partition"] for p in processed] == ["event_date=2024-05-01"]
    assert lake.validate(["event_date=2024-05-01"], 1000, table="antipattern_events", lake_dir=lake_dir)["ok"]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"start_date": "2024-03-05", "end_date": "2024-03-01"}, "before start_date"),
        ({"start_date": "2024-02-30", "end_date": "2024-03-01"}, "not a real calendar date"),
        ({"events_per_partition": 0}, "at least 1"),
        ({"country": "de"}, "two-letter upper-case"),
        ({"country": "XX"}, "unknown country"),
    ],
)
def test_bad_input_fails_before_anything_is_written(dags, lake_dir, params, message):
    reload = dags["antipattern_country_reload"].get_task("reload_country").python_callable
    with pytest.raises(PartitionError, match=message):
        reload(params={**quick("2024-03-01", "2024-03-02", 5, country="DE"), **params})
    assert not lake.has_data("events_by_country", lake_dir)
