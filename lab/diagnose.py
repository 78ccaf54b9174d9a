"""What is wrong with the local Airflow, in plain words: dead components, broken DAG files, taken ports.

`lab status`, `lab up` and the lessons' start-up cell (`lab.notebook.start`) say it with these
helpers, so a participant reads "the scheduler is not running: no task starts; `make up`
restarts it" instead of a health document or a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from lab.processes import STATE_FILE, free_port_near

# Components whose health /api/v2/monitor/health reports (the api-server answering is its own proof).
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}

# What stops working when a component is gone: what the participant notices.
CONSEQUENCES = {
    "api-server": "the Airflow UI and REST API are down: notebook cells cannot reach Airflow, "
    "and running tasks wait for it to come back",
    "scheduler": "no task starts: runs stay queued or running",
    "dag-processor": "DAG files are not read: new or changed DAGs do not show up",
    "triggerer": "deferred tasks do not resume",
}


def health(url: str, timeout: float = 3.0) -> dict | None:
    """The API server's health document, or None when it does not answer."""
    try:
        # trust_env=False: a proxy set for the internet must not swallow calls to 127.0.0.1.
        response = httpx.get(f"{url}/api/v2/monitor/health", timeout=timeout, trust_env=False)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def is_healthy(doc: dict | None, components=tuple(HEALTH_KEYS)) -> bool:
    if not doc or doc.get("metadatabase", {}).get("status") != "healthy":
        return False
    return all(
        (doc.get(HEALTH_KEYS[c]) or {}).get("status") == "healthy" for c in components if c in HEALTH_KEYS
    )


RUNNING, DEAD, UNHEALTHY, NOT_ANSWERING = "running", "not running", "not healthy", "not answering"


def component_states(alive: dict[str, bool], doc: dict | None) -> dict[str, str]:
    """name -> RUNNING | DEAD | UNHEALTHY | NOT_ANSWERING, from process liveness and the health document."""
    states = {}
    for name, is_alive in alive.items():
        if not is_alive:
            states[name] = DEAD
        elif name == "api-server":
            states[name] = RUNNING if doc is not None else NOT_ANSWERING
        elif doc is not None and name in HEALTH_KEYS:
            healthy = (doc.get(HEALTH_KEYS[name]) or {}).get("status") == "healthy"
            states[name] = RUNNING if healthy else UNHEALTHY
        else:
            states[name] = RUNNING  # a Celery worker, or health unknown while the API is down
    return states


def problems(states: dict[str, str], pids: dict[str, int], doc: dict | None = None) -> list[str]:
    """One sentence per component that is not running as it should, with what to do."""
    found = []
    for name, state in states.items():
        consequence = CONSEQUENCES.get(name, "it runs no tasks")
        if state == DEAD:
            found.append(
                f"{name} is not running (pid {pids.get(name)} is gone): {consequence}. "
                "`make up` (or `lab up`) restarts it; the other components keep running."
            )
        elif state == NOT_ANSWERING:
            found.append(
                f"{name} runs (pid {pids.get(name)}) but does not answer: {consequence}. "
                "Wait a minute (it may be busy), then `make up` restarts it."
            )
        elif state == UNHEALTHY:
            beat = _latest_heartbeat(doc, name)
            found.append(
                f"{name} runs (pid {pids.get(name)}) but reports unhealthy"
                + (f" (last heartbeat {beat})" if beat else "")
                + f": {consequence}. It may be busy; if it lasts, `make up` restarts it."
            )
    return found


def _latest_heartbeat(doc: dict | None, name: str) -> str | None:
    entry = (doc or {}).get(HEALTH_KEYS.get(name, ""), {}) or {}
    return next((v for k, v in entry.items() if k.startswith("latest_")), None)


# ---------------------------------------------------------------- DAG files that failed to import


@dataclass(frozen=True)
class ImportProblem:
    """A DAG file the dag-processor could not import, as the REST API's importErrors report it."""

    filename: str  # the DAG file, as Airflow names it
    path: str  # where the error is: the DAG file, or a module it imports
    line: int | None
    message: str  # the exception's last line, e.g. "SyntaxError: invalid syntax"

    def __str__(self) -> str:
        where = self.path + (f", line {self.line}" if self.line else "")
        via = "" if Path(self.path).name == Path(self.filename).name else f" (imported by {self.filename})"
        return f"{where}{via}: {self.message}"


_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')


def parse_import_error(filename: str, stack_trace: str) -> ImportProblem:
    """File, line and message of one import error's stack trace (the innermost real frame)."""
    frames = [m for m in _FRAME.finditer(stack_trace or "") if not m["path"].startswith("<")]
    lines = [ln.strip() for ln in (stack_trace or "").strip().splitlines() if ln.strip()]
    message = lines[-1] if lines else "(no message)"
    if not frames:
        return ImportProblem(filename, filename, None, message)
    last = frames[-1]
    return ImportProblem(filename, last["path"], int(last["line"]), message)


def import_problems(client) -> list[ImportProblem]:
    """Every current import error of the Airflow behind `client` (a `lab.client.Airflow`)."""
    return [parse_import_error(name, trace) for name, trace in sorted(client.import_errors().items())]


def describe_import_problems(found: list[ImportProblem]) -> str:
    if not found:
        return ""
    lines = [f"{len(found)} DAG file(s) failed to import; every other DAG keeps running:"]
    lines += [f"  {problem}" for problem in found]
    lines.append("  Fix the file and save it: Airflow reads it again within ~15 s.")
    return "\n".join(lines)


# ---------------------------------------------------------------- ports


def port_holder(port: int, marker: str) -> str:
    """Who listens on 127.0.0.1:`port`, in words: another lab's Airflow, JupyterLab, or a program."""
    for conn in _listeners(port):
        try:
            proc = psutil.Process(conn.pid)
            # The marker, or else the working directory: every component runs in its Airflow home
            # (the api-server's process title overwrites its environment as /proc shows it).
            home = _environ(proc).get(marker) or _lab_home(proc.cwd())
            name = " ".join(proc.cmdline()[:3]) or proc.name()
        except (psutil.Error, OSError):
            continue
        if home:
            return f"the Airflow of another lab (Airflow home {home}, pid {conn.pid})"
        if "jupyter" in name:
            return f"a JupyterLab (pid {conn.pid}, maybe another lab's)"
        return f"another program ({proc.name()}, pid {conn.pid})"
    return "another program"


def _listeners(port: int) -> list:
    try:
        conns = psutil.net_connections("tcp")
    except (psutil.Error, OSError):
        return []
    return [c for c in conns if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid]


def _lab_home(cwd: str) -> str | None:
    return cwd if (Path(cwd) / STATE_FILE).exists() else None


def _environ(proc: psutil.Process) -> dict:
    try:
        return proc.environ()
    except (psutil.Error, OSError):
        return {}


def port_taken_message(port: int, variable: str, marker: str, command: str = "make lab") -> str:
    """Port `port` is taken: by whom, and the variable to set, with a port that is free now."""
    suggestion = free_port_near(port) or port + 1
    return (
        f"Port {port} on 127.0.0.1 is already in use by {port_holder(port, marker)}. "
        f"Two labs on one machine need their own ports: pick another with {variable}, "
        f"e.g. `{variable}={suggestion} {command}` ({suggestion} is free right now)."
    )
