"""The benchmark's parameters, validated before anything runs, and the plan of trials they make.

    config = BenchConfig(partitions=16, events_per_partition=10_000, latency_s=2, parallelism=8)
    config.plan()                                 # every trial, in running order
    config.conf(STRATEGIES["chunked_mapping"])    # the dag_run conf of one trial

The fields are notebook 04's papermill parameters and `lab bench -p NAME VALUE`'s names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from lab.bench.metrics import trial_order
from lab.bench.strategies import BASELINE, HEADLINE, STRATEGIES, Launch, Strategy
from lab.bench.workload import WINDOW_END, WINDOW_START
from lab.partitions import DEFAULT_MAX_MAP_LENGTH, PartitionError, check_latency_s, parse_date

MAX_PARALLELISM = 64
MAX_REPEATS = 20
MAX_EVENTS_PER_PARTITION = 10_000_000


class BenchConfigError(ValueError):
    """A benchmark parameter is invalid; raised before anything runs or is written."""


def _whole(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BenchConfigError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _names(name: str, value, allowed) -> list[str]:
    """A list of strategy names from a list or a comma-separated string, each known, none twice."""
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise BenchConfigError(f"{name} must be a list of strategy names, got {value!r}")
    unknown = [i for i in items if i not in allowed]
    if unknown:
        raise BenchConfigError(f"{name}: unknown strategies {unknown}; known are {', '.join(allowed)}")
    if len(set(items)) != len(items):
        raise BenchConfigError(f"{name} names a strategy twice: {list(items)}")
    return list(items)


def _levels(value) -> list[int]:
    """The sweep's parallelism levels from a list or a string such as '1,2,4,8'."""
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.replace(" ", "").split(",") if v]
        except ValueError:
            raise BenchConfigError(f"sweep must be whole numbers such as '1,2,4,8', got {value!r}") from None
    if not isinstance(value, (list, tuple)):
        raise BenchConfigError(
            f"sweep must be a list of parallelism levels such as [1, 2, 4, 8], got {value!r}"
        )
    levels = [_whole("each sweep level", v, 1, MAX_PARALLELISM) for v in value]
    if len(set(levels)) != len(levels):
        raise BenchConfigError(f"sweep lists a level twice: {levels}")
    return sorted(levels)


@dataclass
class BenchConfig:
    """The benchmark's parameters (the notebook's papermill parameters), validated on creation."""

    partitions: int = 4
    events_per_partition: int = 1000
    latency_s: float = 0.5
    parallelism: int = 2
    chunk_size: int = 2
    repeats: int = 1
    strategies: list[str] = field(default_factory=lambda: list(STRATEGIES))
    sweep: list[int] = field(default_factory=list)
    sweep_strategies: list[str] = field(default_factory=lambda: [HEADLINE])
    start_date: str = WINDOW_START.isoformat()
    warmup: bool = True

    def __post_init__(self):
        self.partitions = _whole("partitions", self.partitions, 1, DEFAULT_MAX_MAP_LENGTH)
        self.events_per_partition = _whole(
            "events_per_partition", self.events_per_partition, 1, MAX_EVENTS_PER_PARTITION
        )
        try:
            self.latency_s = check_latency_s(self.latency_s)
        except PartitionError as exc:
            raise BenchConfigError(str(exc)) from None
        self.parallelism = _whole("parallelism", self.parallelism, 1, MAX_PARALLELISM)
        self.chunk_size = _whole("chunk_size", self.chunk_size, 1, DEFAULT_MAX_MAP_LENGTH)
        self.repeats = _whole("repeats", self.repeats, 1, MAX_REPEATS)
        self.strategies = _names("strategies", self.strategies, STRATEGIES)
        if not self.strategies:
            raise BenchConfigError(f"strategies is empty: name at least one of {', '.join(STRATEGIES)}")
        self.sweep = _levels(self.sweep)
        self.sweep_strategies = _names("sweep_strategies", self.sweep_strategies, STRATEGIES)
        if self.sweep and not self.sweep_strategies:
            raise BenchConfigError("a sweep needs at least one strategy in sweep_strategies")
        if not isinstance(self.warmup, bool):
            raise BenchConfigError(f"warmup must be True or False, got {self.warmup!r}")
        try:
            first = parse_date(self.start_date, "start_date")
        except PartitionError as exc:
            raise BenchConfigError(str(exc)) from None
        last = first + timedelta(days=self.partitions - 1)
        if first < WINDOW_START or last > WINDOW_END:
            raise BenchConfigError(
                f"the partitions {first}..{last} must lie in the benchmark DAGs' window "
                f"{WINDOW_START}..{WINDOW_END} (the backfilled DAGs are pinned to it)"
            )
        self.start_date = first.isoformat()

    @property
    def dates(self) -> list[str]:
        first = date.fromisoformat(self.start_date)
        return [(first + timedelta(days=i)).isoformat() for i in range(self.partitions)]

    @property
    def max_parallelism(self) -> int:
        return max([self.parallelism, *self.sweep])

    def plan(self) -> list[dict]:
        """Every trial in running order: the comparison at P, then the sweep's levels.

        The order rotates from one repeat to the next. The sequential loop, the sweep's
        baseline, is added to the comparison when it was left out.
        """
        compare = list(self.strategies)
        if self.sweep and BASELINE not in compare:
            compare.insert(0, BASELINE)
        trials = [
            {"phase": "compare", "strategy": s, "repeat": r, "parallelism": self.parallelism}
            for r, s in trial_order(compare, self.repeats)
        ]
        # A sweep point the comparison already measures (same strategy, same P) is not run twice.
        points = [
            (s, p)
            for s in self.sweep_strategies
            if s != BASELINE
            for p in self.sweep
            if not (p == self.parallelism and s in compare)
        ]
        for repeat, (strategy, p) in trial_order(points, self.repeats) if points else []:
            trials.append({"phase": "sweep", "strategy": strategy, "repeat": repeat, "parallelism": p})
        return trials

    def conf(self, strategy: Strategy, dates: list[str] | None = None) -> dict:
        """The dag_run conf of a trial: the work for every strategy, the range for triggered ones,
        and the parameters the strategy names in `extra_conf`."""
        dates = dates or self.dates
        conf = {"events_per_partition": self.events_per_partition, "latency_s": self.latency_s}
        if strategy.launch is Launch.TRIGGER:
            conf.update(start_date=dates[0], end_date=dates[-1])
        conf.update({name: getattr(self, name) for name in strategy.extra_conf})
        return conf
