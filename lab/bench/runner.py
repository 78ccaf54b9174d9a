"""Run the strategy benchmark on the local Airflow: trials, verification, results.

    from lab.bench.runner import BenchConfig, run
    results = run(BenchConfig(partitions=16, rows=10_000, latency_s=2, parallelism=8, repeats=3))
    results.summary          # one row per strategy
    results.save("data/benchmarks/...", figures)

Every trial: set the pool `lab_bench` to P slots, delete the strategy's lake table and its
earlier runs, note the time, start the strategy through the REST API (a manual run, or a
backfill with max_active_runs = P), wait until every run has finished, then read the task
instances (queued / start / end) and each task's own report of the seconds it spent inside
`write_partition` (its XCom), and check the lake: every partition present once with the right
row count, every task successful, every partition reported exactly once. A trial that fails
any check is kept in the results but left out of every timing.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from lab import airflow_local, lake
from lab.bench import metrics
from lab.bench.workload import MAX_LATENCY_S, POOL, STRATEGIES, WINDOW_END, WINDOW_START, Strategy
from lab.client import Airflow, AirflowError, retry_when_locked
from lab.config import settings
from lab.partitions import PartitionError, parse_date

MAX_PARALLELISM = 64
MAX_PARTITIONS = 1024  # Airflow's [core] max_map_length: one mapped task expands to at most this many
MAX_REPEATS = 20
INPROCESS_TABLE = "bench_inprocess"


class BenchError(RuntimeError):
    """The benchmark could not run as asked; the message says why."""


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
    rows: int = 1000
    latency_s: float = 0.5
    parallelism: int = 2
    chunk_size: int = 2
    repeats: int = 1
    strategies: list[str] = field(default_factory=lambda: list(STRATEGIES))
    sweep: list[int] = field(default_factory=list)
    sweep_strategies: list[str] = field(default_factory=lambda: ["dynamic_mapping"])
    start_date: str = WINDOW_START.isoformat()
    warmup: bool = True

    def __post_init__(self):
        self.partitions = _whole("partitions", self.partitions, 1, MAX_PARTITIONS)
        self.rows = _whole("rows", self.rows, 1, 10_000_000)
        if (
            isinstance(self.latency_s, bool)
            or not isinstance(self.latency_s, (int, float))
            or not (0 <= self.latency_s <= MAX_LATENCY_S)
        ):
            raise BenchConfigError(
                f"latency_s must be a number of seconds from 0 to {MAX_LATENCY_S:g}, got {self.latency_s!r}"
            )
        self.latency_s = float(self.latency_s)
        self.parallelism = _whole("parallelism", self.parallelism, 1, MAX_PARALLELISM)
        self.chunk_size = _whole("chunk_size", self.chunk_size, 1, MAX_PARTITIONS)
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
        if self.sweep and metrics.BASELINE not in compare:
            compare.insert(0, metrics.BASELINE)
        trials = [
            {"phase": "compare", "strategy": s, "repeat": r, "parallelism": self.parallelism}
            for r, s in metrics.trial_order(compare, self.repeats)
        ]
        # A sweep point the comparison already measures (same strategy, same P) is not run twice.
        points = [
            (s, p)
            for s in self.sweep_strategies
            if s != metrics.BASELINE
            for p in self.sweep
            if not (p == self.parallelism and s in compare)
        ]
        for repeat, (strategy, p) in metrics.trial_order(points, self.repeats) if points else []:
            trials.append({"phase": "sweep", "strategy": strategy, "repeat": repeat, "parallelism": p})
        return trials

    def conf(self, strategy: Strategy, dates: list[str] | None = None) -> dict:
        """The dag_run conf of a trial: the work for every strategy, the range for triggered ones."""
        dates = dates or self.dates
        conf = {"rows": self.rows, "latency_s": self.latency_s}
        if strategy.launch == "trigger":
            conf.update(start_date=dates[0], end_date=dates[-1])
        if strategy.name == "chunked_mapping":
            conf["chunk_size"] = self.chunk_size
        return conf


# ---------------------------------------------------------------- the machine and the software


def machine_info() -> dict:
    import psutil

    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def software_versions() -> dict:
    found = {"python": platform.python_version()}
    for package in ("apache-airflow", "apache-airflow-providers-standard", "duckdb", "pandas", "papermill"):
        found[package] = version(package)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=settings().repo_root, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain")
        found["lab_commit"] = commit + ("+changes" if dirty else "") if commit else None
    except (OSError, subprocess.SubprocessError):
        found["lab_commit"] = None
    return found


def airflow_parallelism(cfg=None) -> int | None:
    """[core] parallelism of the running managed Airflow, read from its scheduler's environment."""
    import psutil

    cfg = cfg or settings()
    inst = airflow_local.Instance.load(cfg.airflow_home)
    pid = inst.pids.get("scheduler") if inst else None
    if not pid:
        return None
    try:
        value = psutil.Process(pid).environ().get("AIRFLOW__CORE__PARALLELISM")
    except psutil.Error:
        return None
    return int(value) if value and value.isdigit() else None


