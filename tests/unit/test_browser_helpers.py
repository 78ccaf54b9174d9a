"""lab.tools.browser without a browser: the Airflow UI deep links and the never-download rule."""

from __future__ import annotations

import pytest

from lab.tools import browser


def test_deep_links_quote_run_ids():
    run_id = "manual__2026-01-01T00:00:00.123+00:00"
    assert browser.run_url("http://127.0.0.1:8080/", "demo", run_id) == (
        "http://127.0.0.1:8080/dags/demo/runs/manual__2026-01-01T00%3A00%3A00.123%2B00%3A00"
    )
    assert browser.mapped_url("http://h", "demo", "r 1", "process_partition") == (
        "http://h/dags/demo/runs/r%201/tasks/process_partition/mapped"
    )


def test_a_missing_chromium_is_a_clear_error_not_a_download(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(browser.BrowserMissing, match="make chromium"):
        browser.chromium_path()
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("LAB_CHROMIUM", str(fake))
    assert browser.chromium_path() == str(fake)
