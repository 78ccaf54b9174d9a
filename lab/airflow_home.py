"""The lab's Airflow home before any process starts: the environment, its secrets, a migrated database.

Every Airflow process of the lab runs with `airflow_env()`, which carries the marker
LAB_AIRFLOW_INSTANCE=<airflow home> that `lab down` finds them by; `prepare()` migrates the
metadata database and builds the tasks' cached virtualenv, so that afterwards nothing needs
the network.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from lab.config import Settings, settings
from lab.processes import AUTH_MANAGER

MARKER = "LAB_AIRFLOW_INSTANCE"


class AirflowStartError(RuntimeError):
    """The local Airflow did not come up; the message says why and shows the log tail."""


def log_dir(cfg: Settings) -> Path:
    return cfg.airflow_home / "lab-logs"


def _secrets(cfg: Settings) -> dict[str, str]:
    """Secrets every component must share (JWT for the execution API), generated once per home."""
    path = cfg.airflow_home / "lab-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {"jwt_secret": secrets.token_urlsafe(32), "secret_key": secrets.token_urlsafe(32)}
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def airflow_env(cfg: Settings | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Airflow process of the lab runs with (also for `lab airflow ...`)."""
    cfg = cfg or settings()
    cfg.airflow_home.mkdir(parents=True, exist_ok=True)
    keys = _secrets(cfg)
    venv_bin = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env.update(
        {
            "PATH": venv_bin + os.pathsep + env.get("PATH", ""),  # `airflow` and `uv` of this venv
            "AIRFLOW_HOME": str(cfg.airflow_home),
            MARKER: str(cfg.airflow_home),
            "LAB_LAKE_DIR": str(cfg.lake_dir),
            "PYTHONPATH": os.pathsep.join(p for p in (str(cfg.repo_root), env.get("PYTHONPATH")) if p),
            "AIRFLOW__CORE__DAGS_FOLDER": str(cfg.dags_dir),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(cfg.parallelism),
            "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER,
            # No login on loopback: the API server only ever listens on 127.0.0.1.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{cfg.airflow_home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(cfg.port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{cfg.port}",
            # Tasks report to the execution API; it must follow the port or every task fails.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{cfg.port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            "AIRFLOW__API__SECRET_KEY": keys["secret_key"],
            # New DAG files show up in seconds, not after the default 300 s.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "15",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(cfg.airflow_home / "logs"),
            # A restarted scheduler re-queues the tasks of the one that died within a minute, not 5.
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "20",
            # A task keeps retrying its calls to the Execution API for minutes, not 31 s, so it
            # survives an api-server that died and is restarted by `lab up`; at most 15 s apart
            # (not 90), so that it carries on soon after the api-server is back.
            "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "20",
            "AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MAX": "15",
            # The lab's own traffic stays on loopback, whatever proxy the machine sets.
            "NO_PROXY": _with_loopback(env.get("NO_PROXY") or env.get("no_proxy")),
            "no_proxy": _with_loopback(env.get("no_proxy") or env.get("NO_PROXY")),
        }
    )
    env.update(extra or {})
    return env


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _with_loopback(no_proxy: str | None) -> str:
    hosts = [h.strip() for h in (no_proxy or "").split(",") if h.strip()]
    return ",".join(hosts + [h for h in LOOPBACK if h not in hosts])


def tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def prepare(cfg: Settings | None = None, env: dict | None = None, say=print) -> None:
    """Everything that needs no running Airflow: migrate the metadata DB, build the cached virtualenv.

    Done once at `make setup` (and again, quickly, at every `up`), so that afterwards tasks
    run without network.
    """
    cfg = cfg or settings()
    env = env or airflow_env(cfg)
    logs = log_dir(cfg)
    logs.mkdir(parents=True, exist_ok=True)
    say(f"Preparing the metadata database in {cfg.airflow_home} ...")
    migrate = subprocess.run(
        ["airflow", "db", "migrate"], env=env, capture_output=True, text=True, cwd=cfg.airflow_home
    )
    (logs / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
    if migrate.returncode != 0:
        raise AirflowStartError(f"`airflow db migrate` failed:\n{tail(logs / 'db-migrate.log')}")
    venv = subprocess.run(
        ["python", "-m", "lab.venv"], env=env, capture_output=True, text=True, cwd=cfg.airflow_home
    )
    (logs / "venv.log").write_text(venv.stdout + venv.stderr)
    if venv.returncode != 0:  # not fatal: the task will try to build it itself
        say(
            f"WARNING: could not build the cached virtualenv (see {logs / 'venv.log'}):\n{tail(logs / 'venv.log', 5)}"
        )
