"""`lab bench calibrate`: measure what this machine's Airflow costs, for the model (`lab.bench.model`).

A short fixed set of trials on the local Airflow, each repeated REPEATS times in rotating order,
all with no work to speak of (1 event, latency 0: what is left is orchestration):

    dynamic_mapping   N=8, P=1    a run's start, the planning task, the expansion, each task's
                                  wall cost, the scheduler pass between two tasks
    catchup_backfill  N=8, P=1    run creation, the backfill's start, a run's task, the gap
                                  between one run's task and the next
    dynamic_mapping   N=1, P=1,   Airflow's CPU while a run waits on its task (few tasks, many
                      latency 2   seconds): with the first, CPU = per task x instances + active
                                  cores x seconds, fitted by least squares
    dynamic_mapping   N=16, P=8   not fitted: the model's own check at P > 1 (contention)

plus one partition's write in-process at two row counts (the work's CPU part) and the idle
Airflow's CPU over a few seconds (for comparison). The executor's hand-off and the workers'
share of per-task CPU come from the saved mapping trials (`executor_terms`), also for older
calibrations, when they are loaded. Every fitted value is the median over the
repeats; the overheads land in data/benchmarks/calibration-<UTC time>.json, and LATEST names
the newest. At most 3 minutes on a 2-core machine, an Airflow start included.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from lab.bench import model, overhead, probes
from lab.bench.config import BenchConfig
from lab.bench.cpu import cores as machine_cores
from lab.bench.runner import Runner, _now

LATEST = "calibration-latest.json"  # {"calibration": "<file name>"}, next to the calibrations
REPEATS = 3
# (strategy, N, P, latency_s); events_per_partition is 1 throughout
MAPPING = ("dynamic_mapping", 8, 1, 0.0)
BACKFILL = ("catchup_backfill", 8, 1, 0.0)
WAITING = ("dynamic_mapping", 1, 1, 2.0)
CHECK = ("dynamic_mapping", 16, 8, 0.0)
WRITE_ROWS = (1, 50_000)  # the write's cost at two row counts: fixed part and slope
IDLE_WINDOW_S = 5.0


class CalibrationError(RuntimeError):
    """No calibration to predict from, or one that cannot be read; the message says what to run."""


# ---------------------------------------------------------------- fits (pure: a trial's records in, seconds out)


def _mapped(tis: pd.DataFrame) -> pd.DataFrame:
    return tis.dropna(subset=["entered_at"])


def _task_wall(tis: pd.DataFrame) -> float:
    """Mean queued -> ended minus the work the task reported: its orchestration, uncontended.

    Means, not medians, for what the model adds up along a chain: a makespan is a sum, and the
    occasional slow hand-off (a skewed tail) is part of it."""
    held = (tis["end_date"] - tis["queued_when"]).dt.total_seconds() - pd.to_numeric(tis["work_s"])
    return float(held.mean())


def fit_mapping(tis: pd.DataFrame, t0: pd.Timestamp) -> dict:
    """The mapping trial at P = 1 (decomposed by `lab.bench.overhead`) -> its Overheads fields."""
    mapped = _mapped(tis)
    planned = tis[tis["entered_at"].isna()]
    if planned.empty or mapped.empty:
        raise CalibrationError("the mapping trial has no planning task or no mapped instance")
    plan = planned.sort_values("end_date").iloc[-1]
    return {
        "trigger_s": (plan["queued_when"] - t0).total_seconds(),
        "plan_s": (plan["end_date"] - plan["queued_when"]).total_seconds(),
        "expand_s": (mapped["queued_when"].min() - plan["end_date"]).total_seconds(),
        "task_wall_s": _task_wall(mapped),
        "slot_gap_s": float(mapped["slot_gap_s"].mean()),
    }


def fit_backfill(tis: pd.DataFrame, t0: pd.Timestamp, answered_at: pd.Timestamp) -> dict:
    """The backfill trial at P = 1 (one task per run, decomposed) -> its Overheads fields but CPU.

    `answered_at`: when the backfill request (runs created while the DAG is paused) and the
    unpause after it were done: from then on the scheduler may start the runs."""
    ran = _mapped(tis)
    if ran.empty:
        raise CalibrationError("the backfill trial has no task that reported its work")
    return {
        "run_create_s": (answered_at - t0).total_seconds() / len(ran),
        "backfill_start_s": (ran["queued_when"].min() - answered_at).total_seconds(),
        "run_task_wall_s": _task_wall(ran),
        "run_gap_s": float(ran["slot_gap_s"].mean()),
    }


def fit_cpu(samples: list[tuple[int, float, float]]) -> dict:
    """(instances, seconds, CPU seconds) of trials -> CPU per task instance and while active, in cores.

    Airflow's CPU over a trial is a cost per task instance (fork, DAG re-parse, API calls, the
    scheduler's work for it) plus a rate while a run is in progress (the scheduler's loop, the
    supervisors' heartbeats); least squares over trials that mix the two differently.
    """
    import numpy as np

    if len({round(n / wall, 3) for n, wall, _ in samples}) < 2:
        raise CalibrationError("the CPU fit needs trials with different instances per second")
    a = np.array([[n, wall] for n, wall, _ in samples], dtype=float)
    b = np.array([cpu for _, _, cpu in samples], dtype=float)
    (per_task, active), *_ = np.linalg.lstsq(a, b, rcond=None)
    return {"task_cpu_s": max(float(per_task), 0.0), "active_cores": max(float(active), 0.0)}


def run_cpu(samples: list[tuple[int, float, float]], active_cores: float) -> float:
    """CPU per backfilled run (its bookkeeping and its task): the trial's CPU less the active rate."""
    return statistics.median(max(cpu - active_cores * wall, 0.0) / n for n, wall, cpu in samples)


