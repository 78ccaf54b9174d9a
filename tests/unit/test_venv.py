"""The demo's virtualenv spec: its own duckdb, nothing of the host's packages or environment."""

import inspect
import textwrap
from importlib.metadata import version

from lab import lake_writer
from lab.venv import VENV_DUCKDB, partition_venv


def test_the_venv_pins_a_duckdb_release_other_than_the_hosts():
    spec = partition_venv()
    assert spec["requirements"] == [f"duckdb=={VENV_DUCKDB}"]
    assert VENV_DUCKDB.split(".")[0] != version("duckdb").split(".")[0]


def test_the_venv_inherits_neither_packages_nor_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    spec = partition_venv()
    assert spec["system_site_packages"] is False and spec["inherit_env"] is False
    assert spec["venv_cache_path"] == str(tmp_path / "venv-cache")  # built by `lab prepare` in the home


def test_the_writer_source_imports_nothing_but_the_stdlib_and_duckdb():
    """What the venv receives is the function's source: every import in it must exist there."""
    import ast
    import sys

    tree = ast.parse(textwrap.dedent(inspect.getsource(lake_writer.write_events_partition)))
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules - set(sys.stdlib_module_names) == {"duckdb"}
