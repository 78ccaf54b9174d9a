"""Start, watch and stop the lab's own Airflow: one process group, one marker, nothing left behind.

`airflow standalone` would do for a demo, but the lab needs more: a log file per component
(`lab logs scheduler`), the same launcher for LocalExecutor and CeleryExecutor, and a `down`
that also finds task processes (Airflow's task supervisor moves each task into a process
group of its own, so killing our group alone would orphan a running task). Every process we
start carries LAB_AIRFLOW_INSTANCE=<airflow home> in its environment, which children inherit;
`down` stops the group, then anything else that still carries the marker. `up` on a running lab
restarts only the components that died (each leads a session of its own, see lab.components),
and `status` says in words what is wrong (lab.diagnose).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from lab import airflow_sqlite, components, diagnose
from lab.airflow_home import MARKER, AirflowStartError, airflow_env, log_dir, prepare, tail
from lab.config import Settings, settings
from lab.diagnose import HEALTH_KEYS, health, is_healthy
from lab.processes import STATE_FILE, port_in_use, signal_all, stop_all

LOCAL_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# On one machine the api-server reads task logs from the log folder: no log server, which would
# listen on every interface, on port 8793 that a second lab on the same host could not have.
LOCAL_ARGV = {
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}


@dataclass
class Instance:
    """What `up` started, as recorded in <airflow home>/STATE_FILE (pids are also pgids)."""

    home: Path
    url: str
    port: int
    pids: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    executor: str = "LocalExecutor"
    created: dict[str, float] = field(default_factory=dict)  # name -> process create time (pid reuse)
    # True when the `up` call that returned this started the whole Airflow (not saved).
    started_here: bool = field(default=False, compare=False)

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
        data.pop("started_here")
        (self.home / STATE_FILE).write_text(json.dumps(data, indent=2))


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


def status(cfg: Settings | None = None) -> dict:
    """A small report: is it running, healthy, where, which processes, and each component's state."""
    cfg = cfg or settings()
    inst = Instance.load(cfg.airflow_home)
    procs = lab_processes(cfg.airflow_home)
    doc = health(cfg.url)
    pids = inst.pids if inst and procs else {}
    states = diagnose.component_states({n: component_alive(inst, n) for n in pids}, doc)
    return {
        "url": cfg.url,
        "airflow_home": str(cfg.airflow_home),
        "running": bool(procs),
        "healthy": is_healthy(doc, inst.pids if inst else LOCAL_COMPONENTS) and not _dead(states),
        "health": doc,
        "processes": len(procs),
        "pss_mib": round(memory_pss(procs) / 2**20, 1),
        "components": pids,
        "component_states": states,
        "problems": diagnose.problems(states, pids, doc),
    }


def _dead(states: dict[str, str]) -> list[str]:
    return [name for name, state in states.items() if state == diagnose.DEAD]


def component_alive(inst: Instance, name: str) -> bool:
    """Is the process `up` started for component `name` still that component?"""
    return components.alive(inst.pids.get(name), inst.created.get(name))


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


