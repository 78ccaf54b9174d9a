"""A cost model of each strategy's makespan, from the costs `lab bench calibrate` measures.

    from lab.bench.model import Overheads, makespan
    prediction = makespan("dynamic_mapping", partitions=16, parallelism=8, latency_s=2,
                          events_per_partition=10_000, chunk_size=4, cores=2, overheads=Overheads(...))
    prediction.makespan_s, prediction.terms     # seconds, and what they are made of

From first principles: a strategy is a start (the run, or the backfill's runs, created and seen
by the scheduler), sometimes a planning task that must end before its map expands, then its
task instances in waves of at most P (the pool), each wave as long as its longest task, and a
scheduler pass between a wave's end and the next wave queued. A task instance costs its work
(the partitions' waits and DuckDB writes) plus Airflow's orchestration (wall seconds, of which
some are CPU). A wave's tasks share `cores`: when their CPU seconds / cores exceed the longest
task's uncontended wall time, the wave lasts that long instead (a roofline per wave). The
terms (`Prediction.terms`) add up to the makespan; every cost is one `Overheads` field, with
the measurement it comes from next to it.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, fields

# The strategies the model knows; partitioned_runs is launched like catchup_backfill (one run
# per partition, a backfill with max_active_runs = P) and is predicted with the backfill's costs.
MAPPED = ("dynamic_mapping", "chunked_mapping")
BACKFILLED = ("catchup_backfill", "partitioned_runs")
MODELLED = ("sequential_loop", *BACKFILLED, *MAPPED)
# Cores are never modelled below this: an Airflow whose own CPU eats every core still progresses.
MIN_FREE_CORES = 0.1


class ModelError(ValueError):
    """A prediction was asked for something the model cannot predict (an unknown strategy, N < 1 ...)."""


@dataclass(frozen=True)
class Overheads:
    """What one machine's Airflow costs, in seconds unless named otherwise (`lab bench calibrate`).

    Each field: what it is, then the trial and the moments it is measured from
    (t0 = the request that started the trial; phases as `lab.bench.overhead` names them).
    """

    # A triggered run's start: t0 -> its first task queued (the run created, a scheduler pass). Mapping, P=1.
    trigger_s: float
    # The planning task: queued -> ended (a task with no work). Mapping P=1: the task without a report.
    plan_s: float
    # The map's expansion: planning task ended -> first mapped instance queued. Mapping P=1.
    expand_s: float
    # A task's orchestration, uncontended: queued -> ended minus the work it reported. Mapping P=1, mean.
    task_wall_s: float
    # CPU seconds Airflow spends per task instance (task process, supervisor, scheduler, api-server):
    # every lab process's CPU over a trial = task_cpu_s x instances + active_cores x seconds. Mapping P=1.
    task_cpu_s: float
    # A freed slot's next instance: ended -> the next instance queued (a scheduler pass). Mapping P=1, mean.
    slot_gap_s: float
    # Creating a backfill's runs, per run: POST /backfills request seconds / N. Backfill P=1.
    run_create_s: float
    # A backfill's start: the request answered -> its first task queued. Backfill P=1.
    backfill_start_s: float
    # A backfilled run's task: queued -> ended minus its work. Backfill P=1, mean.
    run_task_wall_s: float
    # One run's task ended -> the next run's task queued (run finished, next run started, task queued). Backfill P=1.
    run_gap_s: float
    # CPU seconds per backfilled run (its bookkeeping and its task): CPU - active_cores x seconds. Backfill P=1.
    run_cpu_s: float
    # One partition's DuckDB write in-process, latency 0: the fixed part (a CPU cost). Two row counts, median.
    write_s: float
    # ... and per row (events_per_partition): the slope between the two row counts.
    write_per_row_s: float
    # Airflow's CPU while a run is in progress, apart from its tasks (scheduler loop, heartbeats), in
    # cores: taken off `cores`. Least squares with task_cpu_s over the mapping trial and a waiting one.
    active_cores: float
    # [scheduler] max_tis_per_query: at most this many instances queued per scheduler pass. The scheduler's config.
    max_tis_per_query: int = 16
    # One more scheduler pass when a wave needs more than max_tis_per_query queued. Assumed = slot_gap_s (not measured).
    pass_s: float | None = None

    @classmethod
    def from_dict(cls, values: dict) -> Overheads:
        """Overheads from a calibration's JSON; a clear error when one it needs is missing."""
        known = {f.name for f in fields(cls)}
        missing = [f.name for f in fields(cls) if f.default is MISSING and f.name not in values]
        if missing:
            raise ModelError(f"the calibration lacks {missing}: run `lab bench calibrate` again")
        return cls(**{k: v for k, v in values.items() if k in known})

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def scheduler_pass_s(self) -> float:
        return self.slot_gap_s if self.pass_s is None else self.pass_s


@dataclass(frozen=True)
class Prediction:
    strategy: str
    makespan_s: float
    terms: dict[str, float]  # named contributions that add up to makespan_s
    details: dict  # what the terms were computed from (waves, tasks, free cores ...)

    def as_dict(self) -> dict:
        return {
            "strategy": self.strategy,
            "makespan_s": round(self.makespan_s, 3),
            "terms": {k: round(v, 3) for k, v in self.terms.items()},
            "details": self.details,
        }


