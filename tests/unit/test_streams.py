"""`make test`'s streams (tests/streams.py): a stream's tests share one worker, in collection order."""

import json
import os
import subprocess
import sys
from collections import defaultdict

from lab.config import REPO_ROOT

# Each test records which worker ran it and when, for the assertions below.
RECORDER = """
import json, os, time, pytest

def record(request):
    with open(os.environ["STREAMS_LOG"], "a") as fh:
        fh.write(json.dumps([request.node.nodeid, os.environ["PYTEST_XDIST_WORKER"], time.time()]) + "\\n")
"""

FILES = {
    "conftest.py": "pytest_plugins = ['tests.streams']\n",
    "recorder.py": RECORDER,
    "test_session.py": "import pytest\nfrom recorder import record\npytestmark = pytest.mark.airflow\n"
    + "".join(f"def test_s{i}(request):\n    record(request)\n" for i in range(6)),
    "test_own.py": "import pytest\nfrom recorder import record\npytestmark = pytest.mark.second_lab\n"
    + "".join(f"def test_o{i}(request):\n    record(request)\n" for i in range(3)),
    "test_celery.py": "import pytest\nfrom recorder import record\n\n@pytest.mark.celery\n"
    "def test_c(request):\n    record(request)\n",
    "test_browser.py": "import pytest\nfrom recorder import record\npytestmark = [pytest.mark.airflow, pytest.mark.browser]\n"
    "def test_b(request):\n    record(request)\n",
    "test_free.py": "from recorder import record\n"
    + "".join(f"def test_f{i}(request):\n    record(request)\n" for i in range(8)),
}


def run_streams(tmp_path) -> dict[str, list[tuple[str, str]]]:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    log = tmp_path / "ran.jsonl"
    env = {**os.environ, "STREAMS_LOG": str(log), "PYTHONPATH": f"{REPO_ROOT}:{tmp_path}"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "--lab-streams",
            "-p",
            "no:cacheprovider",
            "-q",
            "-W",
            "ignore",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    workers: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line in sorted(log.read_text().splitlines(), key=lambda row: json.loads(row)[2]):
        nodeid, worker, _ = json.loads(line)
        workers[worker].append(nodeid)
    return workers


def test_each_stream_runs_in_one_worker_in_order_and_free_tests_fill_in(tmp_path):
    workers = run_streams(tmp_path)
    ran = [nodeid for ids in workers.values() for nodeid in ids]
    assert sorted(ran) == sorted(set(ran)) and len(ran) == 6 + 3 + 1 + 1 + 8, "every test once"

    def worker_of(prefix):
        return {w for w, ids in workers.items() for nodeid in ids if nodeid.startswith(prefix)}

    session = worker_of("test_session.py")
    own = worker_of("test_own.py") | worker_of("test_celery.py") | worker_of("test_browser.py")
    assert len(session) == 1 and len(own) == 1 and session != own
    (session_worker,) = session
    in_order = [n for n in workers[session_worker] if n.startswith("test_session.py")]
    assert in_order == [f"test_session.py::test_s{i}" for i in range(6)]
