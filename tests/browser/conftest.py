"""Fixtures of the browser tests: a headless Chromium per test module, screenshots in test-artifacts/."""

from __future__ import annotations

import pytest

from lab.config import REPO_ROOT
from lab.tools import browser as lab_browser

ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium through Playwright, closed before other modules' tests run.

    A clear failure, not a skip, when Chromium is not installed (`make chromium` installs it).
    """
    try:
        lab_browser.chromium_path()
    except lab_browser.BrowserMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    with lab_browser.chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium):
    with lab_browser.new_page(chromium) as page:
        yield page


@pytest.fixture(scope="session")
def artifacts():
    """Where screenshots of the browser tests go (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
