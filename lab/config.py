"""Where things are and how the local Airflow is sized: one place, read from env vars with defaults.

Every path is absolute so that DAG tasks (which run in other processes, other working
directories, even other virtualenvs) write to the same lake the notebooks read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def _int(var: str, default: int) -> int:
    value = os.environ.get(var, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{var} must be an integer, got {value!r}") from None


@dataclass(frozen=True)
class Settings:
    """A snapshot of the lab's settings; call `settings()` again after changing env vars."""

    repo_root: Path
    airflow_home: Path
    dags_dir: Path
    lake_dir: Path
    data_dir: Path
    port: int
    url: str
    parallelism: int
    jupyter_port: int
    username: str | None
    password: str | None
    token: str | None

    @property
    def is_managed(self) -> bool:
        """True when the lab runs the Airflow it talks to (not an external LAB_AIRFLOW_URL)."""
        return "LAB_AIRFLOW_URL" not in os.environ


def settings() -> Settings:
    port = _int("LAB_AIRFLOW_PORT", 8080)
    return Settings(
        repo_root=REPO_ROOT,
        airflow_home=_path("LAB_AIRFLOW_HOME", REPO_ROOT / ".airflow"),
        dags_dir=_path("LAB_DAGS_DIR", REPO_ROOT / "dags"),
        lake_dir=_path("LAB_LAKE_DIR", REPO_ROOT / "data" / "lake"),
        data_dir=REPO_ROOT / "data",
        port=port,
        url=os.environ.get("LAB_AIRFLOW_URL", f"http://127.0.0.1:{port}").rstrip("/"),
        parallelism=_int("LAB_PARALLELISM", 8),
        jupyter_port=_int("LAB_JUPYTER_PORT", 8888),
        username=os.environ.get("LAB_AIRFLOW_USERNAME") or None,
        password=os.environ.get("LAB_AIRFLOW_PASSWORD") or None,
        token=os.environ.get("LAB_AIRFLOW_TOKEN") or None,
    )
