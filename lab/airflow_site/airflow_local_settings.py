"""Preload modules into the scheduler, so that every task process starts with them loaded.

Airflow imports `airflow_local_settings` at start-up in each of its processes (this directory
is on their PYTHONPATH, `lab.airflow_home.airflow_env`). In the scheduler, and only there,
this module imports the modules named in LAB_PRELOAD_MODULES (comma-separated; set by the `lab`
profile of `lab.profiles`). The LocalExecutor forks its worker processes from the scheduler,
and each worker forks one process per task: a module imported here is already in memory in
every task process (shared, copy-on-write) instead of being imported again by each task,
which is what Airflow's dag-processor does for DAG parsing ([dag_processor]
parsing_pre_import_modules). Unset (the `default` profile) or in any other process, it does
nothing.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

__all__: list[str] = []  # Airflow copies a settings module's public names into airflow.settings


def preload(names: str, argv: list[str]) -> list[str]:
    """Import each module of `names` when `argv` is the scheduler's; return those imported."""
    if argv[1:2] != ["scheduler"]:
        return []
    loaded = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ImportError as exc:  # an optimisation only: the tasks import it themselves
            logging.getLogger(__name__).warning("LAB_PRELOAD_MODULES: cannot import %s: %s", name, exc)
    return loaded


preload(os.environ.get("LAB_PRELOAD_MODULES", ""), sys.argv)
