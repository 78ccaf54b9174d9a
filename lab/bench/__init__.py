"""The strategy benchmark: the same partitions, the same work, the same cap P, timed on a real Airflow.

    lab.bench.workload   what the benchmark DAGs (dags/bench/) share: strategies, Params, pool
    lab.bench.metrics    makespan, overhead, speedup, efficiency from recorded task-instance timelines
    lab.bench.runner     run the trials on the local Airflow, verify each output, save the results
    lab.bench.cli        `lab bench` / `make bench`: execute notebooks/04_compare_strategies.ipynb with papermill

This package's __init__ stays import-free: DAG files and the virtualenv task import
`lab.bench.workload`, which must not pull pandas or the REST client in with it.
"""


def add_cli(subparsers) -> None:
    """Add `lab bench` to the `lab` command line (called by lab/cli.py)."""
    from lab.bench.cli import add_cli as _add_cli

    _add_cli(subparsers)
