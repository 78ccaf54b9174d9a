"""Start, watch and stop the lab's own Airflow: one process group, one marker, nothing left behind.

`airflow standalone` would do for a demo, but the lab needs more: a log file per component
(`lab logs scheduler`), the same launcher for LocalExecutor and CeleryExecutor, and a `down`
that also finds task processes (Airflow's task supervisor moves each task into a process
group of its own, so killing our group alone would orphan a running task). Every process we
start carries LAB_AIRFLOW_INSTANCE=<airflow home> in its environment, which children inherit;
`down` stops the group, then anything else that still carries the marker.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from lab import prepare_stamp, profiles
from lab.config import Settings, settings
from lab.processes import AUTH_MANAGER, STATE_FILE, port_in_use, signal_all, stop_all

MARKER = "LAB_AIRFLOW_INSTANCE"
AIRFLOW_SITE = Path(__file__).resolve().parent / "airflow_site"
LOCAL_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Components whose health /api/v2/monitor/health reports (the api-server answering is its own proof).
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


class AirflowStartError(RuntimeError):
    """The local Airflow did not come up; the message says why and shows the log tail."""


@dataclass
class Instance:
    """What `up` started, as recorded in <airflow home>/STATE_FILE (pids are also pgids)."""

    home: Path
    url: str
    port: int
    pids: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    executor: str = "LocalExecutor"

    @classmethod
    def load(cls, home: Path) -> Instance | None:
        path = home / STATE_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            data["home"] = Path(data["home"])
            return cls(**data)
        except (ValueError, TypeError, KeyError):
            return None  # unreadable state is treated as stale

    def save(self) -> None:
        data = {**self.__dict__, "home": str(self.home)}
        (self.home / STATE_FILE).write_text(json.dumps(data, indent=2))


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
            # The lab's code, and lab/airflow_site: what Python and Airflow import at start-up.
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(cfg.repo_root), str(AIRFLOW_SITE), env.get("PYTHONPATH")) if p
            ),
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
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(cfg.airflow_home / "logs"),
        }
    )
    env.update(
        profiles.profile_env(profiles.selected({**env, **(extra or {})}))
    )  # tuned, or Airflow's defaults
    env.update(extra or {})
    return env


def health(url: str, timeout: float = 3.0) -> dict | None:
    """The API server's health document, or None when it does not answer."""
    try:
        response = httpx.get(f"{url}/api/v2/monitor/health", timeout=timeout)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def is_healthy(doc: dict | None, components=LOCAL_COMPONENTS) -> bool:
    if not doc or doc.get("metadatabase", {}).get("status") != "healthy":
        return False
    return all(
        (doc.get(HEALTH_KEYS[c]) or {}).get("status") == "healthy" for c in components if c in HEALTH_KEYS
    )


def lab_processes(home: Path) -> list[psutil.Process]:
    """Every live process of this home's Airflow: our components, their children, orphaned tasks.

    Two nets, because each alone has holes: every component leads its own session, and Airflow
    moves tasks to new process *groups* but not new sessions, so the session id catches all
    descendants, even orphans; the marker env var catches a process that left the session
    (a BashOperator child) as long as its environment is readable (setproctitle can clobber it).
    """
    inst = Instance.load(home)
    sessions = set(inst.pids.values()) if inst else set()
    found = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue  # already dead, waiting for its parent to reap it
            if os.getsid(proc.pid) in sessions or proc.environ().get(MARKER) == str(home):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def status(cfg: Settings | None = None) -> dict:
    """A small report: is it running, healthy, where, which processes."""
    cfg = cfg or settings()
    inst = Instance.load(cfg.airflow_home)
    procs = lab_processes(cfg.airflow_home)
    doc = health(cfg.url)
    return {
        "url": cfg.url,
        "airflow_home": str(cfg.airflow_home),
        "running": bool(procs),
        "healthy": is_healthy(doc, inst.pids if inst else LOCAL_COMPONENTS),
        "health": doc,
        "processes": len(procs),
        "pss_mib": round(memory_pss(procs) / 2**20, 1),
        "components": inst.pids if inst else {},
    }


def memory_pss(procs: list[psutil.Process]) -> int:
    """Sum of proportional set sizes in bytes: shared pages counted once across processes."""
    total = 0
    for proc in procs:
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
            continue
    return total


def _spawn(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=env["AIRFLOW_HOME"],
            # Each component leads its own session and process group: Ctrl-C in the terminal
            # that ran `lab up` reaches none of them, and one killpg reaches all its children.
            start_new_session=True,
        )


def prepare(cfg: Settings | None = None, env: dict | None = None, say=print, force: bool = False) -> None:
    """Everything that needs no running Airflow: migrate the metadata DB, build the cached virtualenv.

    Done once at `make setup`, so that afterwards tasks run without network; again at every
    `up`, where it costs nothing when nothing changed since (`lab.prepare_stamp`).
    """
    cfg = cfg or settings()
    env = env or airflow_env(cfg)
    if not force and prepare_stamp.is_current(cfg.airflow_home, env):
        say(f"The Airflow home {cfg.airflow_home} is prepared and unchanged since")
        return
    prepare_stamp.forget(cfg.airflow_home)
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
    else:
        prepare_stamp.record(cfg.airflow_home, env)


