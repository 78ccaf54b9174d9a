"""What a notebook cell needs: a running Airflow, a client, and DAG code shown next to the prose.

from lab.notebook import start, show_file
af = start()            # the local Airflow, started if needed (or LAB_AIRFLOW_URL's)
show_file("dags/dynamic_task_mapping_demo.py")
"""

from __future__ import annotations

from pathlib import Path

from lab import airflow_local
from lab.client import Airflow
from lab.config import settings


def start(timeout: float = 300.0) -> Airflow:
    """Make sure Airflow is up (reusing a healthy one) and return its REST client."""
    cfg = settings()
    if cfg.is_managed:
        airflow_local.up(cfg, timeout=timeout, quiet=True)
    return Airflow(cfg=cfg)


def show_file(path: str | Path, language: str = "python"):
    """Display a repository file as highlighted code: the lesson shows the file that runs."""
    from IPython.display import Markdown

    text = (settings().repo_root / path).read_text()
    return Markdown(f"`{path}`\n```{language}\n{text}\n```")
