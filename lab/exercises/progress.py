"""How far a participant got: `lab check` (`make check`) reads their notebooks, Airflow and lake.

Only what is really there counts, and nothing is written (notebooks are read, never saved):

- a lesson is *done* when every code cell of the saved notebook ran, top to bottom (execution
  counts increasing), without an error. The lessons are committed executed, so a notebook that
  is still the committed one (compared with `git show HEAD:<path>`) counts as *not started*;
- an exercise is *passed* when its check cell's saved output says PASS and the check ran after
  the ✏️ cell;
- exercise 5 also shows the lab's Airflow (the last successful run of its DAG, its mapped
  instances) and the lake (the partitions of `exercise_events`); with Airflow stopped that
  column says "Airflow not running".

JupyterLab saves a notebook every two minutes, or at Ctrl-S: `lab check` sees the saved file.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from lab.config import settings

DONE, PASSED, IN_PROGRESS, ERROR, NOT_STARTED = "done", "passed", "in progress", "error", "not started"


@dataclass
class Progress:
    """One line of the progress table."""

    kind: str  # "lesson" or "exercise"
    name: str
    status: str
    notebook: str  # what the saved notebook shows
    airflow: str = ""  # what Airflow and the lake show ("" where nothing applies)


# ---------------------------------------------------------------- reading one notebook


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def _error(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename')}: {str(out.get('evalue', ''))[:80]}"
    return None


def _text(cell) -> str:
    """What a cell printed or returned, as plain text."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(str(out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "".join(parts).strip()


def _fingerprint(nb) -> list:
    """What a run changes in a notebook: the code cells' counts, outputs and timing metadata.

    Outputs alone are not enough: a lesson whose outputs are all deterministic comes out the same
    from every run. The timing metadata does not: nbclient and papermill stamp each cell's
    `execution` times, and JupyterLab stamps them too or, by default, deletes them.
    """
    return [
        (
            c.source,
            c.execution_count,
            json.dumps(c.outputs, sort_keys=True),
            json.dumps(c.metadata.get("execution"), sort_keys=True),
        )
        for c in _code_cells(nb)
    ]


def lesson_status(nb, committed=None) -> tuple[str, str]:
    """(status, evidence) of a lesson notebook; `committed` is its committed version, if known."""
    cells = _code_cells(nb)
    if committed is not None and _fingerprint(nb) == _fingerprint(committed):
        return NOT_STARTED, "as committed: run it yourself (and save) to count it"
    for number, cell in enumerate(cells, 1):
        if error := _error(cell):
            return ERROR, f"code cell {number} of {len(cells)} failed: {error}"
    counts = [c.execution_count for c in cells if c.execution_count is not None]
    if not counts:
        return NOT_STARTED, "no cell run yet"
    if len(counts) < len(cells):
        return IN_PROGRESS, f"{len(counts)} of {len(cells)} code cells run"
    if any(b <= a for a, b in zip(counts, counts[1:], strict=False)):
        return IN_PROGRESS, "every cell ran, but not top to bottom: Restart Kernel and Run All Cells"
    return DONE, f"all {len(cells)} code cells ran in order, no errors"


def exercise_status(nb) -> tuple[str, str]:
    """(status, evidence) of an exercise notebook, from its check cell's saved output."""
    cells = _code_cells(nb)
    checks = [c for c in cells if c.source.lstrip().startswith("check_")]
    edits = [c for c in cells if "EDIT HERE" in c.source]
    if not checks:
        return ERROR, "no check cell found (a cell that starts with check_...)"
    check = checks[-1]
    if error := _error(check):
        return ERROR, f"the check cell raised {error}"
    verdict = _text(check)
    if not verdict:
        ran = any(c.execution_count is not None for c in cells)
        return (
            (IN_PROGRESS, "not checked yet: run the check cell") if ran else (NOT_STARTED, "no cell run yet")
        )
    first = verdict.splitlines()[0]
    edit_count = edits[0].execution_count if edits else None
    if edit_count is not None and check.execution_count is not None and edit_count > check.execution_count:
        return IN_PROGRESS, f"the ✏️ cell ran after the last check ({first[:4]}): run the check again"
    if first.startswith("PASS"):
        return PASSED, "check: PASS"
    problem = next(
        (line.strip()[2:] for line in verdict.splitlines() if line.strip().startswith("- ")), first
    )
    return IN_PROGRESS, f"check: FAIL, {_short(problem)}"


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + " ..."


