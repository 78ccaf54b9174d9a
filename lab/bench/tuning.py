"""Choose the lab profile by measurement: candidate settings one at a time against Airflow's defaults.

    python -m lab.bench.tuning                                   every candidate, 5 rounds
    python -m lab.bench.tuning --variants default,lab --p1       the two profiles, also at P = 1
    python -m lab.bench.tuning --report data/benchmarks/tuning-<time>   the tables of a saved run

Every variant is the `default` profile (`lab.profiles`) plus one change. A round starts the
local Airflow once per variant (a fresh start: settings apply at start), gives every executor
worker its first task (untimed), runs the no-op trials (latency 0, 1 row: nothing but
orchestration), records the load average and Airflow's CPU seconds, and stops it. Rounds rotate
the variants' order (ABAB...), so a machine whose load drifts penalises none of them. Each trial
is `lab.bench.runner.Runner.trial` (verified like every benchmark trial) and its task instances
are taken apart by `lab.bench.overhead`. The references need no scheduler: the same partitions
written in-process, and the same DAG run by `dag.test()` (in-process, one task at a time).
Everything lands in data/benchmarks/tuning-<UTC time>/ (trials.csv, timelines.csv, tables.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from lab import airflow_local, footprint, profiles
from lab.bench import overhead
from lab.bench.references import dag_test_reference, inprocess_reference
from lab.bench.runner import BenchConfig, Runner
from lab.client import Airflow
from lab.config import REPO_ROOT, settings


def _default(**changes: str) -> dict[str, str]:
    env = profiles.profile_env("default")
    env.update({f"AIRFLOW__{k.replace('.', '__').upper()}": v for k, v in changes.items()})
    return env


_PRELOAD_PATH = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "lab" / "preload")])
# name -> (what changes against Airflow's defaults, the environment of that Airflow)
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "default": ("Airflow's defaults (the `default` profile)", _default()),
    "idle_sleep_0.1": (
        "[scheduler] scheduler_idle_sleep_time 0.1 (1)",
        _default(**{"scheduler.scheduler_idle_sleep_time": "0.1"}),
    ),
    "idle_sleep_0.25": (
        "[scheduler] scheduler_idle_sleep_time 0.25 (1)",
        _default(**{"scheduler.scheduler_idle_sleep_time": "0.25"}),
    ),
    "parse_every_600s": (
        "[dag_processor] min_file_process_interval 600 (30)",
        _default(**{"dag_processor.min_file_process_interval": "600"}),
    ),
    "one_parser": (
        "[dag_processor] parsing_processes 1 (2)",
        _default(**{"dag_processor.parsing_processes": "1"}),
    ),
    "refresh_5s": (
        "[dag_processor] refresh_interval 5 (300)",
        _default(**{"dag_processor.refresh_interval": "5"}),
    ),
    "tis_per_query_512": (
        "[scheduler] max_tis_per_query 512 (16)",
        _default(**{"scheduler.max_tis_per_query": "512"}),
    ),
    "heartbeat_1s": (
        "[scheduler] scheduler_heartbeat_sec 1 (5)",
        _default(**{"scheduler.scheduler_heartbeat_sec": "1"}),
    ),
    "api_workers_2": ("[api] workers 2 (1)", _default(**{"api.workers": "2"})),
    "min_heartbeat_1s": (
        "[workers] min_heartbeat_interval 1 (5): the supervisor notices a task's exit sooner",
        _default(**{"workers.min_heartbeat_interval": "1"}),
    ),
    "workers_1x": ("[core] parallelism = P (the lab runs 2 x P)", _default(**{"core.parallelism": "8"})),
    "preload_duckdb": (
        "DuckDB and lab.lake imported by the scheduler, so forked tasks have them (lab/preload)",
        {**_default(), "LAB_PRELOAD_MODULES": "duckdb,lab.lake", "PYTHONPATH": _PRELOAD_PATH},
    ),
    "lab": ("the `lab` profile", profiles.profile_env("lab")),
}
WORKERS_PER_SLOT = (
    2  # [core] parallelism = 2 x P, as `lab bench` runs it (lab.bench.runner.EXECUTOR_HEADROOM)
)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


class _RecordingRunner(Runner):
    """A Runner that keeps each trial's task reports (the timestamps `lab.bench.overhead` needs)."""

    last_reports: list = []

    def task_reports(self, dag_id, tis):
        self.last_reports = super().task_reports(dag_id, tis)
        return self.last_reports


