"""lab/preload/airflow_local_settings.py: preload modules in the scheduler only, never fail it."""

import importlib.util
import logging
import sys

from lab.config import REPO_ROOT

PATH = REPO_ROOT / "lab" / "preload" / "airflow_local_settings.py"


def load():
    spec = importlib.util.spec_from_file_location("lab_preload_settings_under_test", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # in pytest, argv is not the scheduler's: nothing preloaded
    return module


def test_only_the_scheduler_preloads():
    settings = load()
    assert settings.preload("colorsys", ["airflow", "api-server"]) == []
    assert settings.preload("colorsys", ["airflow"]) == []
    sys.modules.pop("colorsys", None)
    assert settings.preload("colorsys, json", ["/venv/bin/airflow", "scheduler"]) == ["colorsys", "json"]
    assert "colorsys" in sys.modules


def test_exports_nothing_into_airflow_settings():
    """Airflow copies every public name of airflow_local_settings into airflow.settings."""
    assert load().__all__ == []


def test_a_module_that_cannot_be_imported_is_a_warning_not_a_crash(caplog):
    with caplog.at_level(logging.WARNING):
        assert load().preload("no_such_module_here,json", ["airflow", "scheduler"]) == ["json"]
    assert "no_such_module_here" in caplog.text


def test_nothing_named_nothing_loaded():
    assert load().preload("", ["airflow", "scheduler"]) == []
