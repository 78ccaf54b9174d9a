"""Choose the lab profile by measurement: candidate settings one at a time against Airflow's defaults.

    python -m lab.bench.tuning                                   every candidate, 5 rounds
    python -m lab.bench.tuning --variants default,lab --p1       the two profiles, also at P = 1
    python -m lab.bench.tuning --report data/benchmarks/tuning-<time>   the tables of a saved run

Every variant is the `default` profile (`lab.profiles`) plus one change. A round starts the
local Airflow once per variant (a fresh start: settings apply at start), gives every executor
worker its first task (untimed), runs the no-op trials (latency 0, 1 event: nothing but
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
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from lab import airflow_local, footprint, profiles
from lab.bench import api_calls, metrics, overhead, probes
from lab.bench.config import BenchConfig
from lab.bench.cpu import idle_usage
from lab.bench.metrics import NO_DIFFERENCE, overlaps, spread
from lab.bench.references import BARE_WRITE, dag_test_reference, inprocess_reference
from lab.bench.responsiveness import api_latency, dag_file_latency
from lab.bench.runner import Runner
from lab.client import Airflow
from lab.config import settings


def _default(**changes: str) -> dict[str, str]:
    """The `default` profile's environment with Airflow options changed ("section.key": value)."""
    env = profiles.profile_env("default")
    env.update({f"AIRFLOW__{k.replace('.', '__').upper()}": v for k, v in changes.items()})
    return env


# One Airflow option each, changed from Airflow's default (the last column).
CANDIDATES = [
    ("idle_sleep_0.1", "scheduler.scheduler_idle_sleep_time", "0.1", "1"),
    ("idle_sleep_0.25", "scheduler.scheduler_idle_sleep_time", "0.25", "1"),
    ("tis_per_query_512", "scheduler.max_tis_per_query", "512", "16"),
    ("heartbeat_1s", "scheduler.scheduler_heartbeat_sec", "1", "5"),
    ("parse_every_600s", "dag_processor.min_file_process_interval", "600", "30"),
    ("refresh_5s", "dag_processor.refresh_interval", "5", "300"),
    ("one_parser", "dag_processor.parsing_processes", "1", "2"),
    ("api_workers_2", "api.workers", "2", "1"),
    ("min_heartbeat_1s", "workers.min_heartbeat_interval", "1", "5"),
    ("workers_1x", "core.parallelism", "8", "2 x P = 16, as lab bench runs it"),
]
# name -> (what changes against Airflow's defaults, the environment of that Airflow)
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "default": ("Airflow's defaults (the `default` profile)", _default()),
    **{
        name: (
            f"[{option.split('.')[0]}] {option.split('.')[1]} {value} ({was})",
            _default(**{option: value}),
        )
        for name, option, value, was in CANDIDATES
    },
    "preload_duckdb": (
        "the scheduler preloads duckdb and lab.lake for the tasks it forks (lab/airflow_site)",
        {**_default(), "LAB_PRELOAD_MODULES": "duckdb,lab.lake"},
    ),
    "preload_all": (
        "the scheduler preloads the `lab` profile's LAB_PRELOAD_MODULES (also the DAG-file machinery)",
        {**_default(), "LAB_PRELOAD_MODULES": profiles.profile_env("lab")["LAB_PRELOAD_MODULES"]},
    ),
    "lab": ("the `lab` profile", profiles.profile_env("lab")),
}
# Not candidates but an explanation: the same Airflows when no .pyc file is found or written, as on
# a machine with PYTHONDONTWRITEBYTECODE=1 and a venv installed without --compile-bytecode (Python
# then looks for bytecode only under the empty prefix, compiles every module it imports, keeps none).
WITHOUT_BYTECODE = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": "/nonexistent/lab-no-bytecode"}
EXPLANATIONS: dict[str, tuple[str, dict[str, str]]] = {
    "default_no_bytecode": (
        "Airflow's defaults, every module compiled from source (no .pyc)",
        {**_default(), **WITHOUT_BYTECODE},
    ),
    "lab_no_bytecode": (
        "the `lab` profile, every module compiled from source (no .pyc)",
        {**profiles.profile_env("lab"), **WITHOUT_BYTECODE},
    ),
}
KNOWN = {**VARIANTS, **EXPLANATIONS}  # what --variants accepts; its default is VARIANTS
WORKERS_PER_SLOT = probes.EXECUTOR_HEADROOM  # [core] parallelism = 2 x P, as `lab bench` runs it


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