def _trial(runner: _RecordingRunner, partitions: int, parallelism: int, label: dict, home: Path):
    """One verified no-op dynamic_mapping trial: (a summary row, its decomposed task instances)."""
    runner.config = replace(runner.config, partitions=partitions, parallelism=parallelism)
    load = os.getloadavg()[0]
    cpu_before = footprint.cpu_seconds(airflow_local.lab_processes(home))
    row, tis = runner.trial("dynamic_mapping", parallelism, label["round"], label["variant"])
    cpu = footprint.cpu_used_between(cpu_before, footprint.cpu_seconds(airflow_local.lab_processes(home)))
    tis = overhead.decompose(overhead.add_reports(tis, runner.last_reports))
    t0 = pd.Timestamp(row["triggered_at"])
    mapped = tis[tis["task_id"] == "process_partition"]
    row.update(label, load_1min=round(load, 2), airflow_cpu_s=round(cpu, 2))
    row["slot_overhead_per_task_s"] = round(overhead.slot_overhead_per_task(tis, t0, parallelism), 3)
    for phase in (*overhead.PHASES, "function_overhead_s", "forked_before_start_s"):
        row[f"median_{phase}"] = round(float(mapped[phase].median()), 3)
    plan = tis[tis["task_id"] == "plan"]
    if len(plan) and len(mapped):  # the run's map expanded: plan ended -> first mapped instance scheduled
        row["expansion_s"] = round(
            (mapped["scheduled_when"].min() - plan["end_date"].max()).total_seconds(), 3
        )
    tis = tis.assign(**label, partitions=partitions)
    return row, tis


def idle_usage(home: Path, window_s: float) -> dict:
    """CPU (% of one core, per component and in all) over `window_s` and PSS of an idle Airflow."""
    inst = airflow_local.Instance.load(home)
    component = {pid: name for name, pid in (inst.pids if inst else {}).items()}

    def by_component() -> dict[str, dict[int, float]]:
        groups: dict[str, dict[int, float]] = {}
        for pid, used in footprint.cpu_seconds(airflow_local.lab_processes(home)).items():
            try:
                name = component.get(os.getsid(pid), "other")
            except OSError:
                continue
            groups.setdefault(name, {})[pid] = used
        return groups

    before, started = by_component(), time.monotonic()
    time.sleep(window_s)
    after, elapsed = by_component(), time.monotonic() - started
    usage = {
        f"cpu_{name}_pct": round(100 * footprint.cpu_used_between(before.get(name, {}), used) / elapsed, 1)
        for name, used in after.items()
    }
    usage["cpu_pct"] = round(sum(usage.values()), 1)
    usage["pss_mib"] = round(airflow_local.memory_pss(airflow_local.lab_processes(home)) / 2**20, 1)
    return usage


def run_variant(name: str, round_no: int, sizes: list[tuple[int, int]], cfg=None, idle=None):
    """Start Airflow as variant `name`; measure it idle (`idle` = (settle s, window s)), warm it up,
    run one trial per (partitions, P), stop it. Returns (trial rows, timelines, the idle row or None)."""
    cfg = cfg or settings()
    _, env = VARIANTS[name]
    top = max([p for _, p in sizes] or [1])
    workers = int(env.get("AIRFLOW__CORE__PARALLELISM", WORKERS_PER_SLOT * top))
    run_cfg = replace(cfg, parallelism=workers)
    airflow_local.down(run_cfg, quiet=True)
    started = time.monotonic()
    airflow_local.up(run_cfg, extra_env=env, quiet=True, timeout=300)
    up_s = time.monotonic() - started
    label = {"variant": name, "round": round_no, "workers": workers, "up_s": round(up_s, 1)}
    rows, timelines, idle_row = [], [], None
    try:
        if idle:
            time.sleep(idle[0])
            idle_row = {**label, "load_1min": round(os.getloadavg()[0], 2), "window_s": idle[1]}
            idle_row.update(idle_usage(cfg.airflow_home, idle[1]))
            print(f"round {round_no} {name:18} idle: {idle_row}", flush=True)
        if sizes:
            config = BenchConfig(
                partitions=sizes[0][0], rows=1, latency_s=0, parallelism=top, strategies=["dynamic_mapping"]
            )
            runner = _RecordingRunner(config, Airflow(cfg=run_cfg), progress=False)
            runner.t_partition = 0.0  # the in-process reference is measured apart (references())
            runner.warm_up([], workers=workers)
        for partitions, parallelism in sizes:
            row, tis = _trial(runner, partitions, parallelism, label, cfg.airflow_home)
            rows.append(row)
            timelines.append(tis)
            print(
                f"round {round_no} {name:18} N={partitions:<3} P={parallelism:<2} makespan {row['makespan_s']:6.2f} s"
                f"  overhead/task {row['slot_overhead_per_task_s']:5.2f} s  load {row['load_1min']:.2f}"
                f"  {'verified' if row['verified'] else 'NOT VERIFIED: ' + row['problems']}",
                flush=True,
            )
    finally:
        airflow_local.down(run_cfg, quiet=True)
    return rows, timelines, idle_row


# ---------------------------------------------------------------- the tables


def _range(values: pd.Series, digits: int = 2) -> str:
    return f"{values.median():.{digits}f} ({values.min():.{digits}f}..{values.max():.{digits}f})"


def verdict(values: pd.Series, base: pd.Series) -> str:
    """Lower or higher than the baseline only when the two ranges (min..max) do not overlap."""
    if values.max() < base.min():
        return f"lower: {values.median() / base.median():.2f}x the default"
    if values.min() > base.max():
        return f"higher: {values.median() / base.median():.2f}x the default"
    return "no measurable difference"