def up(
    cfg: Settings | None = None,
    *,
    components: tuple[str, ...] | dict[str, list[str]] = LOCAL_COMPONENTS,
    extra_env: dict[str, str] | None = None,
    component_env: dict[str, dict[str, str]] | None = None,
    timeout: float = 240.0,
    quiet: bool = False,
) -> Instance:
    """Start the local Airflow, reuse a healthy one, or restart only the components that died.

    Returns when every component reports healthy. `components` is a tuple of `airflow`
    sub-commands, or a dict name -> argv for extra processes such as Celery workers.
    `extra_env` overrides settings for every component, `component_env` (name -> env) for one
    of them only (a worker's own name, say). One `up` at a time per Airflow home: a second
    one (a second `make lab`) waits for the first, then reuses its Airflow. Ctrl-C stops what
    this call started, nothing else.
    """
    cfg = cfg or settings()
    say = (lambda *_: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    if not cfg.is_managed:
        raise AirflowStartError("LAB_AIRFLOW_URL points at an external Airflow: the lab does not start it")
    cfg.airflow_home.mkdir(parents=True, exist_ok=True)
    argvs = components if isinstance(components, dict) else {c: LOCAL_ARGV.get(c, [c]) for c in components}
    with _one_up_at_a_time(cfg, say, timeout):
        existing = Instance.load(cfg.airflow_home)
        leftovers = lab_processes(cfg.airflow_home)
        if existing and leftovers and existing.port == cfg.port and set(existing.pids) == set(argvs):
            return _reuse_or_repair(cfg, existing, argvs, extra_env, component_env, timeout, say)
        if leftovers:
            say("Processes of an earlier, differently configured Airflow of this lab: stopping them")
            down(cfg, quiet=quiet)
        elif existing:
            say("Found a stale state file from an Airflow that is gone: cleaning up")
            (cfg.airflow_home / STATE_FILE).unlink(missing_ok=True)
        if port_in_use(cfg.port):
            raise AirflowStartError(diagnose.port_taken_message(cfg.port, "LAB_AIRFLOW_PORT", MARKER))
        if shutil.which("airflow", path=str(Path(sys.executable).parent)) is None:
            raise AirflowStartError("`airflow` is not installed in this environment: run `make setup`")
        env = airflow_env(cfg, extra_env)
        prepare(cfg, env, say)
        inst = Instance(
            home=cfg.airflow_home,
            url=cfg.url,
            port=cfg.port,
            started_at=time.time(),
            executor=env["AIRFLOW__CORE__EXECUTOR"],
        )
        return _launch(cfg, inst, list(argvs), argvs, env, component_env, timeout, say, fresh=True)


# How long `up` lets running but unhealthy components recover (a heartbeat can wait a minute for
# SQLite, see lab.airflow_sqlite) before it replaces them.
UNHEALTHY_GRACE_S = 120.0


@contextmanager
def _one_up_at_a_time(cfg: Settings, say, timeout: float):
    """A second `up` of this home (a second `make lab`) waits for the first, then reuses its Airflow."""
    waiting = "Another `lab up` (or `make lab`) of this lab is starting Airflow: waiting for it ..."
    try:
        with components.exclusive(cfg.airflow_home / "lab-up.lock", timeout + 60, lambda: say(waiting)):
            yield
    except TimeoutError:
        raise AirflowStartError(
            "Another `lab up` of this lab is still starting Airflow: stop it (Ctrl-C) or `make down`"
        ) from None


def _reuse_or_repair(cfg, inst, argvs, extra_env, component_env, timeout, say) -> Instance:
    """This home's Airflow runs: reuse it, or restart the components that died or hang."""
    doc = health(cfg.url)
    states = diagnose.component_states({n: component_alive(inst, n) for n in argvs}, doc)
    broken = _dead(states)
    if not broken and is_healthy(doc, argvs):
        say(f"Airflow already running and healthy at {cfg.url}")
        return inst
    if not broken:
        grace = min(timeout, UNHEALTHY_GRACE_S)
        say(f"Airflow runs but is not healthy: waiting up to {grace:.0f} s for it ...")
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not is_healthy(doc, argvs):
            time.sleep(2)
            doc = health(cfg.url, timeout=5)
        if is_healthy(doc, argvs):
            return inst
        states = diagnose.component_states({n: component_alive(inst, n) for n in argvs}, doc)
        broken = [n for n, state in states.items() if state != diagnose.RUNNING]
        if not broken:
            raise AirflowStartError(f"Airflow is not healthy (health: {doc}): `make down`, then `make up`")
    for problem in diagnose.problems(states, inst.pids, doc):
        say(problem)
    for name in broken:
        components.stop_session(inst.pids.get(name))
    others = [n for n in argvs if n not in broken]
    say(f"Restarting {', '.join(broken)}" + (f"; {', '.join(others)} keep running" if others else ""))
    if "api-server" in broken and port_in_use(cfg.port):
        raise AirflowStartError(diagnose.port_taken_message(cfg.port, "LAB_AIRFLOW_PORT", MARKER))
    env = airflow_env(cfg, extra_env)
    return _launch(cfg, inst, broken, argvs, env, component_env, timeout, say, fresh=False)


def _launch(cfg, inst, names, argvs, env, component_env, timeout, say, *, fresh: bool) -> Instance:
    """Spawn `names`, wait until Airflow is healthy with them; on failure or Ctrl-C stop them again."""
    logs = log_dir(cfg)
    started, since = time.monotonic(), time.time()
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name in names:
            conn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
            own_env = {
                **env,
                **airflow_sqlite.component_env(name, conn),
                **(component_env or {}).get(name, {}),
            }
            procs[name] = _spawn(["airflow", *argvs[name]], own_env, logs / f"{name}.log")
            inst.pids[name] = procs[name].pid
            inst.created[name] = components.create_time(procs[name].pid)
            inst.save()  # after each spawn, so a crash half-way still lets `down` find them
        say(f"Starting {', '.join(names)} (logs in {logs}) ...")
        _wait_healthy(cfg, procs, argvs, since, timeout)
    except KeyboardInterrupt:
        with components.sigint_ignored():
            _stop_launched(cfg, inst, procs, fresh)
        say(
            "Interrupted: stopped the Airflow processes this `lab up` had started"
            + ("; nothing of this lab is left running." if fresh else f" ({', '.join(procs)}).")
        )
        raise
    except (AirflowStartError, OSError, psutil.Error) as exc:
        _stop_launched(cfg, inst, procs, fresh)
        if isinstance(exc, AirflowStartError):
            raise
        raise AirflowStartError(f"Could not start Airflow {', '.join(names)}: {exc}") from exc
    say(f"Airflow is healthy at {cfg.url} after {time.monotonic() - started:.1f} s")
    inst.started_here = fresh
    return inst


def _wait_healthy(cfg, procs, argvs, since: float, timeout: float) -> None:
    """Until every component is healthy, each one started here with a heartbeat of its own."""
    logs = log_dir(cfg)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise AirflowStartError(
                    f"Airflow {name} exited with code {proc.returncode} while starting. "
                    f"Last lines of {logs / f'{name}.log'}:\n{tail(logs / f'{name}.log')}"
                )
        doc = health(cfg.url, timeout=2)
        if is_healthy(doc, argvs) and all(
            components.heartbeat_since(doc, HEALTH_KEYS[n], since) for n in procs if n in HEALTH_KEYS
        ):
            return
        time.sleep(1)
    raise AirflowStartError(
        f"Airflow was not healthy after {timeout:.0f} s (last health: {health(cfg.url)}). "
        f"Last lines of the scheduler log:\n{tail(logs / 'scheduler.log')}"
    )


def _stop_launched(cfg, inst, procs, fresh: bool) -> None:
    if fresh:
        down(cfg, quiet=True)  # everything of this home, the state file too
    else:
        for name in procs:
            components.stop_session(inst.pids[name])


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
