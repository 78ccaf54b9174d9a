"""Benchmark metrics, computed from recorded task-instance timelines (Airflow's own records).

A trial is one strategy processing the N partitions once at a concurrency cap P. Its input
here is a DataFrame of its task instances (`start_date`, `end_date`, `queued_when` as UTC
timestamps, and `work_s`: the seconds the task itself reported spending inside
`write_partition`) plus the moment it was triggered. Nothing is assumed about how the
strategy ran: concurrency, overhead and makespan are read off the timeline.

- makespan: trigger (a backfill: the request creating its runs) to the end of the last task instance: what a user waits for;
- time in tasks: the sum of the task instances' durations (what the slots were busy with);
- per-task overhead: (time in tasks - work inside write_partition) / number of task instances:
  process start, imports, talking to the API server, a virtualenv ...;
- ideal = ceil(N / P) x t_partition, where t_partition is the same work measured in-process,
  without Airflow: the wave bound, the fastest any strategy could be with P slots, no
  orchestration overhead and a core for every slot. It is not a physical limit: on 2 cores
  eight task processes also compete for CPU, which this bound ignores;
- efficiency = ideal / makespan (1.0 would reach the wave bound);
- effective parallelism = time in tasks / makespan: how many task instances ran at once on
  average (apache/airflow#45991's measure; at most P);
- CPU bound = the CPU seconds the trial used (its task processes and Airflow's components,
  `lab.bench.cpu`; pro-rated to the makespan, see cpu_bound_seconds) / the cores: no schedule
  on this machine could finish that much CPU work sooner. It is a bound for this orchestration
  (its overhead's CPU included), measured, not a model; NaN where no CPU was measured (an
  Airflow this process did not start);
- efficiency_vs_bound = max(wave bound, CPU bound) / makespan, and `bound` says which one is
  the larger: "wave" (slots and waiting cap the trial) or "cpu" (the cores do).
- speedup over a baseline strategy = the baseline's median makespan / the strategy's.
"""

from __future__ import annotations

import math

import pandas as pd

from lab.bench.strategies import BACKFILL_BASELINE, BASELINE
from lab.timeline import max_concurrency

NO_DIFFERENCE = "no measurable difference"


def spread(values: pd.Series, digits: int = 1, unit: str = "") -> str:
    """'12.3 (11.0..14.1)': the median, then min..max; one value alone; '–' when none was measured."""
    values = values.dropna()
    f = f"{{:.{digits}f}}{unit}"
    if values.empty:
        return "–"
    if len(values) == 1:
        return f.format(values.iloc[0])
    return f"{f.format(values.median())} ({f.format(values.min())}..{f.format(values.max())})"


def overlaps(a: pd.Series, b: pd.Series) -> bool:
    """Whether the ranges min..max of `a` and of `b` overlap (then neither is measurably faster)."""
    return bool(a.min() <= b.max() and b.min() <= a.max())


def ideal_seconds(partitions: int, parallelism: int, t_partition: float) -> float:
    """The wave bound: N partitions in waves of P, each wave one partition's work long (no overhead)."""
    if partitions < 1 or parallelism < 1:
        raise ValueError(f"partitions and parallelism must be at least 1, got {partitions} and {parallelism}")
    if t_partition < 0:
        raise ValueError(f"t_partition must not be negative, got {t_partition}")
    return math.ceil(partitions / parallelism) * t_partition


def ideal_speedup(partitions: int, parallelism: int) -> float:
    """How much faster than one-after-another P slots can be at best: N / ceil(N / P)."""
    return partitions / math.ceil(partitions / parallelism)


def cpu_bound_seconds(
    cpu_s: float | None, cores: int | None, window_s: float | None = None, makespan_s: float | None = None
) -> float:
    """The CPU bound: CPU seconds used during the trial spread evenly over every core (NaN: not measured).

    The CPU is read from the trigger until the runs are seen finished (`window_s`), which ends a
    scheduler pass and a poll after the last task (the end of the makespan). When the window is
    longer, the CPU is pro-rated to the makespan (x makespan / window): the tail is the least
    busy part of a trial, so this errs low, as a lower bound should.
    """
    if cpu_s is None or cores is None or pd.isna(cpu_s):
        return float("nan")
    if cores < 1 or cpu_s < 0:
        raise ValueError(f"cores must be at least 1 and CPU seconds not negative, got {cores} and {cpu_s}")
    share = 1.0
    if window_s and makespan_s and window_s > makespan_s > 0:
        share = makespan_s / window_s
    return cpu_s * share / cores


def binding_bound(wave_s: float, cpu_bound_s: float) -> tuple[float, str]:
    """The larger of the two lower bounds and its name ("wave" or "cpu"); the wave bound when the
    CPU bound was not measured."""
    if pd.isna(cpu_bound_s) or cpu_bound_s <= wave_s:
        return wave_s, "wave"
    return cpu_bound_s, "cpu"


def relative_speed(speedup: float, baseline: str, bold: bool = False) -> str:
    """'2.50x as fast as X', or for a speedup below 1 'slower than X: 0.84x its speed'."""
    value = f"**{speedup:.2f}x**" if bold else f"{speedup:.2f}x"
    if speedup >= 1:
        return f"{value} as fast as {baseline}"
    return f"slower than {baseline} ({value} its speed)"