def compare(
    rows: pd.DataFrame, metric: str, by: tuple[str, ...] = ("partitions", "parallelism")
) -> pd.DataFrame:
    """Per group and variant: median (min..max) of `metric`, and the verdict against `default`'s spread."""
    good = rows[rows["verified"]] if "verified" in rows else rows
    table = []
    for key, group in good.groupby(list(by), sort=True) if by else [((), good)]:
        base = group.loc[group["variant"] == "default", metric]
        for variant, runs in group.groupby("variant", sort=False):
            values = runs[metric]
            table.append(
                {
                    **dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                    "variant": variant,
                    "change": VARIANTS.get(variant, ("?",))[0],
                    "runs": len(values),
                    metric: _range(values),
                    "verdict": verdict(values, base) if variant != "default" and len(base) else "",
                    "load (1 min)": _range(runs["load_1min"]),
                }
            )
    return pd.DataFrame(table)


def phase_table(timelines: pd.DataFrame) -> pd.DataFrame:
    """Median seconds per phase of the mapped instances, per variant and size."""
    mapped = timelines[timelines["task_id"] == "process_partition"]
    columns = [*overhead.PHASES, "function_overhead_s"]
    return (
        mapped.groupby(["partitions", "parallelism", "variant"], sort=False)[columns]
        .median()
        .round(3)
        .reset_index()
    )


def report(out: Path) -> str:
    """The markdown tables of a saved run (trials, idle measurements, references: what it has)."""
    parts = []
    if (out / "trials.csv").exists():
        trials = pd.read_csv(out / "trials.csv")
        parts += [
            "Makespan, s (median, min..max over rounds):",
            compare(trials, "makespan_s").to_markdown(index=False),
            "",
            "Orchestration per task instance, s: (P x makespan - time in task functions) / instances:",
            compare(trials, "slot_overhead_per_task_s").to_markdown(index=False),
            "",
            "Median seconds per phase of the mapped instances (lab.bench.overhead):",
            phase_table(pd.read_csv(out / "timelines.csv")).to_markdown(index=False),
            "",
        ]
    if (out / "idle.csv").exists():
        idle = pd.read_csv(out / "idle.csv")
        components = [c for c in idle.columns if c.startswith("cpu_") and c != "cpu_pct"]
        per_component = idle.groupby("variant", sort=False)[[*components, "pss_mib", "up_s"]].median()
        parts += [
            "Idle Airflow, CPU % of one core (median, min..max over rounds):",
            compare(idle, "cpu_pct", by=()).to_markdown(index=False),
            "",
            "Idle Airflow per component (medians; PSS in MiB, up_s = start to healthy):",
            per_component.round(1).reset_index().to_markdown(index=False),
            "",
        ]
    if (out / "references.json").exists():
        references = pd.DataFrame(json.loads((out / "references.json").read_text()))
        parts += ["References (no scheduler):", references.to_markdown(index=False), ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench.tuning", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS)
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=32)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument(
        "--p1", type=int, default=0, metavar="N", help="also a trial of N partitions at P = 1"
    )
    parser.add_argument(
        "--references", action="store_true", help="also dag.test() and in-process, once per round"
    )
    parser.add_argument(
        "--idle", type=float, default=0, metavar="S", help="measure idle CPU over S s after start"
    )
    parser.add_argument(
        "--settle", type=float, default=45, metavar="S", help="wait S s after start before --idle"
    )
    parser.add_argument("--no-trials", action="store_true", help="only the idle measurement")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--report", type=Path, default=None, help="only print the tables of a saved run")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.report))
        return 0
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    cfg = settings()
    out = args.out or cfg.data_dir / "benchmarks" / f"tuning-{_stamp()}"
    out.mkdir(parents=True, exist_ok=True)
    sizes = (
        [] if args.no_trials else [(args.partitions, args.parallelism)] + ([(args.p1, 1)] if args.p1 else [])
    )
    idle = (args.settle, args.idle) if args.idle else None
    rows, timelines, references, idle_rows = [], [], [], []
    for round_no in range(args.rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            try:
                new_rows, new_tis, idle_row = run_variant(name, round_no, sizes, cfg, idle)
            except Exception as exc:  # a variant that breaks Airflow is a result too; the others go on
                print(f"round {round_no} {name}: FAILED: {exc}", flush=True)
                new_rows = [
                    {"variant": name, "round": round_no, "verified": False, "problems": str(exc)[:500]}
                ]
                new_tis, idle_row = [], None
            rows += new_rows
            timelines += new_tis
            idle_rows += [idle_row] if idle_row else []
            if idle_rows:
                pd.DataFrame(idle_rows).to_csv(out / "idle.csv", index=False)
            if sizes:
                pd.DataFrame(rows).to_csv(out / "trials.csv", index=False)
            if timelines:
                pd.concat(timelines, ignore_index=True).to_csv(out / "timelines.csv", index=False)
        if args.references:
            references.append({**dag_test_reference(args.partitions, cfg), "round": round_no})
            references.append({**inprocess_reference(args.partitions), "round": round_no})
            (out / "references.json").write_text(json.dumps(references, indent=2))
    (out / "tables.md").write_text(report(out) + "\n")
    print(f"\n{report(out)}\n\nsaved in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
