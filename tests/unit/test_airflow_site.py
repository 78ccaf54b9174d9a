"""lab/airflow_site: what every Airflow process of the lab imports at start-up."""

import importlib.util
import logging
import sys

from lab.config import REPO_ROOT

PATH = REPO_ROOT / "lab" / "airflow_site" / "airflow_local_settings.py"


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


def test_sitecustomize_keeps_the_iri_grammar_out_and_the_formats_the_lab_uses_in():
    """Every Airflow process of the lab starts with lab/airflow_site on its path (airflow_env)."""
    import subprocess

    from lab.airflow_home import AIRFLOW_SITE

    check = (
        "import sys; from jsonschema import FormatChecker; "
        "print(sys.modules.get('rfc3987_syntax', 'imported'), sorted({'date', 'uri'} & set(FormatChecker.checkers)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", check],
        env={"PYTHONPATH": str(AIRFLOW_SITE), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["None", "['date',", "'uri']"]
