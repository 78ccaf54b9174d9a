"""Exercise 5's checker: each kind of wrong DAG FAILs with its reason, from the file or from a real run.

The DAG sources are the ones of the committed notebooks (the starter of the exercise, the answer
of the solution), changed here the way a participant might get them wrong. The checks that
need a run use the session's real Airflow, which parses dags/participant/.
"""

from __future__ import annotations

import nbformat
import pytest

from lab import lake
from lab.client import Airflow
from lab.config import REPO_ROOT
from lab.exercises import MAPPED_DAG_ID, MAPPED_TABLE, check_mapped_dag, progress
from lab.exercises import mapped_dag as ex5
from lab.processes import free_port

NOTEBOOKS = REPO_ROOT / "notebooks" / "exercises"
LABELS = "map_index_template=\"{{ task.op_kwargs['event_date'] }} / {{ task.op_kwargs['country'] }}\","


def dag_source(notebook: str) -> str:
    """The DAG file a notebook's %%writefile cell writes."""
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%writefile")]
    return cell.source.split("\n", 1)[1] + "\n"


STARTER = dag_source("exercise_5_mapped_dag.ipynb")
SOLUTION = dag_source("solutions/exercise_5_mapped_dag.ipynb")


def changed(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new)


# ---------------------------------------------------------------- from the file alone (no run)


def test_the_starter_fails_on_its_missing_mapped_task(tmp_path):
    path = tmp_path / "exercise_5_mapped.py"
    path.write_text(STARTER)
    result = check_mapped_dag(path, client=Airflow(url=f"http://127.0.0.1:{free_port()}"))
    assert not result.passed
    assert result.problems == [
        "the DAG has no task 'write_partition' (its tasks: plan_partitions): a @task function becomes "
        "a task only when the DAG function calls it (TODO 3)"
    ]


def test_a_file_that_does_not_import_fails_with_its_error(tmp_path):
    path = tmp_path / "exercise_5_mapped.py"
    path.write_text(changed(SOLUTION, "retries=1,", "retries=1,,"))
    result = check_mapped_dag(path)
    assert not result.passed and len(result.problems) == 1
    assert "does not import" in result.problems[0] and "SyntaxError" in result.problems[0]


def test_a_right_file_with_airflow_stopped_fails_saying_so(tmp_path):
    path = tmp_path / "exercise_5_mapped.py"
    path.write_text(SOLUTION)
    url = f"http://127.0.0.1:{free_port()}"
    result = check_mapped_dag(path, client=Airflow(url=url))
    assert not result.passed
    assert result.problems == [
        f"Airflow is not running at {url}: run the first cell of this notebook (it starts Airflow), "
        "or `make up` in a terminal"
    ]
    assert result.checks == 6  # the file's checks all passed before it looked for Airflow


def test_no_file_is_a_fail_not_an_exception(tmp_path):
    result = check_mapped_dag(tmp_path / "nowhere.py")
    assert not result.passed and "run the ✏️ cell that writes it first" in str(result)


def parsed(**write_partition) -> dict:
    task = {"mapped": True, "retries": 1, "retry_delay_s": 2.0, "downstream": []} | write_partition
    plan = {"mapped": False, "retries": 0, "retry_delay_s": 300.0, "downstream": ["write_partition"]}
    return {"import_errors": {}, "dags": {MAPPED_DAG_ID: {"plan_partitions": plan, "write_partition": task}}}


@pytest.mark.parametrize(
    "parse, problem",
    [
        (parsed(mapped=False), "write_partition is a single task, not a mapped one"),
        (parsed(retries=0), "write_partition has retries=0"),
        (parsed(retry_delay_s=300.0), "write_partition waits 300 s before its retry"),
        ({"import_errors": {}, "dags": {"my_dag": {}}}, "no DAG with dag_id 'exercise_5_mapped' in the file"),
    ],
)
def test_what_the_parse_shows_is_checked_before_any_run(parse, problem, tmp_path, monkeypatch):
    path = tmp_path / "exercise_5_mapped.py"
    path.write_text("# parsed by the fake below\n")
    monkeypatch.setattr(ex5, "inspect_dag_file", lambda _: parse)
    result = check_mapped_dag(path, client=Airflow(url=f"http://127.0.0.1:{free_port()}"))
    assert not result.passed and len(result.problems) == 1
    assert result.problems[0].startswith(problem), result.problems


# ---------------------------------------------------------------- from a real run


@pytest.mark.airflow
def test_a_run_without_labels_and_with_fixed_rows_fails_on_both_and_shows_in_lab_check(
    airflow, participant_file
):
    # A new task downstream changes the DAG's structure: the check must wait for Airflow to take
    # this version (up to [core] min_serialized_dag_update_interval) and run it, not the last one.
    source = changed(SOLUTION, LABELS, "")
    source = changed(source, 'rows="{{ params.events_per_partition }}"', "rows=10")
    source = changed(
        source,
        "    write_partition.partial(",
        "    @task\n    def report(written: list) -> int:\n        return len(written)\n\n    written = write_partition.partial(",
    )
    source = changed(
        source, ".expand_kwargs(plan_partitions())", ".expand_kwargs(plan_partitions())\n    report(written)"
    )
    participant_file.write_text(source)

    result = check_mapped_dag(participant_file, client=airflow)

    assert not result.passed
    assert len(result.problems) == 2, result.problems
    assert result.problems[0].startswith("the mapped instances have no labels")
    assert result.problems[1].startswith(
        "expected 25 rows per partition (the Param events_per_partition), found "
        "{'event_date=2024-03-01/country=DE': 10, 'event_date=2024-03-01/country=NL': 10,"
    )
    run = airflow.runs(MAPPED_DAG_ID).sort_values("run_after").iloc[-1]
    tis = airflow.task_instances(MAPPED_DAG_ID, run["dag_run_id"])
    assert set(tis["task_id"]) == {"plan_partitions", "write_partition", "report"}  # this version ran
    assert (tis["state"] == "success").all()
    counts = lake.partition_counts(MAPPED_TABLE)
    assert len(counts) == 6 and set(counts["rows"]) == {10}
    # `lab check` reads the same run and lake (its notebook part is tested on synthetic notebooks).
    assert progress.exercise_5_outside(client=airflow) == (
        "Airflow: last successful run mapped 6 instances (1 retried); lake: 6 partitions, 60 rows in exercise_events"
    )


@pytest.mark.airflow
def test_a_plan_that_misses_partitions_fails_on_the_count(airflow, participant_file):
    participant_file.write_text(
        changed(SOLUTION, "for country in countries]", "for country in countries[:1]]")
    )

    result = check_mapped_dag(participant_file, client=airflow)

    assert not result.passed
    assert result.problems == [
        "expected 6 mapped instances of write_partition (3 dates x 2 countries), got 3: "
        "does plan_partitions return one dict per date x country? (TODO 1)"
    ]
