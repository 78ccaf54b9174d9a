"""Two ways to configure the local Airflow: `lab` (tuned for a 2-core laptop, chosen by measurement)
and `default` (Airflow's own settings), picked with LAB_AIRFLOW_PROFILE (default: lab).

Only the settings the lab tunes are here; what the lab needs to work at all (executor, ports,
auth, paths: `lab.airflow_home.airflow_env`) is the same in both. The `default` profile sets
every tuned key to Airflow's own default, so comparing the two profiles prices exactly the
tuning (`python -m lab.bench.tuning` measures each value against Airflow's default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILE_VAR = "LAB_AIRFLOW_PROFILE"
DEFAULT_PROFILE = "lab"


# Not an Airflow option: read by lab/airflow_site/airflow_local_settings.py in the scheduler.
LAB_ENV = "lab"


@dataclass(frozen=True)
class Setting:
    """One option, the value a profile gives it and why: an Airflow option ([section] key), or
    with section LAB_ENV an environment variable of the lab's own (key is its name)."""

    section: str
    key: str
    value: str
    reason: str

    @property
    def env_var(self) -> str:
        if self.section == LAB_ENV:
            return self.key
        return f"AIRFLOW__{self.section.upper()}__{self.key.upper()}"


# Each value is measured against Airflow's default by `python -m lab.bench.tuning` (`make
# bench-candidates`: one change at a time; the README's "What was tried" table has the run).
LAB = (
    Setting(
        "scheduler",
        "scheduler_idle_sleep_time",
        "0.25",
        "a scheduler pass that queued nothing sleeps this long: a freed slot or a map to expand waits "
        "for the next pass (1 s by default); 0.25 s costs about 5 % of a core while idle",
    ),
    Setting(
        "dag_processor",
        "refresh_interval",
        "5",
        "a new DAG file shows up within 5 s instead of 300 s (listing dags/ is cheap)",
    ),
    Setting(
        "dag_processor",
        "min_file_process_interval",
        "600",
        "unchanged DAG files are not re-parsed every 30 s (most of an idle dag-processor's CPU); a "
        "file saved since its last parse is re-parsed within a second or two whatever this says "
        "(file_parsing_sort_mode modified_time, Airflow's default; a save that lands while that same "
        "file is being parsed waits for this interval, or for the UI's Reparse button)",
    ),
    Setting(
        "core",
        "min_serialized_dag_update_interval",
        "0",
        "a changed DAG's new structure (its tasks) is stored at most this often (30 s by default): a "
        "file saved again within that window keeps its older structure until the file is parsed "
        "again, which with min_file_process_interval 600 would take 10 minutes. At 0 every parse "
        "compares the DAG's hash and rewrites only a DAG that changed, so the writes stay rare",
    ),
    Setting(
        LAB_ENV,
        "LAB_PRELOAD_MODULES",
        "duckdb,lab.lake,airflow.dag_processing.dagbag,airflow.providers.standard.decorators.python",
        "the scheduler imports what every task would import again (DuckDB, the DAG-file machinery); "
        "its forked workers and their tasks find it loaded",
    ),
)

# Airflow 3.3's defaults for the same options (a unit test checks them against the installed
# Airflow), and nothing preloaded.
DEFAULT_VALUES = {
    "scheduler_idle_sleep_time": "1",
    "refresh_interval": "300",
    "min_file_process_interval": "30",
    "min_serialized_dag_update_interval": "30",
    "LAB_PRELOAD_MODULES": "",
}
DEFAULT = tuple(
    Setting(s.section, s.key, DEFAULT_VALUES[s.key], "Airflow's default" if s.section != LAB_ENV else "none")
    for s in LAB
)

PROFILES: dict[str, tuple[Setting, ...]] = {"lab": LAB, "default": DEFAULT}


class ProfileError(ValueError):
    """LAB_AIRFLOW_PROFILE names no profile."""


def selected(environ: dict[str, str] | None = None) -> str:
    """The profile LAB_AIRFLOW_PROFILE asks for (default: lab); a clear error for an unknown one."""
    name = (environ if environ is not None else os.environ).get(PROFILE_VAR, "") or DEFAULT_PROFILE
    if name not in PROFILES:
        raise ProfileError(f"{PROFILE_VAR}={name!r} is not a profile: use one of {', '.join(PROFILES)}")
    return name


def profile_env(name: str) -> dict[str, str]:
    """The environment variables of a profile (and PROFILE_VAR, so a process shows its profile)."""
    if name not in PROFILES:
        raise ProfileError(f"unknown profile {name!r}: use one of {', '.join(PROFILES)}")
    return {PROFILE_VAR: name, **{s.env_var: s.value for s in PROFILES[name]}}


def identify(environ: dict[str, str]) -> str:
    """Which profile a process runs with, from its environment: a name, or "custom" when its
    tuned settings match no profile (changed by hand), or "none" (started without profiles)."""
    if not any(s.env_var in environ for s in LAB):
        return "none"
    for name, values in PROFILES.items():
        if all(environ.get(s.env_var) == s.value for s in values):
            return name
    return "custom"
