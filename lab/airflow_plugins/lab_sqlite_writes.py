"""Airflow plugin of the lab's local Airflow on SQLite: one REST write at a time (see lab.airflow_sqlite)."""

from airflow.plugins_manager import AirflowPlugin

from lab.airflow_sqlite import OneWriteAtATime


class LabSqliteWrites(AirflowPlugin):
    name = "lab_sqlite_writes"
    fastapi_root_middlewares = [{"name": "one REST write at a time (SQLite)", "middleware": OneWriteAtATime}]
