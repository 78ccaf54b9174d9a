"""Exercise 3's checker parses real DAG files with DagBag: broken or wrong files FAIL with the reason."""

from __future__ import annotations

from lab.exercises import check_pool_dag

GOOD_TASKS = """
    @task{dates_args}
    def dates() -> list[str]:
        return ["2024-01-01", "2024-01-02"]

    @task(pool="lake_writers")
    def write(event_date: str) -> dict:
        return {{"event_date": event_date}}

    write.expand(event_date=dates())
"""

DAG_FILE = """
from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="exercise_pool", schedule=None, start_date=datetime(2024, 1, 1), catchup=False)
def exercise_pool():
{tasks}

exercise_pool()
"""


def test_a_dag_file_that_does_not_import_fails_with_its_error(tmp_path):
    path = tmp_path / "exercise_pool.py"
    path.write_text(
        DAG_FILE.format(tasks=GOOD_TASKS.format(dates_args="")).replace(
            "from airflow.sdk", "from airflow.sdkk"
        )
    )
    result = check_pool_dag(path)
    assert not result.passed
    assert "does not import" in str(result) and "airflow.sdkk" in str(result)


def test_the_pool_belongs_to_the_writer_only(tmp_path):
    path = tmp_path / "exercise_pool.py"
    path.write_text(DAG_FILE.format(tasks=GOOD_TASKS.format(dates_args='(pool="lake_writers")')))
    result = check_pool_dag(path)
    assert not result.passed
    assert result.problems == [
        "only the writer belongs in 'lake_writers'; ['dates'] would take its slots too"
    ]
