"""Has this Airflow home been prepared already? A stamp that makes a second `lab prepare` free.

`make up` prepares the home twice (`make setup`, then `lab up`), and preparing costs about
15 s of CPU even when nothing changed (two Python processes importing Airflow: `airflow db
migrate` and the virtualenv check). After a successful prepare, `record` writes what it
depended on to <airflow home>/lab-prepared.json; `is_current` compares that with the home as it
is now, without importing Airflow: the installed Airflow and Python, the database URL and the
SQLite database's migration revision (a new, reset or foreign database differs), and the cached
virtualenv's spec and completion markers (a deleted or rebuilt venv differs). A database other
than SQLite (the Celery set-up's PostgreSQL) is never taken as prepared.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

STAMP = "lab-prepared.json"
SQLITE_PREFIX = "sqlite:///"


def _sqlite_revision(url: str) -> str | None:
    """The alembic revision of a SQLite database file, or None (no file, no table, not SQLite)."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    path = Path(url[len(SQLITE_PREFIX) :])
    if not path.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as con:
            rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return None
    return ",".join(sorted(r[0] for r in rows)) or None


def _venv_markers(cache_path: str) -> dict[str, str]:
    """Each cached virtualenv's completion marker (written by Airflow once a venv is complete), hashed."""
    return {
        str(marker.parent.name): hashlib.sha256(marker.read_bytes()).hexdigest()
        for marker in sorted(Path(cache_path).glob("venv-*/install_complete_marker.json"))
    }


def fingerprint(env: dict[str, str]) -> dict | None:
    """What a prepared home depends on, as it is now; None when it cannot be known cheaply."""
    from lab.venv import partition_venv

    url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    revision = _sqlite_revision(url)
    if revision is None:
        return None
    try:
        airflow = version("apache-airflow")
    except PackageNotFoundError:
        return None
    spec = partition_venv(Path(env["AIRFLOW_HOME"]))
    markers = _venv_markers(spec["venv_cache_path"])
    if not markers:
        return None
    return {
        "airflow": airflow,
        "python": sys.version,
        "database": url,
        "revision": revision,
        "venv_spec": spec,
        "venv_markers": markers,
    }


def is_current(home: Path, env: dict[str, str]) -> bool:
    """True when `home` was prepared and nothing it depended on has changed since."""
    try:
        recorded = json.loads((home / STAMP).read_text())
    except (OSError, ValueError):
        return False
    now = fingerprint(env)
    return now is not None and recorded == now


def record(home: Path, env: dict[str, str]) -> bool:
    """Write the stamp after a successful prepare; returns False (and removes any old stamp) when
    the home cannot be fingerprinted, so that the next prepare runs in full."""
    now = fingerprint(env)
    path = home / STAMP
    if now is None:
        path.unlink(missing_ok=True)
        return False
    path.write_text(json.dumps(now, indent=2) + "\n")
    return True


def forget(home: Path) -> None:
    """Remove the stamp: the next prepare runs in full."""
    (home / STAMP).unlink(missing_ok=True)
