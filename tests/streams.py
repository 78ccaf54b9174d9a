"""`make test`'s two streams: the session Airflow's tests in one worker, the rest in the other.

`make test` runs pytest-xdist with two workers and `--lab-streams`. Every test that needs the
session's Airflow (tests/plugin.py) runs in one worker, in collection order (the notebooks' cells
share a kernel, and a lesson may build on the one before); every test that starts an Airflow of its
own (a second lab, the Celery deployment, a private up/down) runs in the other, which then takes
the tests that need no Airflow. Both streams mostly wait on schedulers, so on 2 cores they
overlap well. The side worker starts a session Airflow of its own too (the two-labs test runs a
second lab next to one), so the browser tests, which need some Airflow and change nothing in the
repository, run there and even out the two streams. Tests that write into the repository's
`dags/` (the exercises) stay in the main stream: both session Airflows parse that folder.

xdist's own `--dist loadgroup` would do this with `xdist_group` markers, but pytest-xdist 3.8 tags a
group by rewriting `item._nodeid`, which pytest 9 no longer reads: every test would become a unit of
its own. So each worker writes every test's stream to a file, and the controller's scheduler, a
`LoadScopeScheduling` whose scope is the stream, reads it once both workers have collected (xdist's
public hooks `pytest_configure_node` and `pytest_xdist_make_scheduler`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

# The side stream: tests that start an Airflow of their own (second_lab is declared in
# tests/integration), and the browser tests (see above).
SIDE_MARKERS = ("own_airflow", "second_lab", "celery", "browser")
SESSION_AIRFLOW_MARKER = "airflow"


def stream_of(item: pytest.Item) -> str | None:
    """The stream a test belongs to; None for a test that needs no Airflow (either worker runs it)."""
    if any(item.get_closest_marker(name) for name in SIDE_MARKERS):
        return "side"
    if item.get_closest_marker(SESSION_AIRFLOW_MARKER):
        return "main"
    return None


def pytest_addoption(parser):
    parser.addoption(
        "--lab-streams",
        action="store_true",
        help="with -n 2: the session Airflow's tests in one worker;"
        " the browser tests and those starting an Airflow of their own in the other",
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """Controller: tell each worker where to write the streams."""
    config = node.config
    if config.getoption("lab_streams"):
        if not hasattr(config, "_lab_streams_file"):
            config._lab_streams_file = Path(tempfile.mkdtemp(prefix="lab-streams-")) / "streams.json"
        node.workerinput["lab_streams_file"] = str(config._lab_streams_file)


@pytest.hookimpl(trylast=True)  # after tests/plugin.py has marked the notebooks' cells `airflow`
def pytest_collection_modifyitems(config, items):
    """Worker: write nodeid -> stream (the workers collect the same tests, so they write the same)."""
    target = getattr(config, "workerinput", {}).get("lab_streams_file")
    if target:
        streams = {item.nodeid: stream for item in items if (stream := stream_of(item))}
        scratch = f"{target}.{os.getpid()}"
        Path(scratch).write_text(json.dumps(streams))
        os.replace(scratch, target)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("lab_streams"):
        from xdist.scheduler import LoadScopeScheduling

        class StreamScheduling(LoadScopeScheduling):
            """One unit of work per stream, one unit per test that needs no Airflow."""

            streams: dict[str, str] | None = None

            def _split_scope(self, nodeid: str) -> str:
                if self.streams is None:  # written by the workers before they reported their collection
                    self.streams = json.loads(Path(config._lab_streams_file).read_text())
                return self.streams.get(nodeid, nodeid)

        return StreamScheduling(config, log)
    return None


def pytest_unconfigure(config):
    target = getattr(config, "_lab_streams_file", None)
    if target:
        target.unlink(missing_ok=True)
        target.parent.rmdir()