class _RecordingRunner(Runner):
    """A Runner that keeps each trial's task reports (the timestamps `lab.bench.overhead` needs)."""

    last_reports: list = []

    def task_reports(self, dag_id, tis):
        self.last_reports = super().task_reports(dag_id, tis)
        return self.last_reports


def _trial(
    runner: _RecordingRunner, strategy: str, partitions: int, parallelism: int, label: dict, home: Path
):
    """One verified trial: (a summary row, its decomposed task instances)."""
    runner.config = replace(runner.config, partitions=partitions, parallelism=parallelism)
    load = os.getloadavg()[0]
    cpu_before = footprint.cpu_seconds(airflow_local.lab_processes(home))
    row, tis = runner.trial(strategy, parallelism, label["round"], label["variant"])
    cpu = footprint.cpu_used_between(cpu_before, footprint.cpu_seconds(airflow_local.lab_processes(home)))
    tis = overhead.decompose(overhead.add_reports(tis, runner.last_reports))
    t0 = pd.Timestamp(row["triggered_at"])
    worked = tis.dropna(subset=["entered_at"])  # the instances that did the work (not a planning task)
    row.update(label, load_1min=round(load, 2), airflow_cpu_s=round(cpu, 2))
    row["slot_overhead_per_task_s"] = round(overhead.slot_overhead_per_task(tis, t0, parallelism), 3)
    for phase in (*overhead.PHASES, "function_overhead_s", "forked_before_start_s"):
        row[f"median_{phase}"] = round(float(worked[phase].median()), 3)
    calls = api_calls.read_access_log(
        home / "lab-logs" / "api-server.log", since=t0, until=tis["end_date"].max()
    )
    execution = calls[calls["endpoint"].str.startswith("/execution/")]
    row["api_calls_per_ti"] = round(len(execution) / len(tis), 2)
    row["api_median_call_s"] = round(float(execution["seconds"].median()), 4) if len(execution) else None
    planned = tis[tis["entered_at"].isna()]
    if len(planned) and len(worked):  # a map expanded: its planning task ended -> first instance scheduled
        row["expansion_s"] = round(
            (worked["scheduled_when"].min() - planned["end_date"].max()).total_seconds(), 3
        )
    return row, tis.assign(**label, partitions=partitions)


def run_variant(
    name: str,
    round_no: int,
    trials: list,
    work: tuple = (1, 0.0, 0.0),
    cfg=None,
    idle=None,
    probe=0.0,
    *,
    chunk_size: int = 2,
    setup: tuple[str, ...] = (),
    clock: float | None = None,
):
    """Start Airflow as variant `name`; measure it idle (`idle` = (settle s, window s)), warm it up
    (also one untimed run of each strategy in `setup`), run one trial per (strategy, partitions, P)
    with `work` = (events_per_partition, latency_s, t_partition), stop it. `clock` (a
    time.monotonic()) adds the elapsed time to the progress lines. Returns (trial rows, timelines,
    the idle row or None)."""
    cfg = cfg or settings()
    _, env = KNOWN[name]
    top = max([p for _, _, p in trials] or [1])
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
            if probe:  # what participants rely on: the UI answers, saved DAG files show up
                af = Airflow(cfg=run_cfg)
                idle_row.update(api_latency(af))
                try:
                    idle_row.update(dag_file_latency(af, cfg.dags_dir, timeout=probe))
                except TimeoutError as exc:
                    idle_row["dag_file_latency"] = str(exc)
            print(f"round {round_no} {name:18} idle: {idle_row}", flush=True)
        if trials:
            config = BenchConfig(
                partitions=trials[0][1],
                events_per_partition=work[0],
                latency_s=work[1],
                parallelism=top,
                chunk_size=chunk_size,
            )
            runner = _RecordingRunner(config, Airflow(cfg=run_cfg), progress=False)
            runner.t_partition = work[2]  # measured once, in-process, by the caller
            runner.warm_up(list(setup), workers=workers)
        shift = round_no % max(len(trials), 1)  # the order of the trials rotates from round to round
        for strategy, partitions, parallelism in trials[shift:] + trials[:shift]:
            row, tis = _trial(runner, strategy, partitions, parallelism, label, cfg.airflow_home)
            rows.append(row)
            timelines.append(tis)
            elapsed = f"[{time.monotonic() - clock:6.0f} s] " if clock is not None else ""
            print(
                f"{elapsed}round {round_no} {name:18} {strategy:16} N={partitions:<3} P={parallelism:<2} "
                f"makespan {row['makespan_s']:6.2f} s  overhead/task {row['overhead_per_task_s']:5.2f} s  "
                f"load {row['load_1min']:.2f}  {'verified' if row['verified'] else 'NOT VERIFIED: ' + row['problems']}",
                flush=True,
            )
    finally:
        airflow_local.down(run_cfg, quiet=True)
    return rows, timelines, idle_row


