"""Two ways to configure the local Airflow: `lab` (tuned for a 2-core laptop, chosen by measurement)
and `default` (Airflow's own settings), picked with LAB_AIRFLOW_PROFILE (default: lab).

Only the settings the lab tunes are here; what the lab needs to work at all (executor, ports,
auth, paths: `lab.airflow_local.airflow_env`) is the same in both. The `default` profile sets
every tuned key to Airflow's own default, so comparing the two profiles prices exactly the
tuning (`docs/benchmark/tuning.md` has the measurements behind each value, and
`python -m lab.bench.tuning` re-runs them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILE_VAR = "LAB_AIRFLOW_PROFILE"
DEFAULT_PROFILE = "lab"


@dataclass(frozen=True)
class Setting:
    """One Airflow option, the value a profile gives it and why."""

    section: str
    key: str
    value: str
    reason: str

    @property
    def env_var(self) -> str:
        return f"AIRFLOW__{self.section.upper()}__{self.key.upper()}"


LAB = (
    Setting(
        "scheduler",
        "scheduler_idle_sleep_time",
        "0.1",
        "a pass that queued nothing sleeps 1 s by default; every mapped wave and every freed slot waits for it",
    ),
    Setting(
        "dag_processor",
        "refresh_interval",
        "5",
        "a new DAG file shows up within 5 s (listing dags/ is cheap), not after the default 300 s",
    ),
    Setting(
        "dag_processor",
        "min_file_process_interval",
        "600",
        "unchanged files are not re-parsed every 30 s: a saved (newer) file is re-parsed within a second anyway",
    ),
    Setting(
        "dag_processor",
        "parsing_processes",
        "1",
        "one parser is enough for the lab's 20-odd files; a second competes with tasks for 2 cores",
    ),
)

# Airflow 3.3's defaults for the same options (a unit test checks them against the installed Airflow).
DEFAULT = tuple(
    Setting(s.section, s.key, value, "Airflow's default")
    for s, value in zip(
        LAB,
        ("1", "300", "30", "2"),
        strict=True,
    )
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
    """The AIRFLOW__SECTION__KEY variables of a profile (and PROFILE_VAR, so a process shows its profile)."""
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
