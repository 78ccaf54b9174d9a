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

Beyond one machine (`Deployment`): a distributed executor runs at most W workers x S slots
(Celery's `worker_concurrency`) at once, so a wave holds min(P, W x S) instances; its
hand-off (queued -> started, through the broker and a worker) replaces the LocalExecutor's;
a wave's CPU lands on its workers, each with its own C cores, unless everything shares one
machine (`colocated`, as the lab's own Celery deployment does on one 2-core host); and when the
slots, not the pool, are the cap, a worker slot's release replaces the scheduler pass between
waves. A map beyond [core] max_map_length is refused (Airflow fails such a run).
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
EXECUTORS = ("local", "celery")
# [core] max_map_length's default: the Execution API refuses a planning task's XCom that would
# expand a mapped task further (HTTP 400 "pushed value is too large to map"), so the run fails.
MAX_MAP_LENGTH = 1024


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
    # The executor's hand-off, part of task_wall_s: queued -> started (a worker took it, its supervisor
    # forked the task), mean over the trial's instances (queue_wait_mean_s). Mapping P=1.
    handoff_s: float | None = None
    # The share of task_cpu_s spent where the task runs (the task process and its supervisor: CPU parts
    # tasks + executor over the trial's Airflow CPU less active_cores x seconds); the rest is the
    # scheduler's and api-server's. Mapping P=1. None: all of it on the worker (an upper bound).
    worker_cpu_share: float | None = None

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
class Deployment:
    """Where the tasks run. The default is the lab's: LocalExecutor on the calibrated machine.

    executor "celery": W `workers` x S `worker_slots` ([celery] worker_concurrency) run at most
    W x S task instances at once, each worker on its own `worker_cores` (default: the prediction's
    cores) while the scheduler and api-server have machines of their own; `colocated`: every
    worker and Airflow itself share one machine's cores (the prediction's `cores`).
    `handoff_s`: the executor's hand-off (queued -> started), measured on a Celery deployment
    (`make bench-celery`); it replaces the calibration's `handoff_s`. `release_s`: when the
    workers' slots are the cap (W x S <= P), the next instances wait in the broker and a slot
    takes its next one only `release_s` after its task ended (the supervisor notices the exit,
    up to [workers] min_heartbeat_interval); that replaces the scheduler pass between waves and
    the later waves' hand-off. Measured by `make bench-celery`; None: not modelled.
    """

    executor: str = "local"
    workers: int = 1  # W: Celery workers (machines, unless colocated)
    worker_slots: int | None = None  # S: [celery] worker_concurrency; None: no cap beyond P (local)
    worker_cores: float | None = None  # C per worker; None: the prediction's cores
    colocated: bool = True  # workers, scheduler and api-server share the prediction's cores
    # Celery's queued -> started, mean per trial, median of 3. make bench-celery: mapping N=8 P=1, no-op.
    handoff_s: float | None = None
    # A task ended -> the next started in that worker slot, mean. make bench-celery: mapping N=16 P=2 W S.
    release_s: float | None = None
    max_map_length: int = MAX_MAP_LENGTH  # [core] max_map_length: the most instances one map expands to

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise ModelError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        for name in ("workers", "worker_slots", "max_map_length"):
            value = getattr(self, name)
            if value is None and name == "worker_slots":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelError(f"{name} must be a whole number of at least 1, got {value!r}")
        wc = self.worker_cores
        if wc is not None and (isinstance(wc, bool) or not isinstance(wc, (int, float)) or not wc > 0):
            raise ModelError(f"worker_cores must be a positive number, got {wc!r}")
        for name in ("handoff_s", "release_s"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0):
                raise ModelError(f"{name} must be a number of seconds >= 0, got {v!r}")
        if not isinstance(self.colocated, bool):
            raise ModelError(f"colocated must be true or false, got {self.colocated!r}")
        if self.executor == "local" and (self.workers != 1 or not self.colocated or self.worker_cores):
            raise ModelError("workers, worker_cores and colocated=false describe a distributed executor")

    @property
    def slots(self) -> int | None:
        """W x S: the most task instances the executor runs at once (None: no cap beyond P)."""
        return None if self.worker_slots is None else self.workers * self.worker_slots

    def concurrency(self, parallelism: int) -> int:
        """A wave's size: the pool's P, or the workers' slots when they are fewer."""
        return parallelism if self.slots is None else min(parallelism, self.slots)

    def slot_bound(self, parallelism: int) -> bool:
        """The workers' slots, not the pool, cap the waves, and their release is known."""
        return self.release_s is not None and self.slots is not None and self.slots <= parallelism

    def task_wall(self, calibrated_wall: float, overheads: Overheads) -> float:
        """A task's orchestration with this executor's hand-off in place of the calibrated one."""
        if self.handoff_s is None:
            return calibrated_wall
        if overheads.handoff_s is None:
            raise ModelError("the calibration has no handoff_s to replace: run `lab bench calibrate` again")
        return max(calibrated_wall - overheads.handoff_s, 0.0) + self.handoff_s

    def handoff(self, overheads: Overheads) -> float:
        """The hand-off inside a task's orchestration (this executor's, else the calibrated one)."""
        return next((h for h in (self.handoff_s, overheads.handoff_s) if h is not None), 0.0)

    def wave_cpu_s(self, wave: list[int], task_cpu: float, write: float, share: float | None) -> float:
        """The CPU seconds of a wave on the machine that waits longest: the one machine when
        co-located; else the busiest worker (instances spread evenly, the largest first), which
        carries its tasks' share of Airflow's per-task CPU (the scheduler's runs elsewhere)."""
        if self.colocated:
            return sum(task_cpu + size * write for size in wave)
        busiest = sorted(wave, reverse=True)[:: self.workers]  # the worker given the largest task
        per_task = task_cpu if share is None else task_cpu * share
        return sum(per_task + size * write for size in busiest)

    def free_cores(self, cores: float, active_cores: float) -> float:
        """The cores a wave's CPU shares: one machine's less Airflow's loop, or one worker's own."""
        if self.colocated:
            return max(cores - active_cores, MIN_FREE_CORES)
        return self.worker_cores or cores

    def check_expansion(self, strategy: str, mapped_instances: int, partitions: int) -> None:
        if mapped_instances <= self.max_map_length:
            return
        hint = (
            f"map over chunks instead (chunked_mapping with chunk_size >= "
            f"{math.ceil(partitions / self.max_map_length)})"
            if strategy == "dynamic_mapping"
            else f"use chunks of at least {math.ceil(partitions / self.max_map_length)} partitions"
        )
        raise ModelError(
            f"{strategy} of {partitions} partitions would expand one mapped task to {mapped_instances} "
            f"instances, beyond [core] max_map_length ({self.max_map_length}): Airflow fails the planning "
            f"task (its XCom is refused). {hint[0].upper() + hint[1:]}, or raise [core] max_map_length "
            "and pass it as max_map_length"
        )


LOCAL = Deployment()


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
    deployment: Deployment | None = None,
) -> Prediction:
    """The predicted makespan (t0 -> the last task ended) of `strategy` and the terms it adds up from.

    `deployment`: where the tasks run (default: LocalExecutor on the calibrated machine)."""
    _check(strategy, partitions, parallelism, latency_s, events_per_partition, chunk_size, cores)
    d = deployment or LOCAL
    o = overheads
    write = o.write_s + o.write_per_row_s * events_per_partition  # one partition's CPU-bound write
    free_cores = d.free_cores(cores, o.active_cores)
    backfilled = strategy in BACKFILLED
    task_wall = d.task_wall(o.run_task_wall_s if backfilled else o.task_wall_s, o)
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
    if strategy in MAPPED:
        d.check_expansion(strategy, len(sizes), partitions)
    concurrency = d.concurrency(parallelism)
    pool_waves = waves(sizes, concurrency)
    slot_bound = d.slot_bound(parallelism)
    if slot_bound:  # later waves wait in the broker for a released worker slot, not for a scheduler pass
        gap = d.release_s
    wait = work = overhead = contention = passes = 0.0
    for index, wave in enumerate(pool_waves):
        longest = max(wave)
        wait += longest * latency_s  # a plain sleep: no CPU, so it does not contend
        # in a released slot the hand-off is part of release_s
        wall = max(task_wall - d.handoff(o), 0.0) if slot_bound and index else task_wall
        uncontended = wall + longest * write
        cpu_bound = d.wave_cpu_s(wave, task_cpu, write, o.worker_cpu_share) / free_cores
        work += longest * write
        overhead += wall
        contention += max(0.0, cpu_bound - uncontended)
        passes += (math.ceil(len(wave) / o.max_tis_per_query) - 1) * o.scheduler_pass_s
    terms.update(
        wait_s=wait,  # the partitions' latency, wave by wave (the longest task of each wave)
        write_s=work,  # DuckDB writes, uncontended
        task_overhead_s=overhead,  # Airflow's per-task wall cost, once per wave
        cpu_contention_s=contention,  # a wave's CPU seconds / free cores beyond its uncontended length
        gaps_s=(len(pool_waves) - 1) * gap,  # a scheduler pass (or a worker slot's release) between waves
        queueing_passes_s=passes,  # extra passes when a wave needs more than max_tis_per_query queued
    )
    details = {
        "task_instances": len(sizes) + (1 if strategy in MAPPED else 0),
        "waves": len(pool_waves),
        "partitions_per_task": max(sizes),
        "concurrency": min(concurrency, len(sizes)),
        "free_cores": round(free_cores, 3),
        "write_per_partition_s": round(write, 4),
        "wave_bound_s": round(math.ceil(partitions / concurrency) * (latency_s + write), 3),
    }
    if deployment is not None and deployment != LOCAL:
        details["deployment"] = asdict(deployment)
        details["task_wall_s"] = round(task_wall, 4)
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
    deployment: Deployment | None = None,
) -> dict[str, Prediction]:
    """The prediction of every strategy at one point (the what-if table); ModelError for a map
    beyond the deployment's max_map_length (dynamic_mapping above 1024 partitions by default)."""
    return {
        s: makespan(
            s,
            partitions,
            parallelism,
            latency_s,
            events_per_partition,
            chunk_size,
            cores,
            overheads,
            deployment,
        )
        for s in strategies
    }
