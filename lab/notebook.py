"""What a notebook cell needs: a running Airflow, a client, and the real code shown next to the prose.

from lab.notebook import start, show_file, show_source, show_sql, terminal
af = start()            # the local Airflow, started if needed (or LAB_AIRFLOW_URL's)
show_file("dags/dynamic_task_mapping_demo.py")
show_sql(lake.copy_statement(Partition("2024-01-01"), 100))
terminal("lab airflow dags list")   # a `lab` command line, as typed in a terminal
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
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


def show_file(path: str | Path, language: str = "python"):
    """Display a repository file as highlighted code: the lesson shows the file that runs."""
    from IPython.display import Markdown

    text = (settings().repo_root / path).read_text()
    return Markdown(f"`{path}`\n```{language}\n{text}\n```")


def show_source(obj) -> object:
    """Display one function or class as highlighted code, read from the module file that runs it."""
    import inspect

    from IPython.display import Markdown

    lines, first = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj)).resolve().relative_to(settings().repo_root.resolve())
    return Markdown(f"`{path}` (line {first})\n```python\n{''.join(lines)}```")


def show_sql(sql: str):
    """Display SQL the lab runs (rendered by the code that runs it) as highlighted code."""
    from IPython.display import Markdown

    return Markdown(f"```sql\n{sql}\n```")


def terminal(command: str, timeout: float = 600.0) -> str:
    """Run a `lab ...` command line as if typed in a terminal at the repository's root.

    Prints the command and its standard output (paths inside the repository shown relative to
    it, as `./...`), and returns the output as it was. Its standard error is left out unless the
    command fails, which raises with its tail. Only the lab's own CLI: `lab airflow ...` is the
    `airflow` CLI against the lab's Airflow home.
    """
    argv = shlex.split(command)
    if not argv or argv[0] != "lab":
        raise ValueError(f"only `lab ...` commands run here, got {command!r}")
    program = Path(sys.executable).parent / "lab"  # this environment's, as `make` runs it
    # A kernel asks child processes for colours (FORCE_COLOR ...): plain text is what a cell can show.
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "CLICOLOR")}
    done = subprocess.run(
        [str(program), *argv[1:]],
        cwd=settings().repo_root,
        env={**env, "NO_COLOR": "1", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    print(f"$ {command}")
    if done.returncode != 0:
        raise RuntimeError(f"`{command}` failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    out = _ANSI.sub("", done.stdout)
    print(out.rstrip().replace(str(settings().repo_root), "."))
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
