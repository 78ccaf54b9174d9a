"""The strategy benchmark: the same partitions, the same work, the same cap P, timed on a real Airflow.

    lab.bench.strategies  the strategies: one `Strategy` entry per DAG in dags/bench/ (how it is started, ...)
    lab.bench.workload    what the benchmark DAGs share: Params, pool, date window, the task's report
    lab.bench.config      the parameters (notebook 04's, `lab bench -p`), validated, and the plan of trials
    lab.bench.probes      the machine, the software versions, the local Airflow's capacity, t_partition
    lab.bench.runner      the trial loop on the local Airflow (through lab.client)
    lab.bench.verify      what a trial must have written before its timing counts; task-instance labels
    lab.bench.metrics     makespan, overhead, speedup, efficiency, wave and CPU bounds from recorded timelines
    lab.bench.cpu         CPU seconds a trial cost per part of the local Airflow (the CPU bound's numerator)
    lab.bench.results     the results of a run: summaries, headline, files (save, load)
    lab.bench.cli         `lab bench` / `make bench`: execute notebooks/04_compare_strategies.ipynb with papermill
    lab.bench.reference   `make bench-reference`: the README's reference run, both profiles interleaved
    lab.bench.reference_report  its README block (medians, min..max, ratios within rounds) and chart
    lab.bench.growth      `make bench-growth`: how the cost grows with N, and cores against waiting
    lab.bench.growth_report  its tables, charts and bottleneck verdicts

This package's __init__ stays import-free: DAG files and the virtualenv task import
`lab.bench.strategies` and `lab.bench.workload`, which must not pull pandas or the REST
client in with them.
"""


def add_cli(subparsers) -> None:
    """Add `lab bench` to the `lab` command line (called by lab/cli.py)."""
    from lab.bench.cli import add_cli as _add_cli

    _add_cli(subparsers)
