"""Run the strategy benchmark on the local Airflow: the trial loop.

    from lab.bench.config import BenchConfig
    from lab.bench.runner import run
    results = run(BenchConfig(partitions=16, events_per_partition=10_000, latency_s=2, parallelism=8))

Every trial: set the pool `lab_bench` to P slots, delete the strategy's lake table and its
earlier runs, note the time, start the strategy through the REST API (a manual run, or a
backfill with max_active_runs = P, as its `Strategy.launch` says), wait until every run has
finished, then read the task instances (queued / start / end) and each task's own report of
the seconds it spent inside `write_partition` (its XCom), and verify the outcome
(`lab.bench.verify`). From the request that starts it until its runs have finished, a trial's
CPU seconds are read per part of the local Airflow (`lab.bench.cpu`; an Airflow this lab did
not start is not measured): they give the CPU bound next to the wave bound. A trial that
fails any check is kept in the results but left out of every timing. The runner reads each strategy's fields, never its name.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import pandas as pd

from lab import lake
from lab.bench import cpu, metrics, overhead, probes, verify
from lab.bench.config import BenchConfig
from lab.bench.results import Results
from lab.bench.strategies import HEADLINE, STRATEGIES, Launch, Strategy
from lab.bench.workload import POOL, WINDOW_START
from lab.client import TERMINAL_RUN_STATES, Airflow, AirflowError
from lab.config import settings


class BenchError(RuntimeError):
    """The benchmark could not run as asked; the message says why."""


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

    def cpu_probe(self) -> cpu.CpuProbe | None:
        """The CPU probe of the managed local Airflow (found before each trial: it may restart)."""
        cfg = settings()
        return cpu.CpuProbe.for_home(cfg.airflow_home) if cfg.is_managed else None

    # ---------------------------------------------------------------- Airflow, through lab.client

    def set_pool(self, slots: int) -> None:
        """Size the pool every benchmark task runs in: P slots = at most P tasks at once."""
        self.af.set_pool(
            POOL,
            slots,
            description="lab.bench: the benchmark's concurrency cap P (resized before each trial)",
        )

    def delete_runs(self, dag_id: str) -> None:
        for run_id in self.af.runs(dag_id).get("dag_run_id", []):
            self.af.delete_run(dag_id, run_id)

    def finish_backfills(self, dag_id: str, timeout: float = 60.0) -> None:
        """Wait until no backfill of `dag_id` is active (a DAG has at most one at a time).

        One whose runs have all finished is completed right away rather than at the scheduler's
        next check (every 30 s), so that the next trial can create its own.
        """
        deadline = time.monotonic() + timeout
        while True:
            active = [b for b in self.af.backfills(dag_id) if b.get("completed_at") is None]
            if not active:
                return
            runs = self.af.runs(dag_id)
            if runs.empty or runs["state"].isin(TERMINAL_RUN_STATES).all():
                for backfill in active:
                    self.af.complete_backfill(backfill["id"])
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
        if strategy.launch is Launch.BACKFILL:
            self.finish_backfills(strategy.dag_id)

    def launch(
        self, strategy: Strategy, conf: dict, dates: list[str], parallelism: int, run_id: str
    ) -> pd.Timestamp:
        """Start the strategy; returns the trial's t0: when the request that started it was sent.

        A request the metadata database refused was rolled back and is sent again by the
        client; t0 is the start of the accepted one, so creating the run(s) counts, and waiting
        for a lock does not. A backfill goes through `Airflow.backfill`: its runs are created
        while the DAG is paused and released right after.
        """
        sent: list[pd.Timestamp] = []

        def mark() -> None:
            sent.append(_now())

        if strategy.launch is Launch.TRIGGER:
            self.af.trigger(strategy.dag_id, conf, run_id=run_id, unpause=False, on_send=mark)
        else:
            self.af.backfill(
                strategy.dag_id,
                dates[0],
                dates[-1],
                max_active_runs=parallelism,
                conf=conf,
                reprocess_behavior="none",
                on_send=mark,
            )
        return sent[-1]

    def wait(self, strategy: Strategy, expected_runs: int, timeout: float) -> pd.DataFrame:
        """Poll until `expected_runs` runs of the DAG exist and all have finished; return them."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.af.runs(strategy.dag_id)
            done = int(runs["state"].isin(TERMINAL_RUN_STATES).sum()) if len(runs) else 0
            if self.bar is not None and time.monotonic() - self._shown >= 5:  # a line every 5 s at most
                self.bar.set_postfix_str(f"runs {done}/{expected_runs} finished")
                self._shown = time.monotonic()
            if len(runs) >= expected_runs and done == len(runs):
                return runs
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{strategy.name}: {done}/{expected_runs} runs finished after {timeout:.0f} s "
                    f"(see {self.af.dag_url(strategy.dag_id)})"
                )
            time.sleep(self.poll)

    def task_reports(self, dag_id: str, tis: pd.DataFrame) -> list[dict | None]:
        """Each task instance's report (`workload.report`, its XCom), or None for other tasks."""
        reports = []
        for row in tis.itertuples():
            value = None
            if row.state == "success":
                try:
                    value = self.af.xcom(
                        dag_id, row.dag_run_id, row.task_id, map_index=int(row.map_index), deserialize=True
                    )
                except AirflowError as exc:
                    if exc.status_code != 404:  # a task that returned nothing has no entry
                        raise
            reports.append(value if isinstance(value, dict) and "work_s" in value else None)
        return reports

    def collect(
        self, strategy: Strategy, dates: list[str], runs: pd.DataFrame
    ) -> tuple[pd.DataFrame, list[dict | None]]:
        """A finished trial's task instances (Airflow's timeline), each with what its task
        reported (`work_s`, when its process started, entered and left the function) and a
        label; and the reports themselves."""
        tis = self.af.task_instances(strategy.dag_id)
        tis = tis[tis["dag_run_id"].isin(runs["dag_run_id"])].reset_index(drop=True)
        reports = self.task_reports(strategy.dag_id, tis)
        tis = overhead.add_reports(tis, reports)  # work_s and the task's own clock (lab.bench.overhead)
        tis["label"] = verify.labels(strategy, dates, runs, tis, reports)
        return tis, reports

    # ---------------------------------------------------------------- trials

    def timeout_s(self, strategy: Strategy, partitions: int, parallelism: int) -> float:
        """How long a trial may take before the runner gives up: generous, per wave of P tasks."""
        cfg = self.config
        per_wave = 120 + cfg.latency_s + cfg.events_per_partition / 20_000
        return 300 + per_wave * math.ceil(partitions / parallelism) * strategy.timeout_factor

    def trial(
        self, strategy_name: str, parallelism: int, repeat: int, phase: str, dates: list[str] | None = None
    ) -> tuple[dict, pd.DataFrame]:
        """Run one trial; returns (a row of results, the trial's task instances)."""
        cfg = self.config
        strategy = STRATEGIES[strategy_name]
        dates = dates or cfg.dates
        if self.t_partition is None:
            self.t_partition = statistics.median(
                probes.measure_partition(cfg.events_per_partition, cfg.latency_s)
            )
        self.prepare_dag(strategy)
        self.set_pool(parallelism)
        self.delete_runs(strategy.dag_id)
        lake.delete_table(strategy.table)
        run_id = f"bench__{phase}__r{repeat}__p{parallelism}__{_now().strftime('%Y%m%dT%H%M%S%f')}"

        probe = self.cpu_probe()
        before = probe.snapshot() if probe else None
        t0 = self.launch(strategy, cfg.conf(strategy, dates), dates, parallelism, run_id)
        launch_s = (_now() - t0).total_seconds()
        runs = self.wait(
            strategy, strategy.launch.runs_for(len(dates)), self.timeout_s(strategy, len(dates), parallelism)
        )
        used = probe.used(before, probe.snapshot()) if probe else {}
        cpu_window_s = (_now() - t0).total_seconds()
        if strategy.launch is Launch.BACKFILL:
            self.finish_backfills(strategy.dag_id)

        tis, reports = self.collect(strategy, dates, runs)
        problems = verify.problems(strategy, dates, cfg.events_per_partition, runs, tis, reports)

        row = {
            "phase": phase,
            "strategy": strategy.name,
            "repeat": repeat,
            "parallelism": parallelism,
            "partitions": len(dates),
            "events_per_partition": cfg.events_per_partition,
            "latency_s": cfg.latency_s,
            "chunk_size": cfg.chunk_size,
            "dag_id": strategy.dag_id,
            "runs": len(runs),
            "triggered_at": t0.isoformat(),
            "launch_s": round(launch_s, 3),
            "verified": not problems,
            "problems": "; ".join(problems),
            "cores": cpu.cores(),
            "cpu_window_s": round(cpu_window_s, 3) if used else float("nan"),
            **{f"cpu_{part.replace('-', '_')}_s": used.get(part, float("nan")) for part in cpu.PARTS},
        }
        if tis.dropna(subset=["start_date", "end_date"]).empty:
            row.update(makespan_s=float("nan"), verified=False)
        else:
            cpu_s = cpu.airflow_cpu_s(used) if used else None
            row.update(
                metrics.trial_metrics(
                    tis, t0, len(dates), parallelism, self.t_partition, cpu_s, cpu.cores(), cpu_window_s
                )
            )
        tis.insert(0, "trial", f"{phase}/{strategy.name}/r{repeat}/p{parallelism}")
        for key in ("phase", "strategy", "repeat", "parallelism"):
            tis[key] = row[key]
        tis["triggered_at"] = t0
        return row, tis

    def warm_up(self, names: list[str], workers: int, timeout: float = 600.0) -> None:
        """Untimed runs, all at once, of what would otherwise make the first timed trials slower.

        - each LocalExecutor worker process imports Airflow's task supervisor when it runs its
          first task, and keeps it: one mapped run with a task for each of the `workers`
          workers, overlapping (each waits a second), gives every worker its first task;
        - a strategy with a slow setup (the cached virtualenv is built by the first task that
          needs it, and uv downloads duckdb once per machine): one run of one partition each.
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
            conf = {"events_per_partition": 10, "latency_s": 1.0, "start_date": days[0], "end_date": days[-1]}
            launches.append((STRATEGIES[HEADLINE], conf, days))
        for strategy, conf, days in launches:
            self.prepare_dag(strategy)
            self.delete_runs(strategy.dag_id)
            run_id = f"bench__warmup__{_now().strftime('%Y%m%dT%H%M%S%f')}"
            self.launch(strategy, conf, days, 1, run_id)
        for strategy, _, days in launches:
            runs = self.wait(strategy, strategy.launch.runs_for(len(days)), timeout)
            if not (runs["state"] == "success").all():
                raise BenchError(
                    f"the warm-up run of {strategy.name} failed: see {self.af.dag_url(strategy.dag_id)}"
                )
            lake.delete_table(strategy.table)

    def run(self) -> Results:
        cfg = self.config
        started = _now()
        machine = probes.machine_info()
        parallelism = probes.ensure_capacity(probes.EXECUTOR_HEADROOM * cfg.max_parallelism)
        plan = cfg.plan()
        names = list(dict.fromkeys(t["strategy"] for t in plan))
        samples = probes.measure_partition(cfg.events_per_partition, cfg.latency_s)
        self.t_partition = statistics.median(samples)
        from tqdm.std import tqdm

        if cfg.warmup:
            self.warm_up([n for n in names if STRATEGIES[n].slow_setup], workers=parallelism)

        records, timelines = [], []
        self.bar = tqdm(
            total=len(plan), disable=not self.progress, mininterval=5, file=sys.stderr, unit="trial"
        )
        try:
            for item in plan:
                what = f"{item['phase']} {item['strategy']} repeat {item['repeat'] + 1}"
                self.bar.set_description(f"{what}/{cfg.repeats} P={item['parallelism']}")
                row, tis = self.trial(item["strategy"], item["parallelism"], item["repeat"], item["phase"])
                records.append(row)
                timelines.append(tis)
                outcome = "verified" if row["verified"] else f"NOT VERIFIED: {row['problems']}"
                if self.progress:
                    self.bar.write(
                        f"{item['phase']:7} {item['strategy']:28} repeat {item['repeat'] + 1} "
                        f"P={item['parallelism']:<3} makespan {row.get('makespan_s', float('nan')):7.2f} s  "
                        f"{outcome}",
                        file=sys.stderr,
                    )
                self.bar.update(1)
        finally:
            self.bar.close()
            self.bar = None
        return Results(
            config=cfg,
            trials=pd.DataFrame(records),
            timelines=pd.concat(timelines, ignore_index=True),
            t_partition=self.t_partition,
            t_partition_samples=samples,
            machine={**machine, "load_average_end": [round(x, 2) for x in os.getloadavg()]},
            versions=probes.software_versions(),
            airflow={"executor": "LocalExecutor", "parallelism": probes.airflow_parallelism(), "pool": POOL},
            started_at=started.isoformat(),
            finished_at=_now().isoformat(),
        )


def run(config: BenchConfig, client: Airflow | None = None, progress: bool = True) -> Results:
    """Run the whole benchmark (warm-up, comparison, sweep) and return its results."""
    return Runner(config, client, progress=progress).run()