def fit_write(small: list[float], large: list[float], rows: tuple[int, int] = WRITE_ROWS) -> dict:
    """One partition's write at two row counts (seconds, in-process) -> fixed part and per-row slope."""
    low, high = statistics.median(small), statistics.median(large)
    per_row = max(high - low, 0.0) / (rows[1] - rows[0])
    return {"write_s": max(low - per_row * rows[0], 0.0), "write_per_row_s": per_row}


def executor_terms(trials: list[dict], active_cores: float, point: tuple = MAPPING) -> dict:
    """The executor's hand-off and the worker's share of per-task CPU, from the saved rows of the
    mapping trials (a calibration's `trials`): medians over the repeats; {} when none has them."""
    from lab.bench.cpu import AIRFLOW_PARTS

    strategy, n, p, latency = point
    rows = [
        t
        for t in trials
        if (t.get("strategy"), t.get("partitions"), t.get("parallelism"), t.get("latency_s"))
        == (strategy, n, p, latency)
    ]
    handoff = [t["queue_wait_mean_s"] for t in rows if _number(t.get("queue_wait_mean_s"))]
    shares = []
    for t in rows:
        parts = [t.get(f"cpu_{part.replace('-', '_')}_s") for part in AIRFLOW_PARTS]
        if not all(_number(v) for v in parts) or not _number(t.get("cpu_window_s")):
            continue
        per_task = sum(parts) - active_cores * t["cpu_window_s"]  # Airflow's CPU for the tasks
        if per_task > 0:
            shares.append(min((t["cpu_tasks_s"] + t["cpu_executor_s"]) / per_task, 1.0))
    terms = {}
    if handoff:
        terms["handoff_s"] = round(statistics.median(handoff), 4)
    if shares:
        terms["worker_cpu_share"] = round(statistics.median(shares), 3)
    return terms


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def combine(samples: list[dict]) -> dict:
    """The median of each fitted value over the repeats."""
    return {key: round(statistics.median(s[key] for s in samples), 4) for key in samples[0]}


# ---------------------------------------------------------------- files


def bench_dir() -> Path:
    from lab.config import settings

    return settings().data_dir / "benchmarks"