def trial_metrics(
    tis: pd.DataFrame,
    triggered_at: pd.Timestamp,
    partitions: int,
    parallelism: int,
    t_partition: float,
    cpu_s: float | None = None,
    cores: int | None = None,
    cpu_window_s: float | None = None,
) -> dict:
    """The metrics of one trial from its task instances (only instances that ran are counted);
    `cpu_s` is what its tasks and Airflow used on `cores` cores (lab.bench.cpu), when measured,
    over `cpu_window_s` seconds from the trigger."""
    ran = tis.dropna(subset=["start_date", "end_date"])
    if ran.empty:
        raise ValueError("no task instance of this trial has both a start and an end: nothing ran")
    durations = (ran["end_date"] - ran["start_date"]).dt.total_seconds()
    work = float(ran["work_s"].fillna(0).sum()) if "work_s" in ran else 0.0
    task_time = float(durations.sum())
    makespan = (ran["end_date"].max() - triggered_at).total_seconds()
    ideal = ideal_seconds(partitions, parallelism, t_partition)
    queued = ran.dropna(subset=["queued_when"]) if "queued_when" in ran else ran.iloc[0:0]
    cpu_bound = cpu_bound_seconds(cpu_s, cores, cpu_window_s, makespan)
    bound, bound_name = binding_bound(ideal, cpu_bound)
    return {
        "makespan_s": round(makespan, 3),
        "task_time_s": round(task_time, 3),
        "work_s": round(work, 3),
        "task_instances": int(len(ran)),
        "overhead_per_task_s": round((task_time - work) / len(ran), 3),
        "first_start_s": round((ran["start_date"].min() - triggered_at).total_seconds(), 3),
        "queue_wait_mean_s": (
            round(float((queued["start_date"] - queued["queued_when"]).dt.total_seconds().mean()), 3)
            if len(queued)
            else float("nan")
        ),
        "peak_concurrency": int(max_concurrency(ran)),
        "ideal_s": round(ideal, 3),
        "efficiency": round(ideal / makespan, 4) if makespan > 0 else float("nan"),
        "effective_parallelism": round(task_time / makespan, 3) if makespan > 0 else float("nan"),
        "cpu_s": round(cpu_s, 3) if cpu_s is not None else float("nan"),
        "cpu_bound_s": round(cpu_bound, 3),
        "bound_s": round(bound, 3),
        "bound": bound_name,
        "efficiency_vs_bound": round(bound / makespan, 4) if makespan > 0 else float("nan"),
    }


def trial_order(strategies: list[str], repeats: int) -> list[tuple[int, str]]:
    """(repeat, strategy) in running order: each repeat rotates the list by one, so every strategy
    takes every position equally often and a drifting machine favours none of them."""
    order = []
    for repeat in range(repeats):
        shift = repeat % len(strategies)
        order.extend((repeat, s) for s in strategies[shift:] + strategies[:shift])
    return order


SPEEDUP_COLUMNS = {BASELINE: "speedup_vs_sequential", BACKFILL_BASELINE: "speedup_vs_backfill"}


def summarize(trials: pd.DataFrame, baselines: dict[str, str] = SPEEDUP_COLUMNS) -> pd.DataFrame:
    """One row per strategy: median and spread over its verified trials, speedups over baselines.

    A trial whose output did not verify is left out of every timing (a fast wrong run must
    not win) and counted in `failed`.
    """
    rows = []
    for strategy, group in trials.groupby("strategy", sort=False):
        good = group[group["verified"]]
        row = {
            "strategy": strategy,
            "trials": int(len(good)),
            "failed": int(len(group) - len(good)),
            "makespan_s": good["makespan_s"].median(),
            "makespan_min_s": good["makespan_s"].min(),
            "makespan_max_s": good["makespan_s"].max(),
            "task_time_s": good["task_time_s"].median(),
            "task_instances": good["task_instances"].median(),
            "overhead_per_task_s": good["overhead_per_task_s"].median(),
            "peak_concurrency": good["peak_concurrency"].max(),
            "ideal_s": good["ideal_s"].median(),
            "efficiency": good["efficiency"].median(),
        }
        # Columns of later versions: a results.csv saved before them still summarizes.
        for column in ("effective_parallelism", "cpu_s", "cpu_bound_s", "bound_s", "efficiency_vs_bound"):
            if column in good:
                row[column] = good[column].median()
        if "cpu_bound_s" in row:
            row["bound"] = binding_bound(row["ideal_s"], row["cpu_bound_s"])[1]
        rows.append(row)
    summary = pd.DataFrame(rows)
    if summary.empty:
        return summary
    medians = dict(zip(summary["strategy"], summary["makespan_s"], strict=False))
    for base, column in baselines.items():
        summary[column] = [
            round(medians[base] / m, 2) if base in medians and m and not pd.isna(m) else float("nan")
            for m in summary["makespan_s"]
        ]
    return summary


def sweep_summary(trials: pd.DataFrame, strategies: list[str]) -> pd.DataFrame:
    """Speedup over the sequential loop per (strategy, P), with the ideal speedup N / ceil(N / P).

    The sequential loop runs in one task whatever P is, so its median over all its verified
    trials is the baseline for every P.
    """
    good = trials[trials["verified"]]
    base = good.loc[good["strategy"] == BASELINE, "makespan_s"]
    if base.empty:
        raise ValueError(f"the sweep needs verified {BASELINE} trials as its baseline")
    base_median = base.median()
    rows = []
    for (strategy, parallelism), group in good[good["strategy"].isin(strategies)].groupby(
        ["strategy", "parallelism"], sort=True
    ):
        partitions = int(group["partitions"].iloc[0])
        makespan = group["makespan_s"].median()
        rows.append(
            {
                "strategy": strategy,
                "parallelism": int(parallelism),
                "trials": int(len(group)),
                "makespan_s": makespan,
                "speedup": round(base_median / makespan, 3),
                "ideal_speedup": round(ideal_speedup(partitions, int(parallelism)), 3),
                "efficiency": group["efficiency"].median(),
            }
        )
    return pd.DataFrame(rows)