# A LocalExecutor worker stays busy after its task has ended until the task's supervisor notices
# the process exit, which can take up to [workers] min_heartbeat_interval (5 s). With only P
# workers that wait becomes a second, hidden cap (the next wave starts as workers free up, two
# at a time, in the first reference run); 2 x P workers absorb it while the pool still lets at
# most P tasks run.
EXECUTOR_HEADROOM = 2


def ensure_capacity(needed: int, quiet: bool = False) -> int:
    """Make sure the local Airflow runs with [core] parallelism >= `needed` (EXECUTOR_HEADROOM x the largest P).

    The cap P of each trial is the pool; [core] parallelism must not be a second, lower cap
    (see EXECUTOR_HEADROOM). A managed Airflow started with less is
    restarted with LAB_PARALLELISM = needed; an external one (LAB_AIRFLOW_URL) is trusted.
    Returns the parallelism Airflow runs with (or `needed` when it cannot be read).
    """
    cfg = settings()
    if not cfg.is_managed:
        return needed
    current = airflow_parallelism(cfg)
    if current is not None and current >= needed and airflow_local.status(cfg)["healthy"]:
        return current
    target = max(needed, cfg.parallelism)
    if current is not None:
        if not quiet:
            print(
                f"Restarting the local Airflow with [core] parallelism = {target} (it ran with {current})",
                flush=True,
            )
        airflow_local.down(cfg, quiet=True)
    airflow_local.up(replace(cfg, parallelism=target), quiet=True, timeout=300)
    return airflow_parallelism(cfg) or target


# ---------------------------------------------------------------- one trial


def measure_partition(rows: int, latency_s: float, samples: int = 3) -> list[float]:
    """Seconds to write one partition in this process, no Airflow: the lab's physical limit.

    The same call the tasks make, into a scratch table of the same lake (same disk), first
    call excluded (imports and DuckDB start-up are a one-time cost, not per partition).
    """
    lake.delete_table(INPROCESS_TABLE)
    try:
        lake.write_partition(WINDOW_START, rows, table=INPROCESS_TABLE, latency_s=0)
        times = []
        for i in range(samples):
            started = time.perf_counter()
            lake.write_partition(
                WINDOW_START + timedelta(days=i), rows, table=INPROCESS_TABLE, latency_s=latency_s
            )
            times.append(round(time.perf_counter() - started, 4))
        return times
    finally:
        lake.delete_table(INPROCESS_TABLE)


def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC))


