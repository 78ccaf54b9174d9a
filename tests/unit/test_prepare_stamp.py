"""A prepared Airflow home is recognised without importing Airflow, and any change voids it."""

import sqlite3

import pytest

from lab import prepare_stamp


@pytest.fixture
def home(tmp_path):
    """A home as `lab prepare` leaves it: a migrated SQLite DB and one complete cached venv."""
    with sqlite3.connect(tmp_path / "airflow.db") as con:
        con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        con.execute("INSERT INTO alembic_version VALUES ('rev1')")
    venv = tmp_path / "venv-cache" / "venv-1234"
    venv.mkdir(parents=True)
    (venv / "install_complete_marker.json").write_text('{"requirements": ["duckdb"]}')
    return tmp_path


def env_of(home):
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }


def test_a_home_is_current_only_after_a_recorded_prepare(home):
    env = env_of(home)
    assert not prepare_stamp.is_current(home, env)
    assert prepare_stamp.record(home, env)
    assert prepare_stamp.is_current(home, env)
    prepare_stamp.forget(home)
    assert not prepare_stamp.is_current(home, env)


def test_a_migrated_or_replaced_database_voids_the_stamp(home):
    env = env_of(home)
    prepare_stamp.record(home, env)
    with sqlite3.connect(home / "airflow.db") as con:
        con.execute("UPDATE alembic_version SET version_num = 'rev2'")
    assert not prepare_stamp.is_current(home, env)
    (home / "airflow.db").unlink()
    assert not prepare_stamp.is_current(home, env)


def test_a_deleted_or_rebuilt_virtualenv_voids_the_stamp(home):
    env = env_of(home)
    prepare_stamp.record(home, env)
    marker = home / "venv-cache" / "venv-1234" / "install_complete_marker.json"
    marker.write_text('{"requirements": ["duckdb", "pandas"]}')
    assert not prepare_stamp.is_current(home, env)
    marker.unlink()
    assert not prepare_stamp.is_current(home, env)


def test_another_database_url_voids_the_stamp(home, tmp_path_factory):
    prepare_stamp.record(home, env_of(home))
    other = tmp_path_factory.mktemp("other")
    (other / "airflow.db").write_bytes((home / "airflow.db").read_bytes())
    env = {**env_of(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{other / 'airflow.db'}"}
    assert not prepare_stamp.is_current(home, env)


def test_a_database_that_is_not_sqlite_is_never_taken_as_prepared(home):
    env = {**env_of(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://u@127.0.0.1/airflow"}
    assert not prepare_stamp.record(home, env)
    assert not (home / prepare_stamp.STAMP).exists()
    assert not prepare_stamp.is_current(home, env)


def test_a_database_never_migrated_is_not_prepared(tmp_path):
    sqlite3.connect(tmp_path / "airflow.db").close()  # an empty file: no alembic_version table
    (tmp_path / "venv-cache" / "venv-1").mkdir(parents=True)
    (tmp_path / "venv-cache" / "venv-1" / "install_complete_marker.json").write_text("{}")
    assert not prepare_stamp.record(tmp_path, env_of(tmp_path))
