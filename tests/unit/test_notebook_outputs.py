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


def outputs(path):
    """(code cell number, output) for every output of the notebook."""
    return [(i, o) for i, cell in enumerate(code_cells(path)) for o in cell.get("outputs", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT / "notebooks")))
def test_no_error_outputs(path):
    errors = [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, o in outputs(path)
        if o["output_type"] == "error"
    ]
    assert errors == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT / "notebooks")))
def test_no_tracebacks_in_stderr(path):
    streams = [
        f"cell {i}"
        for i, o in outputs(path)
        if o["output_type"] == "stream" and "Traceback (most recent call last)" in "".join(o.get("text", ""))
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


# ------------------------------------------------------------------ how much of each lesson nbval compares

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"  # nbval runs with --nbval-lax: only marked cells are compared
# The share of a lesson's code cells whose output nbval compares, as committed: a lesson may rise
# above its floor, never fall below it. Unchecked cells are the ones with variable output (timings,
# run ids, today's date, a machine's user name); a cell without output is checked when it is
# deterministic, so a new warning or print there fails it.
CHECKED_SHARE_FLOOR = {
    "00_start_here": 2 / 2,
    "01_dag_proliferation": 12 / 14,
    "02_build_the_mapped_dag": 45 / 49,
    "03_query_the_lake": 17 / 19,
    "04_compare_strategies": 3 / 15,
    "05_one_dag_for_every_reload": 18 / 26,
    "06_failures_and_concurrency": 14 / 24,
    "07_what_if": 8 / 17,
}


def checked_share(path) -> tuple[int, int]:
    """(code cells whose output nbval compares, code cells) of a notebook."""
    cells = code_cells(path)
    marked = [
        c
        for c in cells
        if CHECK_MARK in "".join(c["source"]) or "nbval-check-output" in c.get("metadata", {}).get("tags", [])
    ]
    return len(marked), len(cells)


def share_report() -> str:
    rows = [(p.stem, *checked_share(p)) for p in LESSONS]
    lines = [
        f"{name:32} {checked:3} of {total:3} code cells compared ({checked / total:4.0%})"
        for name, checked, total in rows
    ]
    checked, total = sum(r[1] for r in rows), sum(r[2] for r in rows)
    return "\n".join([*lines, f"{'all lessons':32} {checked:3} of {total:3} ({checked / total:4.0%})"])


def test_every_lesson_has_a_checked_share_floor():
    assert sorted(p.stem for p in LESSONS) == sorted(CHECKED_SHARE_FLOOR)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_lessons_checked_share_never_drops_below_its_floor(path):
    checked, total = checked_share(path)
    floor = CHECKED_SHARE_FLOOR[path.stem]
    assert checked / total >= floor - 1e-9, (
        f"{path.stem}: {checked} of {total} code cells compared ({checked / total:.0%}), "
        f"below its floor of {floor:.0%}\n{share_report()}"
    )


def test_checked_share_report(capsys):
    """The table, printed (`pytest -rP` or `-s` shows it), e.g. `02_build_the_mapped_dag  45 of 49`."""
    report = share_report()
    with capsys.disabled():
        print("\nnbval-compared code cells per lesson:\n" + report)
    assert report.count("\n") == len(LESSONS)


def test_every_picture_the_docs_show_is_committed():
    """Pictures come from `make screenshots` into notebooks/img/; a link to a missing one is a broken page."""
    picture = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.png)\)")
    missing = []
    for path in [REPO_ROOT / "README.md", *NOTEBOOKS]:
        text = path.read_text()
        for link in picture.findall(text):
            if not (path.parent / link).is_file():
                missing.append(f"{path.relative_to(REPO_ROOT)}: {link}")
    assert missing == []