class Runner:
    """Runs trials against one Airflow; `progress` shows which strategy and repeat is running."""

    def __init__(
        self, config: BenchConfig, client: Airflow | None = None, progress: bool = True, poll: float = 0.5
    ):
        self.config = config
        self.af = client or Airflow()
        self.progress = progress
        self.poll = poll
        self.bar = None
        self._shown = 0.0
        self._prepared: set[str] = set()
        self.t_partition: float | None = None

    # ---------------------------------------------------------------- Airflow plumbing

    def set_pool(self, slots: int) -> None:
        """Size the pool every benchmark task runs in: P slots = at most P tasks at once."""
        self.af.set_pool(
            POOL,
            slots,
            description="lab.bench: the benchmark's concurrency cap P (resized before each trial)",
        )

    def delete_runs(self, dag_id: str) -> None:
        runs = self.af.runs(dag_id)
        for run_id in runs.get("dag_run_id", []):
            self.af.request("DELETE", f"/dags/{dag_id}/dagRuns/{run_id}")

    def _finish_backfills(self, dag_id: str, timeout: float = 60.0) -> None:
        """Wait until no backfill of `dag_id` is active (one per DAG at a time).

        The scheduler marks a finished backfill complete only every 30 s; one whose runs have
        all finished is completed right away through the cancel endpoint (nothing is left to
        cancel: it only sets completed_at).
        """
        deadline = time.monotonic() + timeout
        while True:
            backfills = self.af._paged("/backfills", "backfills", {"dag_id": dag_id})
            active = [b for b in backfills if b.get("completed_at") is None]
            if not active:
                return
            runs = self.af.runs(dag_id)
            if runs.empty or runs["state"].isin(["success", "failed"]).all():
                for b in active:
                    try:
                        self.af.request("PUT", f"/backfills/{b['id']}/cancel")
                    except AirflowError as exc:
                        if "409" not in str(exc):  # completed meanwhile
                            raise
                continue
            if time.monotonic() > deadline:
                raise BenchError(f"a backfill of {dag_id} is still running after {timeout:.0f} s")
            time.sleep(self.poll)

    def prepare_dag(self, strategy: Strategy) -> None:
        """The DAG is parsed and unpaused (once per runner); no backfill of it is still active."""
        if strategy.dag_id not in self._prepared:
            self.af.wait_for_dag(strategy.dag_id, timeout=180)
            self.af.unpause(strategy.dag_id)
            self._prepared.add(strategy.dag_id)
        if strategy.launch == "backfill":
            self._finish_backfills(strategy.dag_id)

    def warm_up(self, names: list[str], workers: int, timeout: float = 600.0) -> None:
        """Untimed runs, all at once, of what would otherwise make the first timed trials slower.

        - each LocalExecutor worker process imports Airflow's task supervisor when it runs its
          first task, and keeps it: one mapped run with a task for each of the `workers`
          workers, overlapping (each waits a second), gives every worker its first task;
        - the cached virtualenv is built by the first task that needs it, and uv downloads
          duckdb once per machine: one run of one partition per strategy in `names`.
        """
        if self.progress:
            print(
                f"warm-up (untimed): {workers} executor workers, {', '.join(names) or 'no setup'}",
                file=sys.stderr,
                flush=True,
            )
        self.set_pool(workers + 2 * len(names))
        first = self.config.dates[:1]
        launches = [(STRATEGIES[name], self.config.conf(STRATEGIES[name], first), first) for name in names]
        if workers:
            days = [(WINDOW_START + timedelta(days=i)).isoformat() for i in range(workers)]
            conf = {"rows": 10, "latency_s": 1.0, "start_date": days[0], "end_date": days[-1]}
            launches.append((STRATEGIES["dynamic_mapping"], conf, days))
        for strategy, conf, days in launches:
            self.prepare_dag(strategy)
            self.delete_runs(strategy.dag_id)
            run_id = f"bench__warmup__{_now().strftime('%Y%m%dT%H%M%S%f')}"
            self.launch(strategy, conf, days, 1, run_id)
        for strategy, _, _ in launches:
            runs = self.wait(strategy, 1, timeout)
            if not (runs["state"] == "success").all():
                raise BenchError(
                    f"the warm-up run of {strategy.name} failed: see {self.af.ui_url}/dags/{strategy.dag_id}"
                )
            lake.delete_table(strategy.table)

    def launch(
        self, strategy: Strategy, conf: dict, dates: list[str], parallelism: int, run_id: str
    ) -> pd.Timestamp:
        """Start the strategy; returns the trial's t0: just before the request that started it.

        A backfill's runs are created while its DAG is paused (a refused attempt's runs are deleted
        by Airflow, which must not happen under the scheduler) and released right after; t0 is
        the start of the accepted creation request, so creating the N runs counts, as a triggered
        run's creation does.
        """
        if strategy.launch == "trigger":
            body = {"logical_date": None, "conf": conf, "dag_run_id": run_id}
            t0 = _now()
            self.af.request("POST", f"/dags/{strategy.dag_id}/dagRuns", json=body)
            return t0
        sent_at = []

        def create():
            sent_at.append(_now())
            return self.af.create_backfill(
                strategy.dag_id,
                dates[0],
                dates[-1],
                max_active_runs=parallelism,
                conf=conf,
                reprocess_behavior="none",
            )

        with self.af.paused(strategy.dag_id):
            retry_when_locked(create)
        return sent_at[-1]

    def wait(self, strategy: Strategy, expected_runs: int, timeout: float) -> pd.DataFrame:
        """Poll until `expected_runs` runs of the DAG exist and all have finished; return them."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.af.runs(strategy.dag_id)
            done = int(runs["state"].isin(["success", "failed"]).sum()) if len(runs) else 0
            if self.bar is not None and time.monotonic() - self._shown >= 5:
                self.bar.set_postfix_str(
                    f"runs {done}/{expected_runs} finished"
                )  # refreshes at most every 5 s
                self._shown = time.monotonic()
            if len(runs) >= expected_runs and done == len(runs):
                return runs
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{strategy.name}: {done}/{expected_runs} runs finished after {timeout:.0f} s "
                    f"(see {self.af.ui_url}/dags/{strategy.dag_id})"
                )
            time.sleep(self.poll)

    def task_reports(self, dag_id: str, tis: pd.DataFrame) -> list[dict | None]:
        """Each task instance's XCom return value (a report dict, or None for other tasks)."""
        values = []
        for row in tis.itertuples():
            if row.state != "success":
                values.append(None)
                continue
            try:
                entry = self.af.request(
                    "GET",
                    f"/dags/{dag_id}/dagRuns/{row.dag_run_id}/taskInstances/{row.task_id}/xcomEntries/return_value",
                    params={"map_index": int(row.map_index), "deserialize": True},
                )
            except AirflowError as exc:
                if "404" in str(exc):
                    values.append(None)
                    continue
                raise
            value = entry.get("value")
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    value = None
            values.append(value if isinstance(value, dict) and "work_s" in value else None)
        return values

    # ---------------------------------------------------------------- trials

    def trial(
        self, strategy_name: str, parallelism: int, repeat: int, phase: str, dates: list[str] | None = None
    ):
        """Run one trial; returns (a row of results, the trial's task instances)."""
        cfg = self.config
        strategy = STRATEGIES[strategy_name]
        dates = dates or cfg.dates
        conf = cfg.conf(strategy, dates)
        if self.t_partition is None:
            self.t_partition = statistics.median(measure_partition(cfg.rows, cfg.latency_s))
        self.prepare_dag(strategy)
        self.set_pool(parallelism)
        self.delete_runs(strategy.dag_id)
        lake.delete_table(strategy.table)
        run_id = f"bench__{phase}__r{repeat}__p{parallelism}__{_now().strftime('%Y%m%dT%H%M%S%f')}"
        expected_runs = 1 if strategy.launch == "trigger" else len(dates)
        per_task = 120 + cfg.latency_s + cfg.rows / 20_000
        timeout = 300 + per_task * math.ceil(len(dates) / parallelism) * (
            4 if "virtualenv" in strategy.name else 1
        )

        t0 = self.launch(strategy, conf, dates, parallelism, run_id)
        runs = self.wait(strategy, expected_runs, timeout)
        if strategy.launch == "backfill":
            self._finish_backfills(strategy.dag_id)

        tis = self.af.task_instances(strategy.dag_id)
        tis = tis[tis["dag_run_id"].isin(runs["dag_run_id"])].reset_index(drop=True)
        reports = self.task_reports(strategy.dag_id, tis)
        tis["work_s"] = [r["work_s"] if r else None for r in reports]
        tis["label"] = _labels(tis, runs, strategy)
        problems = self.verify(strategy, dates, runs, tis, reports, expected_runs)

        row = {
            "phase": phase,
            "strategy": strategy.name,
            "repeat": repeat,
            "parallelism": parallelism,
            "partitions": len(dates),
            "rows": cfg.rows,
            "latency_s": cfg.latency_s,
            "chunk_size": cfg.chunk_size,
            "dag_id": strategy.dag_id,
            "runs": len(runs),
            "triggered_at": t0.isoformat(),
            "verified": not problems,
            "problems": "; ".join(problems),
        }
        if tis.dropna(subset=["start_date", "end_date"]).empty:
            row.update(makespan_s=float("nan"), verified=False)
        else:
            row.update(metrics.trial_metrics(tis, t0, len(dates), parallelism, self.t_partition))
        tis.insert(0, "trial", f"{phase}/{strategy.name}/r{repeat}/p{parallelism}")
        for key in ("phase", "strategy", "repeat", "parallelism"):
            tis[key] = row[key]
        tis["triggered_at"] = t0
        return row, tis

    def verify(self, strategy, dates, runs, tis, reports, expected_runs) -> list[str]:
        """Everything that is wrong with a trial's outcome (empty when it is right)."""
        problems = []
        if len(runs) != expected_runs:
            problems.append(f"{len(runs)} runs instead of {expected_runs}")
        failed_runs = runs.loc[runs["state"] != "success", "dag_run_id"].tolist()
        if failed_runs:
            problems.append(f"runs not successful: {failed_runs}")
        bad = tis[tis["state"] != "success"]
        if len(bad):
            states = sorted(set(bad["task_id"] + ":" + bad["state"].astype(str)))
            problems.append(f"task instances not successful: {states}")
        reported = [day for r in reports if r for day in r["partitions"]]
        if sorted(reported) != sorted(dates):
            problems.append(f"tasks reported {len(reported)} partition writes for {len(dates)} partitions")
        check = lake.validate([f"event_date={d}" for d in dates], self.config.rows, table=strategy.table)
        if not check["ok"]:
            problems.append(
                f"lake check failed: missing {check['missing']}, wrong counts {check['wrong_counts']}, "
                f"several files {check['several_files']}"
            )
        found = set(lake.partition_files(strategy.table))
        extra = sorted(found - {f"event_date={d}" for d in dates})
        if extra:
            problems.append(f"unexpected partitions in {strategy.table}: {extra}")
        return problems

    def run(self) -> Results:
        cfg = self.config
        started = _now()
        machine = machine_info()
        parallelism = ensure_capacity(EXECUTOR_HEADROOM * cfg.max_parallelism)
        plan = cfg.plan()
        names = list(dict.fromkeys(t["strategy"] for t in plan))
        samples = measure_partition(cfg.rows, cfg.latency_s)
        self.t_partition = statistics.median(samples)
        from tqdm.std import tqdm

        if cfg.warmup:
            self.warm_up([n for n in names if STRATEGIES[n].setup_cost], workers=parallelism)

        rows, timelines = [], []
        self.bar = tqdm(
            total=len(plan), disable=not self.progress, mininterval=5, file=sys.stderr, unit="trial"
        )
        try:
            for item in plan:
                what = f"{item['phase']} {item['strategy']} repeat {item['repeat'] + 1}"
                self.bar.set_description(f"{what}/{cfg.repeats} P={item['parallelism']}")
                row, tis = self.trial(item["strategy"], item["parallelism"], item["repeat"], item["phase"])
                rows.append(row)
                timelines.append(tis)
                outcome = "verified" if row["verified"] else f"NOT VERIFIED: {row['problems']}"
                if self.progress:
                    self.bar.write(
                        f"{item['phase']:7} {item['strategy']:28} repeat {item['repeat'] + 1} "
                        f"P={item['parallelism']:<3} makespan {row.get('makespan_s', float('nan')):7.2f} s  {outcome}",
                        file=sys.stderr,
                    )
                self.bar.update(1)
        finally:
            self.bar.close()
            self.bar = None
        return Results(
            config=cfg,
            trials=pd.DataFrame(rows),
            timelines=pd.concat(timelines, ignore_index=True),
            t_partition=self.t_partition,
            t_partition_samples=samples,
            machine={**machine, "load_average_end": [round(x, 2) for x in os.getloadavg()]},
            versions=software_versions(),
            airflow={"executor": "LocalExecutor", "parallelism": airflow_parallelism(), "pool": POOL},
            started_at=started.isoformat(),
            finished_at=_now().isoformat(),
        )


