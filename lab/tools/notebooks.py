"""Re-execute the lesson notebooks in place: `python -m lab.tools.notebooks [NAME ...]` (`make notebooks`).

Each notebook runs top to bottom in a fresh kernel with notebooks/ as working directory, the
way a participant runs it; a cell error stops that notebook and the command fails. Stored
outputs are what the docs show and what nbval compares, so re-run this after changing a lesson.
"""

from __future__ import annotations

import argparse
import sys
import time

import nbformat
from nbclient import NotebookClient

from lab.config import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"


def lesson_notebooks() -> list:
    """The numbered lessons, in order (exercises and solutions are run by their own tests)."""
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def execute(path, timeout: int = 900) -> float:
    started = time.monotonic()
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    nbformat.write(nb, path)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "names", nargs="*", help="notebook names or prefixes (e.g. 02); default: every lesson"
    )
    args = parser.parse_args(argv)
    paths = [p for p in lesson_notebooks() if not args.names or any(p.name.startswith(n) for n in args.names)]
    if not paths:
        print("no notebook matches", args.names, file=sys.stderr)
        return 1
    for path in paths:
        print(f"executing {path.relative_to(REPO_ROOT)} ...", flush=True)
        seconds = execute(path)
        print(f"  done in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
