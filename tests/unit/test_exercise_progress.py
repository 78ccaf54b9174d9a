"""`lab check`: the progress table is read from saved notebooks (synthetic ones here), never written."""

from __future__ import annotations

import hashlib
import os
import subprocess

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from lab.client import Airflow
from lab.config import REPO_ROOT
from lab.exercises import progress
from lab.processes import free_port


def cell(source: str, count: int | None = None, *outputs) -> nbformat.NotebookNode:
    return new_code_cell(source, execution_count=count, outputs=list(outputs))


def result(text: str):
    return new_output("execute_result", data={"text/plain": text}, execution_count=1)


def error(name: str = "NameError", value: str = "name 'x' is not defined"):
    return new_output("error", ename=name, evalue=value, traceback=[])


def lesson(*cells) -> nbformat.NotebookNode:
    return new_notebook(
        cells=[new_markdown_cell("# a lesson"), *cells, cell("   ")]
    )  # a blank cell does not count


def test_a_lesson_is_done_when_every_cell_ran_in_order_without_errors():
    assert progress.lesson_status(lesson(cell("a = 1", 1), cell("a", 2, result("1")), cell("b = 2", 5))) == (
        "done",
        "all 3 code cells ran in order, no errors",
    )


def test_a_lesson_partly_run_out_of_order_or_failing_is_not_done():
    assert progress.lesson_status(lesson(cell("a = 1"), cell("a"))) == ("not started", "no cell run yet")
    assert progress.lesson_status(lesson(cell("a = 1", 1), cell("a"), cell("b", 2))) == (
        "in progress",
        "2 of 3 code cells run",
    )
    status, evidence = progress.lesson_status(lesson(cell("a = 1", 3), cell("a", 2)))
    assert status == "in progress" and "not top to bottom" in evidence
    assert progress.lesson_status(lesson(cell("a = 1", 1), cell("x", 2, error()), cell("b", 3))) == (
        "error",
        "code cell 2 of 3 failed: NameError: name 'x' is not defined",
    )


def test_a_lesson_as_committed_does_not_count_but_a_run_of_it_does():
    committed = lesson(cell("a = 1", 1), cell("a", 2, result("1")))
    for c in committed.cells[1:3]:
        c.metadata["execution"] = {"iopub.execute_input": "2026-01-01T10:00:00Z"}  # nbclient's stamps
    same = nbformat.from_dict(committed)
    assert progress.lesson_status(same, committed)[0] == "not started"
    assert progress.lesson_status(same, None)[0] == "done"  # without git the committed run counts
    # The same outputs from a new run: JupyterLab deletes the stamps (or writes new ones).
    in_jupyterlab = nbformat.from_dict(committed)
    for c in in_jupyterlab.cells[1:3]:
        del c.metadata["execution"]
    assert progress.lesson_status(in_jupyterlab, committed)[0] == "done"
    headless = nbformat.from_dict(committed)
    headless.cells[2].metadata["execution"] = {"iopub.execute_input": "2026-03-04T09:00:00Z"}
    assert progress.lesson_status(headless, committed)[0] == "done"


def exercise(edit: int | None, check: int | None, *outputs) -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            cell("from lab.exercises import check_x", 1 if edit else None),
            cell("# ✏️ EDIT HERE\ndef f(): ...", edit),
            cell("check_x(f)", check, *outputs),
        ]
    )


def test_an_exercise_is_passed_when_its_last_check_after_the_edit_says_pass():
    assert progress.exercise_status(exercise(2, 3, result("PASS  Exercise 9: all 4 checks passed."))) == (
        "passed",
        "check: PASS",
    )
    failed = result("FAIL  Exercise 9: 1 of 4 checks failed.\n  - case a: expected 1, got 2\n  Hint: b")
    assert progress.exercise_status(exercise(2, 3, failed)) == (
        "in progress",
        "check: FAIL, case a: expected 1, got 2",
    )
    assert progress.exercise_status(exercise(4, 3, result("PASS  ..."))) == (
        "in progress",
        "the ✏️ cell ran after the last check (PASS): run the check again",
    )
    assert progress.exercise_status(exercise(2, None)) == (
        "in progress",
        "not checked yet: run the check cell",
    )
    assert progress.exercise_status(exercise(None, None)) == ("not started", "no cell run yet")
    assert progress.exercise_status(exercise(2, 3, error("TypeError", "bad"))) == (
        "error",
        "the check cell raised TypeError: bad",
    )


def test_collect_reads_a_notebooks_folder_and_prints_a_table_with_airflow_stopped(tmp_path):
    (tmp_path / "exercises").mkdir()
    nbformat.write(lesson(cell("a = 1", 1)), tmp_path / "00_start.ipynb")
    nbformat.write(lesson(cell("a = 1")), tmp_path / "01_next.ipynb")
    (tmp_path / "02_broken.ipynb").write_text("{not json")
    nbformat.write(
        exercise(2, 3, result("PASS  Exercise 1: all 4 checks passed.")),
        tmp_path / "exercises" / "exercise_1_a.ipynb",
    )
    nbformat.write(exercise(None, None), tmp_path / "exercises" / "exercise_5_mapped_dag.ipynb")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.rglob("*.ipynb")}

    rows = progress.collect(
        tmp_path,
        client=Airflow(url=f"http://127.0.0.1:{free_port()}"),
        lake_dir=tmp_path / "lake",
        committed=lambda path: None,
    )

    assert [(r.name, r.status) for r in rows] == [
        ("00_start", "done"),
        ("01_next", "not started"),
        ("02_broken", "error"),
        ("exercise_1_a", "passed"),
        ("exercise_5_mapped_dag", "not started"),
    ]
    assert rows[-1].airflow == "Airflow not running; lake: nothing in exercise_events"
    text = progress.table(rows)
    assert "Lessons: 1 of 3 done" in text and "Exercises: 1 of 2 passed" in text
    assert "cannot read the notebook: " in text
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.rglob("*.ipynb")} == before


def test_the_committed_version_comes_from_git():
    committed = progress.committed_notebook(REPO_ROOT / "notebooks" / "00_start_here.ipynb")
    assert committed is not None and committed.cells[0].source.startswith("# 00")
    assert progress.committed_notebook(REPO_ROOT / "notebooks" / "99_not_there.ipynb") is None


def test_lab_check_runs_with_airflow_stopped_and_changes_no_notebook(tmp_path):
    notebooks = sorted((REPO_ROOT / "notebooks").rglob("*.ipynb"))
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in notebooks]
    env = {**os.environ, "LAB_AIRFLOW_PORT": str(free_port()), "LAB_LAKE_DIR": str(tmp_path)}
    env.pop("LAB_AIRFLOW_URL", None)
    done = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "lab"), "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Lessons: ") and "\nExercises: " in done.stdout
    assert "exercise_5_mapped_dag" in done.stdout and "Airflow not running" in done.stdout
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in notebooks] == before
