"""The committed notebooks are executed docs: outputs stored, no error outputs, no machine paths.

nbval (in `make test`) re-runs them and compares the marked cells; this check reads the files
as committed, so a notebook saved half-run, with a traceback or with someone's /tmp path in
an output, fails here in seconds.
"""

import json
import re

import pytest

from lab.config import REPO_ROOT
from lab.tools.notebooks import lesson_notebooks

NOTEBOOKS = sorted(
    p for p in (REPO_ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
LESSONS = lesson_notebooks()  # the numbered lessons: committed executed (exercises may be left blank)
MACHINE_PATH = re.compile(r"(/tmp/|/root/|/work/|/home/|/Users/|[A-Z]:\\\\Users)")


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT / "notebooks")))
def test_no_error_outputs(path):
    errors = [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, cell in enumerate(code_cells(path))
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT / "notebooks")))
def test_no_tracebacks_in_stderr(path):
    streams = [
        f"cell {i}"
        for i, cell in enumerate(code_cells(path))
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream"
        and "Traceback (most recent call last)" in "".join(o.get("text", ""))
    ]
    assert streams == []


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: str(p.relative_to(REPO_ROOT / "notebooks")))
def test_committed_executed(path):
    cells = code_cells(path)
    assert cells, "a lesson without code"
    assert [i for i, c in enumerate(cells) if c.get("execution_count") is None] == [], "cells never run"
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), "not executed top to bottom in one fresh kernel"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT / "notebooks")))
def test_no_machine_paths(path):
    assert MACHINE_PATH.findall(path.read_text()) == []


def test_the_lessons_are_there():
    names = {p.name for p in LESSONS}
    assert {"01_dag_proliferation.ipynb", "02_build_the_mapped_dag.ipynb", "03_query_the_lake.ipynb"} <= names