def waves(task_sizes: list[int], parallelism: int) -> list[list[int]]:
    """Task instances (partitions each) in start order, taken P at a time: the pool's waves."""
    return [task_sizes[i : i + parallelism] for i in range(0, len(task_sizes), parallelism)]


def task_sizes(strategy: str, partitions: int, chunk_size: int) -> list[int]:
    """Partitions per task instance: N tasks of 1, one task of N, or ceil(N / K) chunks of K (last shorter)."""
    if strategy == "sequential_loop":
        return [partitions]
    if strategy == "chunked_mapping":
        return [min(chunk_size, partitions - i) for i in range(0, partitions, chunk_size)]
    return [1] * partitions


def _check(strategy: str, partitions, parallelism, latency_s, events, chunk_size, cores) -> None:
    if strategy not in MODELLED:
        raise ModelError(f"the model knows no strategy {strategy!r}; it predicts {', '.join(MODELLED)}")
    for name, value in (
        ("partitions", partitions),
        ("parallelism", parallelism),
        ("chunk_size", chunk_size),
        ("events_per_partition", events),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{name} must be a whole number of at least 1, got {value!r}")
    if not isinstance(latency_s, (int, float)) or isinstance(latency_s, bool) or not latency_s >= 0:
        raise ModelError(f"latency_s must be a number of seconds >= 0, got {latency_s!r}")
    if not isinstance(cores, (int, float)) or isinstance(cores, bool) or not cores > 0:
        raise ModelError(f"cores must be a positive number, got {cores!r}")


def makespan(
    strategy: str,
    partitions: int,
    parallelism: int,
    latency_s: float,
    events_per_partition: int,
    chunk_size: int,
    cores: float,
    overheads: Overheads,
) -> Prediction:
    """The predicted makespan (t0 -> the last task ended) of `strategy` and the terms it adds up from."""
    _check(strategy, partitions, parallelism, latency_s, events_per_partition, chunk_size, cores)
    o = overheads
    write = o.write_s + o.write_per_row_s * events_per_partition  # one partition's CPU-bound write
    free_cores = max(cores - o.active_cores, MIN_FREE_CORES)
    backfilled = strategy in BACKFILLED
    task_wall = o.run_task_wall_s if backfilled else o.task_wall_s
    task_cpu = o.run_cpu_s if backfilled else o.task_cpu_s
    gap = o.run_gap_s if backfilled else o.slot_gap_s

    terms = {"start_s": 0.0, "plan_s": 0.0, "expand_s": 0.0}
    if backfilled:
        terms["start_s"] = o.run_create_s * partitions + o.backfill_start_s
    else:
        terms["start_s"] = o.trigger_s
    if strategy in MAPPED:
        terms["plan_s"] = o.plan_s
        terms["expand_s"] = o.expand_s

    sizes = task_sizes(strategy, partitions, chunk_size)
    pool_waves = waves(sizes, parallelism)
    wait = work = overhead = contention = passes = 0.0
    for wave in pool_waves:
        longest = max(wave)
        wait += longest * latency_s  # a plain sleep: no CPU, so it does not contend
        uncontended = task_wall + longest * write
        cpu_bound = sum(task_cpu + size * write for size in wave) / free_cores
        work += longest * write
        overhead += task_wall
        contention += max(0.0, cpu_bound - uncontended)
        passes += (math.ceil(len(wave) / o.max_tis_per_query) - 1) * o.scheduler_pass_s
    terms.update(
        wait_s=wait,  # the partitions' latency, wave by wave (the longest task of each wave)
        write_s=work,  # DuckDB writes, uncontended
        task_overhead_s=overhead,  # Airflow's per-task wall cost, once per wave
        cpu_contention_s=contention,  # a wave's CPU seconds / free cores beyond its uncontended length
        gaps_s=(len(pool_waves) - 1) * gap,  # a scheduler pass between a wave's end and the next wave
        queueing_passes_s=passes,  # extra passes when a wave needs more than max_tis_per_query queued
    )
    details = {
        "task_instances": len(sizes) + (1 if strategy in MAPPED else 0),
        "waves": len(pool_waves),
        "partitions_per_task": max(sizes),
        "concurrency": min(parallelism, len(sizes)),
        "free_cores": round(free_cores, 3),
        "write_per_partition_s": round(write, 4),
        "wave_bound_s": round(math.ceil(partitions / parallelism) * (latency_s + write), 3),
    }
    return Prediction(strategy, sum(terms.values()), terms, details)


def predict_all(
    partitions: int,
    parallelism: int,
    latency_s: float,
    events_per_partition: int,
    chunk_size: int,
    cores: float,
    overheads: Overheads,
    strategies: tuple[str, ...] = MODELLED,
) -> dict[str, Prediction]:
    """The prediction of every strategy at one point (the what-if table)."""
    return {
        s: makespan(s, partitions, parallelism, latency_s, events_per_partition, chunk_size, cores, overheads)
        for s in strategies
    }
