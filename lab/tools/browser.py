"""A real browser on the lab's two web pages: Debian's Chromium driven by Playwright.

The browser tests (`make test-browser`) and the docs pictures (`make screenshots`) share this
module, so the pictures in the README come from the same pages and selectors the tests check.

Playwright normally downloads a browser build of its own; the lab never does that. It drives
the system Chromium (`apt-get install chromium`, which `make chromium` runs when it is missing),
headless, with everything that would phone home switched off. `LAB_CHROMIUM` points at another
Chromium binary if yours lives elsewhere.

Airflow 3's UI is a React single-page app; these routes are stable deep links into it:

    /dags/<dag_id>                                        DAG overview (grid on the left)
    /dags/<dag_id>/runs/<run_id>                          one run: grid + its task instances
    /dags/<dag_id>/runs/<run_id>/tasks/<task_id>/mapped   the mapped instances of one task
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

DEFAULT_CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",  # runs as root in CI; the pages are our own, on 127.0.0.1
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
UI_TIMEOUT_MS = 60_000  # a cold React bundle on a busy 2-core machine can take a while


class BrowserMissing(RuntimeError):
    """No Chromium at the expected place; the message says how to install it."""


def chromium_path() -> str:
    """The Chromium binary to drive, checked to exist (never downloaded)."""
    path = os.environ.get("LAB_CHROMIUM") or DEFAULT_CHROMIUM
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        found = shutil.which("chromium")
        if found and not os.environ.get("LAB_CHROMIUM"):
            return found
        raise BrowserMissing(
            f"no Chromium at {path}. Install Debian's package with `make chromium` "
            "(apt-get install chromium), or set LAB_CHROMIUM to a Chromium binary. "
            "The lab never downloads a browser."
        )
    return path


@contextmanager
def chromium(headless: bool = True):
    """A running Chromium (Playwright `Browser`), closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=headless, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser, viewport: dict | None = None):
    """A page in a fresh context (no cookies or UI preferences carried over), closed on exit."""
    context = browser.new_context(viewport=viewport or VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


# ---------------------------------------------------------------- Airflow UI


def dag_url(base: str, dag_id: str) -> str:
    return f"{base.rstrip('/')}/dags/{quote(dag_id, safe='')}"


def run_url(base: str, dag_id: str, run_id: str) -> str:
    return f"{dag_url(base, dag_id)}/runs/{quote(run_id, safe='')}"


def mapped_url(base: str, dag_id: str, run_id: str, task_id: str) -> str:
    return f"{run_url(base, dag_id, run_id)}/tasks/{quote(task_id, safe='')}/mapped"


def open_ui(page, url: str, expect_text: str) -> None:
    """Go to an Airflow UI page and wait until the SPA has rendered `expect_text`."""
    page.goto(url)
    page.get_by_text(expect_text, exact=False).first.wait_for(state="visible")
    page.wait_for_load_state("networkidle")


def table_column(page, header: str) -> list[str]:
    """The visible texts of one column of the page's task-instance table (data-testid=table-list)."""
    table = page.get_by_test_id("table-list").first
    table.wait_for(state="visible")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    if header not in headers:
        raise AssertionError(f"no column {header!r} in the table; columns are {headers}")
    col = headers.index(header) + 1
    return [t.strip() for t in table.locator(f"tbody tr td:nth-child({col})").all_inner_texts()]


def mapped_labels(page, expected: int) -> list[str]:
    """The Map Index labels of a mapped task's instance list, once `expected` rows are shown."""
    page.get_by_test_id("table-list").locator("tbody tr").nth(expected - 1).wait_for(state="visible")
    return [" ".join(label.split()) for label in table_column(page, "Map Index")]


def open_trigger_form(page, base: str, dag_id: str, expect_text: str):
    """Open the DAG page's trigger form (Params) and return the dialog locator."""
    open_ui(page, dag_url(base, dag_id), expect_text)
    page.get_by_test_id("trigger-dag-button").first.click()
    dialog = page.get_by_role("dialog").filter(has_text="Run Parameters")
    dialog.wait_for(state="visible")
    page.wait_for_load_state("networkidle")
    return dialog


def run_state(page) -> str:
    """The state badge in a run page's header ("Success", "Failed", ...)."""
    badge = page.get_by_test_id("header-card").get_by_test_id("state-badge").first
    badge.wait_for(state="visible")
    return badge.inner_text().strip()
