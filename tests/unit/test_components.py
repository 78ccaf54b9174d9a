"""Stopping a component stops its whole session: the leader politely, what it left behind at once."""

import subprocess
import sys

from lab import components

# A leader that ignores SIGTERM, with a child in its session (as a scheduler with its workers).
STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_stop_session_kills_a_leader_that_ignores_sigterm_and_its_children():
    leader = subprocess.Popen(
        [sys.executable, "-c", STUBBORN], start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    try:
        assert leader.stdout.readline().strip() == "ready"
        assert len(components.session(leader.pid)) == 2
        assert components.stop_session(leader.pid, grace=0.5) == 2
        assert components.session(leader.pid) == []  # the leader too: it ignored SIGTERM, got SIGKILL
        assert not components.alive(leader.pid)
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()


def test_stop_session_of_nothing_is_nothing():
    assert components.stop_session(None) == 0