def _labels(tis: pd.DataFrame, runs: pd.DataFrame, strategy: Strategy) -> list[str]:
    """What each task instance worked on: its partition or chunk (colour and text in a Gantt chart)."""
    by_run = {}
    for run in runs.itertuples():
        key = getattr(run, "partition_key", None)
        logical = getattr(run, "logical_date", None)
        by_run[run.dag_run_id] = (
            key if isinstance(key, str) and key else (str(logical)[:10] if logical else None)
        )
    labels = []
    for row in tis.itertuples():
        if isinstance(row.rendered_map_index, str) and row.rendered_map_index:
            labels.append(row.rendered_map_index.replace("Partition: ", "").replace("Chunk: ", ""))
        elif strategy.launch == "backfill" and by_run.get(row.dag_run_id):
            labels.append(by_run[row.dag_run_id])
        elif strategy.name == "sequential_loop":
            labels.append("all partitions")
        else:
            labels.append(row.task_id)
    return labels


@dataclass
class Results:
    config: BenchConfig
    trials: pd.DataFrame
    timelines: pd.DataFrame
    t_partition: float
    t_partition_samples: list[float]
    machine: dict
    versions: dict
    airflow: dict
    started_at: str
    finished_at: str

    @property
    def compared(self) -> pd.DataFrame:
        return self.trials[self.trials["phase"] == "compare"]

    @property
    def summary(self) -> pd.DataFrame:
        return metrics.summarize(self.compared)

    @property
    def sweep(self) -> pd.DataFrame:
        if not self.config.sweep:
            return pd.DataFrame()
        t = self.trials
        at_levels = t[t["parallelism"].isin(self.config.sweep) | (t["strategy"] == metrics.BASELINE)]
        return metrics.sweep_summary(at_levels, self.config.sweep_strategies)

    @property
    def verification(self) -> pd.DataFrame:
        """Per strategy: how many trials ran and whether every one of them verified."""
        table = self.trials.groupby(["strategy", "phase"], sort=False).agg(
            trials=("verified", "size"),
            verified=("verified", "all"),
            partitions=("partitions", "first"),
            rows_per_partition=("rows", "first"),
        )
        return table.reset_index()

    def timeline(self, strategy: str, repeat: int = 0, phase: str = "compare") -> pd.DataFrame:
        t = self.timelines
        return t[(t["strategy"] == strategy) & (t["repeat"] == repeat) & (t["phase"] == phase)]

    def headline(self) -> dict:
        """The lab's claim in numbers: dynamic_mapping against the loop and the backfill."""
        s = self.summary.set_index("strategy")
        if "dynamic_mapping" not in s.index:
            return {}
        row = s.loc["dynamic_mapping"]
        return {
            "partitions": self.config.partitions,
            "parallelism": self.config.parallelism,
            "latency_s": self.config.latency_s,
            "rows": self.config.rows,
            "speedup_vs_sequential": row.get("speedup_vs_sequential"),
            "speedup_vs_backfill": row.get("speedup_vs_backfill"),
            "efficiency": row.get("efficiency"),
        }

    def headline_text(self) -> str:
        """The headline as a sentence ('' when dynamic_mapping was not measured)."""
        h = self.headline()
        if not h:
            return ""
        return (
            f"At N={h['partitions']}, P={h['parallelism']}, latency_s={h['latency_s']:g}, rows={h['rows']}: "
            f"dynamic_mapping ran {metrics.relative_speed(h['speedup_vs_sequential'], 'sequential_loop')} and "
            f"{metrics.relative_speed(h['speedup_vs_backfill'], 'catchup_backfill')}, "
            f"at {h['efficiency']:.0%} of the physical limit ceil(N/P) x t_partition."
        )

    def to_json(self) -> dict:
        def records(df: pd.DataFrame) -> list[dict]:
            return json.loads(df.to_json(orient="records")) if len(df) else []

        return {
            "parameters": asdict(self.config),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "machine": self.machine,
            "versions": self.versions,
            "airflow": self.airflow,
            "t_partition_s": self.t_partition,
            "t_partition_samples_s": self.t_partition_samples,
            "headline": json.loads(json.dumps(self.headline(), default=float)),
            "summary": records(self.summary),
            "sweep": records(self.sweep),
            "trials": records(self.trials),
        }

    def save(self, out_dir: str | Path, figures: dict | None = None) -> list[Path]:
        """Write results.csv (one row per trial), timelines.csv, results.json and the figures as PNG."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "results.csv", out / "timelines.csv", out / "summary.csv", out / "results.json"]
        self.trials.to_csv(written[0], index=False)
        self.timelines.to_csv(written[1], index=False)
        self.summary.to_csv(written[2], index=False)
        written[3].write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
        for name, fig in (figures or {}).items():
            path = out / f"{name}.png"
            fig.savefig(path, dpi=120, bbox_inches="tight")
            written.append(path)
        return written


def run(config: BenchConfig, client: Airflow | None = None, progress: bool = True) -> Results:
    """Run the whole benchmark (warm-up, comparison, sweep) and return its results."""
    return Runner(config, client, progress=progress).run()


def load(out_dir: str | Path) -> tuple[dict, pd.DataFrame]:
    """A saved benchmark: (results.json as a dict, the trials of results.csv)."""
    out = Path(out_dir)
    return json.loads((out / "results.json").read_text()), pd.read_csv(out / "results.csv")
