"""One component of the local Airflow at a time: is it alive, stop what it left, one `up` at a time.

`lab.airflow_local.up` uses these to restart only what died: a component is identified by the
session it leads (every component is started in a session of its own, and its executor workers
and their tasks stay in it), so a dead component's leftovers can be stopped without touching
the components that still run.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psutil

from lab.processes import stop_all


def alive(pid: int | None, created: float | None = None) -> bool:
    """Is `pid` still the session leader `up` started (not gone, not a zombie, not a reused pid)?"""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or os.getsid(pid) != pid:
            return False
        return created is None or abs(proc.create_time() - created) < 1.0
    except (psutil.Error, OSError, TypeError, ValueError):
        return False


def create_time(pid: int) -> float:
    return psutil.Process(pid).create_time()


def session(sid: int | None) -> list[psutil.Process]:
    """Every live process of the session `sid`, whether its leader still lives or not."""
    found = []
    for proc in psutil.process_iter():
        try:
            if sid is not None and proc.pid != os.getpid() and os.getsid(proc.pid) == sid:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def stop_session(sid: int | None, grace: float = 10.0) -> int:
    """Stop a component and everything left in its session; return how many processes there were.

    A living leader (a hung component) gets SIGTERM and `grace` seconds. The rest, such as the
    LocalExecutor workers of a scheduler that died and the tasks they run, get SIGKILL, not
    SIGTERM: a task told to stop reports itself failed, one that vanishes is re-queued by the next
    scheduler (it resets a dead scheduler's tasks) and runs again, and a partition write is atomic.
    """
    procs = session(sid)
    leader = [p for p in procs if p.pid == sid]
    stop_all(leader, grace=grace, stragglers=lambda: session(sid))
    return len(procs)


def heartbeat_since(doc: dict | None, key: str, since: float) -> bool:
    """Has the component under health key `key` sent a heartbeat at or after `since` (epoch seconds)?

    A restarted scheduler must show a heartbeat of its own: for up to 30 s the health document
    still calls the dead one's last heartbeat healthy.
    """
    entry = (doc or {}).get(key) or {}
    beat = next((v for k, v in entry.items() if k.startswith("latest_")), None)
    if not beat:
        return False
    return datetime.fromisoformat(beat.replace("Z", "+00:00")).timestamp() >= since - 1


@contextmanager
def exclusive(lock_path: Path, timeout: float, on_wait=lambda: None):
    """Hold an flock on `lock_path`; wait up to `timeout` s for another holder (TimeoutError after).

    The kernel releases the lock when its holder exits, even when it is killed: no stale lock.
    Children started with close_fds (subprocess's default) do not inherit it.
    """
    with open(lock_path, "w") as lock:
        deadline, waited = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    on_wait()
                    waited = True
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{lock_path} is still held after {timeout:.0f} s") from None
                time.sleep(0.5)
        yield


@contextmanager
def sigint_ignored():
    """Let a clean-up finish: a second Ctrl-C must not interrupt the clean-up of the first."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
