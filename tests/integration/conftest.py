"""A second lab, as a second checkout on the same machine would run it, with the network blocked.

The fault drills kill its components, the offline test runs a lesson on it, and the two-labs
test runs it next to the session's Airflow. It has its own Airflow home, lake, DAGs folder (a
scratch copy of two lesson DAGs, where a drill may save a broken file) and ports, and it is
started offline: every proxy variable points at a closed local port and uv / pip are told not
to use an index, as on a workshop machine whose Wi-Fi is gone after `make setup`. Started once,
on first use, and stopped at the end of the session with nothing left running.
"""

from __future__ import annotations

import pytest

from tests.helpers import SecondLab, offline_env


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "second_lab: uses a second, offline lab of its own (tests/integration/conftest.py)"
    )


def pytest_collection_modifyitems(config, items):
    """Run the second lab's tests one after the other, so that it runs only while they do."""
    mine = [item for item in items if item.get_closest_marker("second_lab")]
    if mine:
        first = items.index(mine[0])
        others = [item for item in items if not item.get_closest_marker("second_lab")]
        items[:] = others[:first] + mine + others[first:]


def pytest_runtest_teardown(item, nextitem):
    """Stop the second lab after its last test: it would only take CPU from the tests after it."""
    lab = getattr(item.config, "_second_lab", None)
    if lab and item.get_closest_marker("second_lab"):
        if nextitem is None or not nextitem.get_closest_marker("second_lab"):
            lab.down()


@pytest.fixture(scope="session")
def second_lab_session(request, tmp_path_factory):
    lab = SecondLab(base=tmp_path_factory.mktemp("second-lab"), offline=offline_env())
    request.config._second_lab = lab
    yield lab
    lab.down()
    assert lab.processes() == [], "the second lab left processes behind"


@pytest.fixture
def second_lab(second_lab_session) -> SecondLab:
    """The second lab, running and healthy (started on first use, repaired if a drill broke it)."""
    second_lab_session.up()
    return second_lab_session
