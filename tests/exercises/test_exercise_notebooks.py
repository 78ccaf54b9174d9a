"""Every exercise notebook runs clean: its solution PASSes the checker, the unsolved one FAILs it in words.

Each notebook is executed top to bottom in a fresh kernel, in a copy under pytest's temp dir
(exercise 3 writes a DAG file next to its notebook), the way a participant runs it. Exercises
1-4 need no Airflow: their checkers run pure functions, parse a DAG file with DagBag, or query
small lakes they write themselves. Exercise 5 runs the participant's DAG on the session's real
Airflow: its notebook writes dags/participant/exercise_5_mapped.py, where that Airflow parses it;
a participant's own file there is put back afterwards.
"""

from __future__ import annotations

import re
import shutil

import nbformat
import pytest

from lab.config import REPO_ROOT
from lab.tools.notebooks import execute

EXERCISES = REPO_ROOT / "notebooks" / "exercises"
NAMES = sorted(p.stem for p in EXERCISES.glob("exercise_*.ipynb"))
ON_AIRFLOW = {"exercise_5_mapped_dag"}  # its checker triggers a real run
PARAMS = [pytest.param(n, marks=pytest.mark.airflow) if n in ON_AIRFLOW else n for n in NAMES]


def test_every_exercise_has_a_solution():
    assert len(NAMES) >= 5
    assert sorted(p.stem for p in (EXERCISES / "solutions").glob("exercise_*.ipynb")) == NAMES


def _run(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    execute(copy, timeout=900)  # raises CellExecutionError (with the traceback) if any cell errors
    return nbformat.read(copy, as_version=4)


def _verdicts(nb) -> list[str]:
    """The text the checker cells printed (the cells that call check_...)."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith("check_"):
            texts = [
                o.get("data", {}).get("text/plain", "")
                for o in cell.outputs
                if o.output_type == "execute_result"
            ]
            found.append("\n".join(texts))
    return found


def _no_tracebacks(nb) -> None:
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{out.ename}: {out.evalue}"
            assert "Traceback" not in str(out), cell.source


@pytest.mark.parametrize("name", PARAMS)
def test_solution_passes_its_checker(name, tmp_path, request):
    if name in ON_AIRFLOW:
        request.getfixturevalue("participant_file")
    nb = _run(EXERCISES / "solutions" / f"{name}.ipynb", tmp_path)
    verdicts = _verdicts(nb)
    assert len(verdicts) == 1, "a solution has exactly one checker cell"
    assert verdicts[0].startswith("PASS"), verdicts[0]
    _no_tracebacks(nb)


@pytest.mark.parametrize("name", PARAMS)
def test_unsolved_exercise_fails_its_checker_cleanly(name, tmp_path, request):
    if name in ON_AIRFLOW:
        request.getfixturevalue("participant_file")
    nb = _run(EXERCISES / f"{name}.ipynb", tmp_path)
    verdicts = _verdicts(nb)
    assert len(verdicts) == 1, "an exercise has exactly one checker cell"
    assert verdicts[0].startswith("FAIL"), verdicts[0]
    assert "  - " in verdicts[0], "a FAIL says what went wrong"
    _no_tracebacks(nb)
    edit_cells = [c for c in nb.cells if c.cell_type == "code" and "EDIT HERE" in c.source]
    assert len(edit_cells) == 1, "one clearly marked cell to edit"


HINT = re.compile(r"<details><summary>Hint (\d+)([^<]*)</summary>(.*?)</details>", re.S)


@pytest.mark.parametrize("name", NAMES)
def test_hints_are_progressive_collapsed_and_before_the_solution(name):
    nb = nbformat.read(EXERCISES / f"{name}.ipynb", as_version=4)
    cells = nb.cells
    check = next(i for i, c in enumerate(cells) if c.cell_type == "code" and c.source.startswith("check_"))
    link = next(i for i, c in enumerate(cells) if "solutions/" in c.source and c.cell_type == "markdown")
    with_hints = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and HINT.search(c.source)]
    assert len(with_hints) == 1, "one cell of hints"
    assert check < with_hints[0] < link, "the hints come after the check and before the link to the solution"
    hints = HINT.findall(cells[with_hints[0]].source)
    assert [int(n) for n, _, _ in hints] == list(range(1, len(hints) + 1)) and len(hints) >= 3
    assert "```" not in hints[0][2], "hint 1 nudges, without code"
    assert "nearly the answer" in hints[-1][1] and "```" in hints[-1][2], "the last hint shows code"


def test_exercise_notebooks_are_committed_unexecuted_and_solutions_executed():
    for name in NAMES:
        exercise = nbformat.read(EXERCISES / f"{name}.ipynb", as_version=4)
        assert all(not c.get("outputs") for c in exercise.cells if c.cell_type == "code"), name
        solution = nbformat.read(EXERCISES / "solutions" / f"{name}.ipynb", as_version=4)
        assert _verdicts(solution)[0].startswith("PASS"), f"{name}: the committed solution shows its PASS"
