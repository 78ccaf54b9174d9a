"""Processes the lab starts and stops: free ports on loopback, liveness, the stop sequence.

Every launcher of the lab (the local Airflow, the Celery deployment, the docs pictures, the
test session's Airflow, JupyterLab in the browser tests) uses these, so "is it still running"
and "stop it, whatever it takes" mean the same everywhere.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable, Iterable

import psutil

LOOPBACK = "127.0.0.1"  # local services listen here only
# What `lab up` started (component name -> pid, which is also the process group), in the Airflow home.
STATE_FILE = "lab-state.json"
# Every Airflow the lab starts, local or Celery, and the compose file use Airflow's simple auth manager.
AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the kernel's pick), for a service started next."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """True when something already listens on `host:port` (a bind would fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port_near(port: int, tries: int = 50) -> int | None:
    """The first port after `port` that nothing listens on (a suggestion, not a reservation)."""
    return next((p for p in range(port + 1, min(port + 1 + tries, 65536)) if not port_in_use(p)), None)


def alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (a zombie is dead, only waiting for its parent to reap it)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def alive_pids(pids: Iterable[int]) -> list[psutil.Process]:
    """The processes of `pids` that are still alive."""
    found = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
        except psutil.Error:
            continue
        if alive(proc):
            found.append(proc)
    return found


def signal_all(procs: Iterable[psutil.Process], sig: int) -> None:
    """Send `sig` to each process; one that is already gone is skipped."""
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass


def stop_all(
    procs: Iterable[psutil.Process],
    grace: float = 10.0,
    stragglers: Callable[[], Iterable[psutil.Process]] | None = None,
) -> list[psutil.Process]:
    """SIGTERM, up to `grace` seconds to exit, then SIGKILL; returns the processes that needed SIGKILL.

    `stragglers()` (when given) is asked again just before the SIGKILL: a child forked while
    the others were stopping (a task starting) is killed with them instead of being left behind.
    """
    procs = [p for p in procs if alive(p)]
    signal_all(procs, signal.SIGTERM)
    _, stubborn = psutil.wait_procs(procs, timeout=grace)
    if stragglers is not None:
        stubborn = list({*stubborn, *stragglers()})
    stubborn = [p for p in stubborn if alive(p)]
    signal_all(stubborn, signal.SIGKILL)
    psutil.wait_procs(stubborn, timeout=5)
    return stubborn
