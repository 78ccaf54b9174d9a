"""Step 9: `@task.virtualenv`, a mapped task that runs in a Python environment of its own.

`@task.virtualenv(**partition_venv())` (see `lab/venv.py`) runs a function in a virtualenv that
holds only duckdb, pinned to a release other than the host's, built with uv and cached in
`venv_cache_path` (once, not once per instance). `system_site_packages=False` keeps the host's
packages out, `inherit_env=False` the worker's environment (with it the lab's PYTHONPATH).

Only the function's *source* reaches the venv, so it imports what it needs inside its body and
takes plain, serializable arguments. The lab's writer, `lab.lake_writer.write_events_partition`,
is written that way: it becomes the mapped task as is, with `partial`, `expand` and
`map_index_template` as for `@task`, and writes each partition to the lake table `step_09`.
`inspect_venv` runs in the same venv and reports what it sees there; `inspect_venv_inherit_env`
does the same with Airflow's default `inherit_env=True`, to show what that would let in.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from lab.lake import writer_arguments
from lab.lake_writer import write_events_partition
from lab.venv import partition_venv


def inspect_venv() -> dict:
    """Where this Python runs, its duckdb, and what it can import or read from its environment."""
    import importlib.util
    import os
    import sys

    import duckdb

    return {
        "sys.prefix": sys.prefix,
        "duckdb": duckdb.__version__,
        "can import lab": importlib.util.find_spec("lab") is not None,
        "can import airflow": importlib.util.find_spec("airflow") is not None,
        "PYTHONPATH": os.environ.get("PYTHONPATH"),
        "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME"),
    }


@dag(dag_id="step_09_virtualenv", schedule=None, tags=["lab", "steps"])
def step_09_virtualenv():
    @task
    def get_dates() -> list[str]:
        from lab.partitions import date_range

        return date_range("2024-01-01", "2024-01-02")

    process_partition = task.virtualenv(
        task_id="process_partition",
        map_index_template="Partition: {{ task.op_kwargs['event_date'] }}",
        **partition_venv(),
    )(write_events_partition)

    process_partition.partial(events_per_partition=100, **writer_arguments("step_09")).expand(
        event_date=get_dates()
    )

    # The same probe twice: in the spec's venv, and with Airflow's default inherit_env=True.
    task.virtualenv(task_id="inspect_venv", **partition_venv())(inspect_venv)()
    task.virtualenv(task_id="inspect_venv_inherit_env", **{**partition_venv(), "inherit_env": True})(
        inspect_venv
    )()


step_09_virtualenv()