# ---------------------------------------------------------------- the tables


def verdict(values: pd.Series, base: pd.Series) -> str:
    """Lower or higher than the baseline only when the two ranges (min..max) do not overlap."""
    if overlaps(values, base):
        return NO_DIFFERENCE
    direction = "lower" if values.median() < base.median() else "higher"
    return f"{direction}: {values.median() / base.median():.2f}x the default"


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
                    "change": KNOWN.get(variant, ("?",))[0],
                    "runs": len(values),
                    metric: spread(values, 2),
                    "verdict": verdict(values, base) if variant != "default" and len(base) else "",
                    "load (1 min)": spread(runs["load_1min"], 2),
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


def floors(trials: pd.DataFrame, references: pd.DataFrame) -> pd.DataFrame:
    """Wall seconds per no-op task instance, one at a time, from the bare write up to the running Airflow.

    Each rung adds one layer: `dag.test()` adds Airflow's task machinery (no scheduler, executor,
    fork or HTTP), the P = 1 trials the scheduler, the executor's fork and the Execution API. The
    references ran at the P = 1 trial's size, so the same instances are divided by.
    """
    rungs = sorted(  # the cheapest first: the bare write, then dag.test()
        [
            (reference, runs["per_task_s"], bool(runs["verified"].all()))
            for reference, runs in references.groupby("reference", sort=False)
        ],
        key=lambda rung: rung[1].median(),
    )
    one_at_a_time = trials[(trials["parallelism"] == 1) & trials["verified"]]
    for variant, runs in one_at_a_time.groupby("variant", sort=False):
        label = f"running Airflow, P = 1, {KNOWN.get(variant, (variant,))[0]}"
        rungs.append((label, runs["makespan_s"] / runs["task_instances"], True))
    bare = references.loc[references["reference"] == BARE_WRITE, "per_task_s"].median()
    return pd.DataFrame(
        [
            {
                "one no-op task instance after another": label,
                "runs": len(values),
                "verified": verified,
                "s per task instance": spread(values, 3),
                "minus the bare write, s": f"{values.median() - bare:.3f}",
            }
            for label, values, verified in rungs
        ]
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
    if (out / "trials.csv").exists() and trials["strategy"].nunique() > 1:
        columns = ["strategy", "trials", "makespan_s", "makespan_min_s", "makespan_max_s", "efficiency"]
        for variant, runs in trials.groupby("variant", sort=False):
            summary = metrics.summarize(runs[runs["parallelism"] == runs["parallelism"].max()])
            speedups = [c for c in metrics.SPEEDUP_COLUMNS.values() if c in summary]
            parts += [
                f"Strategies, variant {variant}:",
                summary[columns + speedups].to_markdown(index=False),
                "",
            ]
    if (out / "idle.csv").exists():
        idle = pd.read_csv(out / "idle.csv")
        components = [
            c for c in idle.columns if c.startswith(("cpu_", "pss_")) and c not in ("cpu_pct", "pss_mib")
        ]
        per_component = idle.groupby("variant", sort=False)[[*components, "pss_mib", "up_s"]].median()
        for metric in ("cpu_pct", "cpu_scheduler_pct", "cpu_dag-processor_pct", "pss_mib"):
            table = compare(idle, metric, by=()).drop(columns=["change"])
            parts += [
                f"Idle Airflow, {metric} (median, min..max over rounds):",
                table.to_markdown(index=False),
                "",
            ]
        parts += [
            "Idle Airflow per component (medians; CPU in % of one core, PSS in MiB, up_s = start to healthy):",
            per_component.round(1).reset_index().to_markdown(index=False),
            "",
        ]
    if (out / "references.json").exists():
        references = pd.DataFrame(json.loads((out / "references.json").read_text()))
        parts += ["References (no scheduler), every round:", references.to_markdown(index=False), ""]
        if (out / "trials.csv").exists() and (trials["parallelism"] == 1).any():
            parts += [
                "Per task instance, one at a time (median, min..max over rounds):",
                floors(trials, references).to_markdown(index=False),
                "",
            ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench.tuning", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(KNOWN)
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=32)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument(
        "--p1", type=int, default=0, metavar="N", help="also a trial of N partitions at P = 1"
    )
    parser.add_argument(
        "--references",
        action="store_true",
        help="also dag.test() and in-process (at the --p1 size, else --partitions), once per round",
    )
    parser.add_argument(
        "--idle", type=float, default=0, metavar="S", help="measure idle CPU over S s after start"
    )
    parser.add_argument(
        "--settle", type=float, default=45, metavar="S", help="wait S s after start before --idle"
    )
    parser.add_argument("--no-trials", action="store_true", help="only the idle measurement")
    parser.add_argument(
        "--probe",
        type=float,
        default=0,
        metavar="S",
        help="with --idle: API latency, and DAG files seen within S s",
    )
    parser.add_argument(
        "--strategies", default="dynamic_mapping", help="comma-separated benchmark strategies"
    )
    parser.add_argument(
        "--events-per-partition", type=int, default=1, help="events (rows) per partition (1: next to no work)"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each partition waits")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--report", type=Path, default=None, help="only print the tables of a saved run")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.report))
        return 0
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in KNOWN]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(KNOWN)}")
    cfg = settings()
    out = args.out or cfg.data_dir / "benchmarks" / f"tuning-{_stamp()}"
    out.mkdir(parents=True, exist_ok=True)
    trials = [(st, args.partitions, args.parallelism) for st in args.strategies.split(",") if st]
    trials += [("dynamic_mapping", args.p1, 1)] if args.p1 else []
    trials = [] if args.no_trials else trials
    t_partition = (
        statistics.median(probes.measure_partition(args.events_per_partition, args.latency))
        if trials
        else 0.0
    )
    work = (args.events_per_partition, args.latency, t_partition)
    idle = (args.settle, args.idle) if args.idle else None
    rows, timelines, references, idle_rows = [], [], [], []
    for round_no in range(args.rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            try:
                new_rows, new_tis, idle_row = run_variant(name, round_no, trials, work, cfg, idle, args.probe)
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
            if trials:
                pd.DataFrame(rows).to_csv(out / "trials.csv", index=False)
            if timelines:
                pd.concat(timelines, ignore_index=True).to_csv(out / "timelines.csv", index=False)
        if args.references:  # the size of the P = 1 trial, the one they are the floors of
            size = args.p1 or args.partitions
            references.append({**dag_test_reference(size, cfg), "round": round_no})
            references.append({**inprocess_reference(size), "round": round_no})
            (out / "references.json").write_text(json.dumps(references, indent=2))
    (out / "tables.md").write_text(report(out) + "\n")
    print(f"\n{report(out)}\n\nsaved in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
