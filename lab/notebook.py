"""What a notebook cell needs: a running Airflow, a client, and DAG code shown next to the prose.

from lab.notebook import start, show_file
af = start()            # the local Airflow, started if needed (or LAB_AIRFLOW_URL's)
show_file("dags/dynamic_task_mapping_demo.py")
"""

from __future__ import annotations

import sys
from pathlib import Path

from lab import airflow_local, diagnose
from lab.client import Airflow, AirflowError
from lab.config import settings


def start(timeout: float = 300.0) -> Airflow:
    """Make sure Airflow is up (reusing a healthy one) and return its REST client.

    A DAG file that fails to import is reported here (file, line, message), so the lesson's
    first cell says so rather than a DAG silently missing later.
    """
    cfg = settings()
    if cfg.is_managed:
        airflow_local.up(cfg, timeout=timeout, quiet=True)
    af = Airflow(cfg=cfg)
    show_import_errors(af)
    return af


def show_import_errors(af: Airflow) -> None:
    """Print the DAG files Airflow could not import, if any (to stderr: it shows red in Jupyter)."""
    try:
        found = diagnose.import_problems(af)
    except AirflowError:  # an Airflow elsewhere may not let us read them: not worth failing a lesson
        return
    text = diagnose.describe_import_problems(found)
    if text:
        print(text, file=sys.stderr)


def relative(path: str | Path) -> str:
    """A path as the repo sees it: notebooks never print machine-specific absolute paths."""
    path = Path(path)
    cfg = settings()
    for base, label in ((cfg.lake_dir, "data/lake"), (cfg.repo_root, ".")):
        try:
            return str(Path(label) / path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def show_file(path: str | Path, lines: tuple[int, int] | None = None, language: str = "python"):
    """Display a repository file (or some of its lines) as highlighted code."""
    from IPython.display import Markdown

    text = (settings().repo_root / path).read_text()
    if lines:
        text = "\n".join(text.splitlines()[lines[0] - 1 : lines[1]])
    return Markdown(f"`{path}`\n```{language}\n{text}\n```")