def committed_notebook(path: Path, repo: Path | None = None):
    """The notebook as committed at HEAD (git), or None when git cannot tell."""
    repo = repo or settings().repo_root
    try:
        relative = path.resolve().relative_to(repo.resolve())
        shown = subprocess.run(
            ["git", "-C", str(repo), "show", f"HEAD:{relative.as_posix()}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (ValueError, OSError, subprocess.TimeoutExpired):
        return None
    if shown.returncode != 0:
        return None
    try:
        return nbformat.reads(shown.stdout, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable committed copy is just "unknown"
        return None


def _read(path: Path):
    try:
        return nbformat.read(path, as_version=4), None
    except Exception as exc:  # noqa: BLE001 - a broken file is a line of the table, not a crash
        return None, f"cannot read the notebook: {type(exc).__name__}"


# ---------------------------------------------------------------- Airflow and the lake (exercise 5)


def exercise_5_outside(client=None, lake_dir=None) -> str:
    """What the lab's Airflow and lake show of exercise 5 (Airflow may be stopped)."""
    from lab import lake
    from lab.airflow_local import health
    from lab.client import Airflow, AirflowError
    from lab.exercises.mapped_dag import MAPPED_DAG_ID, MAPPED_TABLE, MAPPED_TASK_ID

    counts = lake.partition_counts(MAPPED_TABLE, lake_dir)
    stored = (
        f"lake: {len(counts)} partitions, {int(counts['rows'].sum())} rows in {MAPPED_TABLE}"
        if len(counts)
        else f"lake: nothing in {MAPPED_TABLE}"
    )
    af = client or Airflow()
    if health(af.url) is None:
        return f"Airflow not running; {stored}"
    try:
        runs = af.runs(MAPPED_DAG_ID)
    except AirflowError as exc:
        if exc.status_code == 404:
            return f"Airflow: no DAG {MAPPED_DAG_ID} (its file is not in dags/participant/); {stored}"
        return f"Airflow: {exc}; {stored}"
    good = runs[runs["state"] == "success"] if len(runs) else runs
    if good.empty:
        latest = runs["state"].iloc[-1] if len(runs) else None
        return f"Airflow: no successful run yet{f' (latest: {latest})' if latest else ''}; {stored}"
    run = good.sort_values("run_after").iloc[-1]
    tis = af.task_instances(MAPPED_DAG_ID, run["dag_run_id"])
    mapped = tis[(tis["task_id"] == MAPPED_TASK_ID) & (tis["map_index"] >= 0)]
    retried = int((mapped["try_number"].astype(int) > 1).sum())
    return f"Airflow: last successful run mapped {len(mapped)} instances ({retried} retried); {stored}"


# ---------------------------------------------------------------- the table


def collect(notebooks_dir: Path | None = None, client=None, lake_dir=None, committed=committed_notebook):
    """Every lesson and exercise with its status (`committed` finds a notebook's committed version)."""
    notebooks_dir = notebooks_dir or settings().repo_root / "notebooks"
    rows = []
    for path in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb")):
        nb, problem = _read(path)
        status, evidence = (ERROR, problem) if nb is None else lesson_status(nb, committed(path))
        rows.append(Progress("lesson", path.stem, status, evidence))
    for path in sorted((notebooks_dir / "exercises").glob("exercise_*.ipynb")):
        nb, problem = _read(path)
        status, evidence = (ERROR, problem) if nb is None else exercise_status(nb)
        outside = exercise_5_outside(client, lake_dir) if path.stem.startswith("exercise_5") else ""
        rows.append(Progress("exercise", path.stem, status, evidence, outside))
    return rows


def table(rows: list[Progress]) -> str:
    """The progress table as text, with a summary line per kind."""
    width = max((len(r.name) for r in rows), default=10)
    lines = []
    for kind, title, goal in (("lesson", "Lessons", DONE), ("exercise", "Exercises", PASSED)):
        mine = [r for r in rows if r.kind == kind]
        achieved = sum(r.status == goal for r in mine)
        lines.append(f"{title}: {achieved} of {len(mine)} {goal}")
        for r in mine:
            mark = "✔" if r.status == goal else ("✘" if r.status == ERROR else "·")
            lines.append(f"  {mark} {r.name:<{width}}  {r.status:<11}  {r.notebook}")
            if r.airflow:
                lines.append(f"    {'':<{width}}  {'':<11}  {r.airflow}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def as_json(rows: list[Progress]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)
