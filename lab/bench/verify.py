"""What a trial must have done before its timing counts, and what each of its task instances did.

A trial is right when every run and every task instance succeeded, the tasks reported writing
each partition exactly once, and the lake holds each partition once, in one file, with the
asked number of events, and nothing else. A trial with any problem is kept in the results but
left out of every timing: a fast wrong run must not win.
"""

from __future__ import annotations

import pandas as pd

from lab import lake
from lab.bench.strategies import Strategy
from lab.partitions import Partition


def problems(
    strategy: Strategy,
    dates: list[str],
    events_per_partition: int,
    runs: pd.DataFrame,
    tis: pd.DataFrame,
    reports: list[dict | None],
) -> list[str]:
    """Everything that is wrong with a trial's outcome (empty when it is right)."""
    found = []
    expected_runs = strategy.launch.runs_for(len(dates))
    if len(runs) != expected_runs:
        found.append(f"{len(runs)} runs instead of {expected_runs}")
    failed_runs = runs.loc[runs["state"] != "success", "dag_run_id"].tolist()
    if failed_runs:
        found.append(f"runs not successful: {failed_runs}")
    bad = tis[tis["state"] != "success"]
    if len(bad):
        states = sorted(set(bad["task_id"] + ":" + bad["state"].astype(str)))
        found.append(f"task instances not successful: {states}")
    reported = [day for r in reports if r for day in r["partitions"]]
    if sorted(reported) != sorted(dates):
        found.append(f"tasks reported {len(reported)} partition writes for {len(dates)} partitions")
    check = lake.validate([Partition(d) for d in dates], events_per_partition, table=strategy.table)
    if not check["ok"]:
        found.append(
            f"lake check failed: missing {check['missing']}, wrong counts {check['wrong_counts']}, "
            f"several files {check['several_files']}"
        )
    extra = sorted(set(lake.partition_files(strategy.table)) - {Partition(d).path for d in dates})
    if extra:
        found.append(f"unexpected partitions in {strategy.table}: {extra}")
    return found


def labels(
    strategy: Strategy, dates: list[str], runs: pd.DataFrame, tis: pd.DataFrame, reports: list[dict | None]
) -> list[str]:
    """What each task instance worked on (colour and text in a Gantt chart), first that applies:

    its rendered map index without the strategy's `label_prefix` (a partition, a chunk); the
    partition of its run (a backfill's run: its partition_key or the day of its logical date);
    the partitions it reported writing ("all partitions" for a loop over them); its task id.
    """
    of_run = {run.dag_run_id: _run_partition(run) for run in runs.itertuples()}
    found = []
    for row, report in zip(tis.itertuples(), reports, strict=True):
        mapped = row.rendered_map_index if isinstance(row.rendered_map_index, str) else ""
        written = sorted(report["partitions"]) if report else []
        if mapped:
            found.append(mapped.removeprefix(strategy.label_prefix or ""))
        elif of_run.get(row.dag_run_id):
            found.append(of_run[row.dag_run_id])
        elif written:
            found.append("all partitions" if written == sorted(dates) else f"{written[0]}..{written[-1]}")
        else:
            found.append(row.task_id)
    return found


def _run_partition(run) -> str | None:
    """The partition a run is for: its partition_key, or the day of its logical date (None: manual)."""
    key, logical = getattr(run, "partition_key", None), getattr(run, "logical_date", None)
    if isinstance(key, str) and key:
        return key
    return logical[:10] if isinstance(logical, str) and logical else None