def latest(where: Path | None = None) -> Path:
    """The calibration to predict from: a file as given, or the one LATEST names in a folder."""
    where = where or bench_dir()
    if where.is_file():
        return where
    pointer = where / LATEST
    if not pointer.exists():
        raise CalibrationError(
            f"no calibration in {where}: run `lab bench calibrate` first (about 3 minutes on the local Airflow)"
        )
    path = where / json.loads(pointer.read_text())["calibration"]
    if not path.exists():
        raise CalibrationError(f"{pointer} names {path.name}, which is gone: run `lab bench calibrate` again")
    return path


def load(where: Path | None = None) -> tuple[dict, model.Overheads]:
    """(the calibration's JSON, its Overheads)."""
    path = latest(where)
    try:
        saved = json.loads(path.read_text())
        # Calibrations older than these terms saved the trials they come from.
        derived = executor_terms(saved.get("trials", []), saved["overheads"].get("active_cores", 0.0))
        return saved, model.Overheads.from_dict({**derived, **saved["overheads"]})
    except (ValueError, KeyError, TypeError) as exc:
        raise CalibrationError(
            f"{path} is not a calibration ({exc}): run `lab bench calibrate` again"
        ) from None


def save(calibration: dict, where: Path | None = None) -> Path:
    where = where or bench_dir()
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"calibration-{calibration['created_at']}.json"
    path.write_text(json.dumps(calibration, indent=2, default=str) + "\n")
    (where / LATEST).write_text(json.dumps({"calibration": path.name}) + "\n")
    return path


# ---------------------------------------------------------------- the trials on the local Airflow


class MeasuringRunner(Runner):
    """A Runner that also notes when the start request was answered and Airflow's CPU over each trial
    (every lab process, with the task processes its workers reaped), from launch to all runs done."""

    answered_at: pd.Timestamp | None = None
    cpu_s = wall_s = 0.0

    def _cpu(self) -> dict:
        from lab import airflow_local, footprint
        from lab.config import settings

        return footprint.cpu_seconds(airflow_local.lab_processes(settings().airflow_home))

    def launch(self, *args, **kwargs):
        self._before, self._started = self._cpu(), time.monotonic()
        t0 = super().launch(*args, **kwargs)
        self.answered_at = _now()
        return t0

    def wait(self, *args, **kwargs):
        runs = super().wait(*args, **kwargs)
        from lab import footprint

        self.cpu_s = footprint.cpu_used_between(self._before, self._cpu())
        self.wall_s = time.monotonic() - self._started
        return runs

    def measured(self, strategy: str, partitions: int, parallelism: int, latency_s: float, repeat: int):
        """One verified trial of 1 event per partition: (its row, its decomposed task instances)."""
        self.config = replace(
            self.config, partitions=partitions, parallelism=parallelism, latency_s=latency_s
        )
        row, tis = self.trial(strategy, parallelism, repeat, "calibrate")
        if not row["verified"]:
            raise CalibrationError(f"a calibration trial of {strategy} failed its checks: {row['problems']}")
        return row, overhead.decompose(tis)


def scheduler_env() -> dict[str, str]:
    """The running local scheduler's environment (its profile and options), or {} when unreadable."""
    import psutil

    from lab import airflow_local
    from lab.config import settings

    inst = airflow_local.Instance.load(settings().airflow_home)
    pid = inst.pids.get("scheduler") if inst else None
    try:
        return psutil.Process(pid).environ() if pid else {}
    except psutil.Error:
        return {}


def scheduler_option(env: dict[str, str], section: str, key: str, default: str) -> str:
    """An Airflow option as the scheduler's environment sets it, or Airflow's default."""
    return env.get(f"AIRFLOW__{section.upper()}__{key.upper()}", default)


