"""Every exercise notebook runs clean: its solution PASSes the checker, the unsolved one FAILs it in words.

Each notebook is executed top to bottom in a fresh kernel, in a copy under pytest's temp dir
(exercise 3 writes a DAG file next to its notebook), the way a participant runs it. None of
the exercises needs the session's Airflow: the checkers run pure functions, parse a DAG file
with DagBag, or query small lakes they write themselves.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest

from lab.config import REPO_ROOT
from lab.tools.notebooks import execute

EXERCISES = REPO_ROOT / "notebooks" / "exercises"
NAMES = sorted(p.stem for p in EXERCISES.glob("exercise_*.ipynb"))


def test_every_exercise_has_a_solution():
    assert len(NAMES) >= 3
    assert sorted(p.stem for p in (EXERCISES / "solutions").glob("exercise_*.ipynb")) == NAMES


def _run(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    execute(copy, timeout=300)  # raises CellExecutionError (with the traceback) if any cell errors
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


@pytest.mark.parametrize("name", NAMES)
def test_solution_passes_its_checker(name, tmp_path):
    nb = _run(EXERCISES / "solutions" / f"{name}.ipynb", tmp_path)
    verdicts = _verdicts(nb)
    assert len(verdicts) == 1, "a solution has exactly one checker cell"
    assert verdicts[0].startswith("PASS"), verdicts[0]
    _no_tracebacks(nb)


@pytest.mark.parametrize("name", NAMES)
def test_unsolved_exercise_fails_its_checker_cleanly(name, tmp_path):
    nb = _run(EXERCISES / f"{name}.ipynb", tmp_path)
    verdicts = _verdicts(nb)
    assert len(verdicts) == 1, "an exercise has exactly one checker cell"
    assert verdicts[0].startswith("FAIL"), verdicts[0]
    assert "  - " in verdicts[0], "a FAIL says what went wrong"
    _no_tracebacks(nb)
    edit_cells = [c for c in nb.cells if c.cell_type == "code" and "EDIT HERE" in c.source]
    assert len(edit_cells) == 1, "one clearly marked cell to edit"
