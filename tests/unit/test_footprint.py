"""CPU accounting of a process tree: reaped children count, processes born in between count whole."""

import subprocess
import sys

import psutil
import pytest

from lab.footprint import cpu_percent, cpu_seconds, cpu_used_between


def test_used_between_two_snapshots():
    before = {1: 10.0, 2: 5.0}
    after = {1: 12.5, 2: 5.0, 3: 0.75}  # 3 was born in between, 2 idled
    assert cpu_used_between(before, after) == pytest.approx(3.25)


def test_a_reaped_child_counts_in_its_parent():
    me = psutil.Process()
    before = cpu_seconds([me])[me.pid]
    burn = "import time\nend = time.process_time() + 0.2\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)  # run and reaped: gone, but not uncounted
    assert cpu_seconds([me])[me.pid] - before >= 0.1  # clock ticks round: counted, not to the tick


def test_a_process_that_is_gone_is_skipped():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    proc = psutil.Process(child.pid)
    child.wait()
    assert cpu_seconds([proc]) == {}


def test_the_window_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        cpu_percent(lambda: [], 0)