def calibrate(progress: bool = True) -> dict:
    """Run the calibration trials on the local Airflow (up and sized already); returns the calibration."""
    from lab import airflow_local, footprint, profiles
    from lab.config import settings

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    started = time.monotonic()
    workers = probes.ensure_capacity(probes.EXECUTOR_HEADROOM * CHECK[2])  # as `lab bench` sizes it
    home = settings().airflow_home
    env = scheduler_env()
    config = BenchConfig(partitions=8, events_per_partition=1, latency_s=0.0, parallelism=1)
    runner = MeasuringRunner(config, progress=False)
    runner.t_partition = 0.0  # no work: the wave bound is 0, efficiency is not the point here
    runner.warm_up([], workers=workers)
    idle_cores = footprint.cpu_percent(lambda: airflow_local.lab_processes(home), IDLE_WINDOW_S) / 100
    say(f"idle Airflow: {idle_cores:.2f} cores; one partition's write at {WRITE_ROWS} rows; then the trials")
    write = fit_write(probes.measure_partition(WRITE_ROWS[0], 0), probes.measure_partition(WRITE_ROWS[1], 0))

    fitted: dict[str, list[dict]] = {"mapping": [], "backfill": []}
    cpu: dict[str, list[tuple[int, float, float]]] = {"tasks": [], "runs": []}
    trials, checks = [], []
    order = [MAPPING, BACKFILL, WAITING, CHECK]
    for repeat in range(REPEATS):
        for point in order[repeat % len(order) :] + order[: repeat % len(order)]:
            strategy, n, p, latency = point
            row, tis = runner.measured(strategy, n, p, latency, repeat)
            t0 = pd.Timestamp(row["triggered_at"])
            sample = (len(tis), runner.wall_s, runner.cpu_s)
            if point == CHECK:
                checks.append(row["makespan_s"])
            elif point == BACKFILL:
                fitted["backfill"].append(fit_backfill(tis, t0, runner.answered_at))
                cpu["runs"].append(sample)
            else:
                if point == MAPPING:
                    fitted["mapping"].append(fit_mapping(tis, t0))
                cpu["tasks"].append(sample)
            trials.append(
                {**row, "airflow_cpu_s": round(runner.cpu_s, 3), "cpu_wall_s": round(runner.wall_s, 3)}
            )
            say(
                f"  {strategy:17} N={n:<3} P={p} latency {latency:g}  makespan {row['makespan_s']:6.2f} s  "
                f"Airflow CPU {runner.cpu_s:5.2f} s"
            )
    cpu_fit = fit_cpu(cpu["tasks"])
    overheads = {
        **combine(fitted["mapping"]),
        **combine(fitted["backfill"]),
        "task_cpu_s": round(cpu_fit["task_cpu_s"], 4),
        "active_cores": round(cpu_fit["active_cores"], 4),
        "run_cpu_s": round(run_cpu(cpu["runs"], cpu_fit["active_cores"]), 4),
        **{k: round(v, 7) for k, v in write.items()},
        "max_tis_per_query": int(scheduler_option(env, "scheduler", "max_tis_per_query", "16")),
    }
    overheads.update(executor_terms(trials, overheads["active_cores"]))
    cores = machine_cores()  # counted as the CPU bound of every benchmark trial counts them
    strategy, n, p, latency = CHECK
    predicted = model.makespan(strategy, n, p, latency, 1, 1, cores, model.Overheads.from_dict(overheads))
    return {
        "created_at": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "seconds": round(time.monotonic() - started, 1),
        "cores": cores,
        "profile": profiles.identify(env),
        "airflow": {
            "parallelism": workers,
            "scheduler_idle_sleep_time": scheduler_option(env, "scheduler", "scheduler_idle_sleep_time", "1"),
        },
        "machine": probes.machine_info(),
        "versions": probes.software_versions(),
        "overheads": overheads,
        "idle_cores": round(idle_cores, 3),
        "repeats": {**fitted, "cpu": cpu},
        "write_rows": list(WRITE_ROWS),
        "check": {
            "strategy": strategy,
            "partitions": n,
            "parallelism": p,
            "measured_s": checks,
            "predicted_s": round(predicted.makespan_s, 3),
        },
        "trials": trials,
    }