def up(
    cfg: Settings | None = None,
    *,
    components: tuple[str, ...] | dict[str, list[str]] = LOCAL_COMPONENTS,
    extra_env: dict[str, str] | None = None,
    component_env: dict[str, dict[str, str]] | None = None,
    timeout: float = 240.0,
    quiet: bool = False,
) -> Instance:
    """Start the local Airflow (or reuse a healthy one) and wait until it reports healthy.

    `components` is a tuple of `airflow` sub-commands, or a dict name -> argv for extra
    processes such as Celery workers. `extra_env` overrides settings for every component,
    `component_env` (name -> env) for one of them only (a worker's own name, say).
    """
    cfg = cfg or settings()
    say = (lambda *_: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    if not cfg.is_managed:
        raise AirflowStartError("LAB_AIRFLOW_URL points at an external Airflow: the lab does not start it")
    cfg.airflow_home.mkdir(parents=True, exist_ok=True)
    argvs = components if isinstance(components, dict) else {c: [c] for c in components}

    existing = Instance.load(cfg.airflow_home)
    leftovers = lab_processes(cfg.airflow_home)
    if existing and leftovers and existing.port == cfg.port and is_healthy(health(cfg.url), existing.pids):
        say(f"Airflow already running and healthy at {cfg.url}")
        return existing
    if leftovers:
        say("Processes of an earlier, unhealthy or differently configured Airflow of this lab: stopping them")
        down(cfg, quiet=quiet)
    elif existing:
        say("Found a stale state file from an Airflow that is gone: cleaning up")
        (cfg.airflow_home / STATE_FILE).unlink(missing_ok=True)

    if port_in_use(cfg.port):
        raise AirflowStartError(
            f"Port {cfg.port} on 127.0.0.1 is already in use by another program. "
            f"Stop it, or pick another port: LAB_AIRFLOW_PORT=8090 make up"
        )
    if shutil.which("airflow", path=str(Path(sys.executable).parent)) is None:
        raise AirflowStartError("`airflow` is not installed in this environment: run `make setup`")

    env = airflow_env(cfg, extra_env)
    logs = log_dir(cfg)
    started = time.monotonic()
    prepare(cfg, env, say)
    inst = Instance(
        home=cfg.airflow_home,
        url=cfg.url,
        port=cfg.port,
        started_at=time.time(),
        executor=env["AIRFLOW__CORE__EXECUTOR"],
    )
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, argv in argvs.items():
            own_env = {**env, **(component_env or {}).get(name, {})}
            procs[name] = _spawn(["airflow", *argv], own_env, logs / f"{name}.log")
            inst.pids[name] = procs[name].pid
            inst.save()  # after each spawn, so a crash half-way still lets `down` find them
    except OSError as exc:
        down(cfg, quiet=True)
        raise AirflowStartError(f"Could not start Airflow {name}: {exc}") from exc
    say(f"Starting {', '.join(argvs)} (logs in {logs}) ...")

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                log = logs / f"{name}.log"
                down(cfg, quiet=True)
                raise AirflowStartError(
                    f"Airflow {name} exited with code {proc.returncode} while starting. "
                    f"Last lines of {log}:\n{tail(log)}"
                )
        if is_healthy(health(cfg.url, timeout=2), argvs):
            say(f"Airflow is healthy at {cfg.url} after {time.monotonic() - started:.1f} s")
            return inst
        time.sleep(1)
    doc = health(cfg.url)
    down(cfg, quiet=True)
    raise AirflowStartError(
        f"Airflow was not healthy after {timeout:.0f} s (last health: {doc}). "
        f"Last lines of the scheduler log:\n{tail(logs / 'scheduler.log')}"
    )


def down(cfg: Settings | None = None, *, grace: float = 20.0, quiet: bool = False) -> int:
    """Stop every process of this lab's Airflow; returns how many there were. Safe when nothing runs.

    The components get SIGTERM first and time to stop their own workers and tasks (a scheduler
    shuts its LocalExecutor down cleanly); whatever is still alive after that, in their sessions
    or carrying the marker, gets SIGTERM, then SIGKILL.
    """
    cfg = cfg or settings()
    say = (lambda *_: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    procs = lab_processes(cfg.airflow_home)
    inst = Instance.load(cfg.airflow_home)
    leaders = [p for p in procs if inst and p.pid in inst.pids.values()]
    signal_all(leaders, signal.SIGTERM)
    psutil.wait_procs(leaders, timeout=grace)
    # Late children (a task that forked while we were stopping) are caught by the last sweep.
    stubborn = stop_all(
        lab_processes(cfg.airflow_home), grace=5, stragglers=lambda: lab_processes(cfg.airflow_home)
    )
    (cfg.airflow_home / STATE_FILE).unlink(missing_ok=True)
    if procs:
        say(
            f"Stopped {len(procs)} Airflow process(es)"
            + (f" ({len(stubborn)} needed SIGKILL)" if stubborn else "")
        )
    else:
        say("No Airflow of this lab was running")
    return len(procs)


def run_airflow_cli(args: list[str], cfg: Settings | None = None) -> int:
    """Run an `airflow` CLI command against the lab's Airflow home (e.g. `lab airflow backfill create`)."""
    env = airflow_env(cfg)
    env.pop(MARKER)  # a CLI call is not part of the running instance
    return subprocess.call(["airflow", *args], env=env)
