"""How the cost grows with N, and where cores, not orchestration, cap mapping (issue 11, items 4-6).

    python -m lab.bench.growth                     both studies, the defaults (make bench-growth)
    python -m lab.bench.growth --sizes 16,64 --workloads noop --no-cores    a short pilot
    python -m lab.bench.growth --report data/benchmarks/growth-<UTC time>   the tables of a saved run

The growth study: at P = 8, every strategy x workload x N (16, 64, 256, 1024: 1024 is one
mapped task's limit, [core] max_map_length). The cores study: N = 16 for dynamic_mapping at
P = 1, 2, 4, 8, with a CPU-bound workload (no waiting; rows sized so that one partition's
DuckDB write takes about a second, measured at the start) next to a waiting one (1 s asleep).
Each trial is `lab.bench.runner.Runner.trial`: verified (a trial that is wrong is reported,
never timed), timed from Airflow's records, its CPU seconds read per part of Airflow
(`lab.bench.cpu`), its task instances taken apart (`lab.bench.overhead`).

A size is skipped, and the skip written down with its reason, when the same strategy's last
size, scaled linearly to it (a lower estimate: nothing here grows slower than N), would take
longer than --max-trial-s: the cut follows the measured previous point, not a guess. A
trial that Airflow refuses or that does not finish (an error) is recorded with the error, its
larger sizes are skipped, and the study goes on.
Everything lands in data/benchmarks/growth-<UTC time>/: trials.csv (one row per trial, after
each trial), timelines.csv, results.json, tables.md and growth.png / cores.png.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from lab.bench import overhead, probes
from lab.bench.config import BenchConfig, BenchConfigError, _names, _whole
from lab.bench.strategies import HEADLINE, STRATEGIES
from lab.partitions import DEFAULT_MAX_MAP_LENGTH

# name -> (events_per_partition, latency_s, what it stands for); rows None: measured (calibrate_rows).
WORKLOADS: dict[str, tuple[int | None, float, str]] = {
    "noop": (1, 0.0, "no work: 1 event, no waiting (orchestration alone)"),
    "wait_0.5s": (1, 0.5, "0.5 s asleep (a remote warehouse), 1 event"),
    "wait_1s": (1, 1.0, "1 s asleep, 1 event: waiting as long as cpu_1s works"),
    "cpu_1s": (None, 0.0, "no waiting; rows sized so that one DuckDB write takes about 1 s"),
}
GROWTH_STRATEGIES = ["dynamic_mapping", "chunked_mapping", "catchup_backfill"]
CPU_TARGET_S = 1.0


class GrowthConfigError(BenchConfigError):
    """A growth-study option is invalid; raised before Airflow is touched."""


def _sizes(name: str, value, high: int = DEFAULT_MAX_MAP_LENGTH) -> list[int]:
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.replace(" ", "").split(",") if v]
        except ValueError:
            raise GrowthConfigError(
                f"{name} must be whole numbers such as '16,64,256', got {value!r}"
            ) from None
    if not isinstance(value, (list, tuple)) or not value:
        raise GrowthConfigError(f"{name} must be a non-empty list such as 16,64,256, got {value!r}")
    sizes = [_whole(f"each of {name}", v, 1, high) for v in value]
    if len(set(sizes)) != len(sizes):
        raise GrowthConfigError(f"{name} lists a value twice: {sizes}")
    return sorted(sizes)


@dataclass
class GrowthConfig:
    sizes: list[int] = field(default_factory=lambda: [16, 64, 256, 1024])
    strategies: list[str] = field(default_factory=lambda: list(GROWTH_STRATEGIES))
    workloads: list[str] = field(default_factory=lambda: ["noop", "wait_0.5s"])
    parallelism: int = 8
    chunk_size: int = 0  # 0: one chunk per slot, ceil(N / P) partitions each
    repeats: int = 1
    max_trial_s: float = 300.0
    cores: bool = True
    cores_partitions: int = 16
    cores_levels: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    cores_workloads: list[str] = field(default_factory=lambda: ["cpu_1s", "wait_1s"])
    cores_repeats: int = 3
    cpu_rows: int = 0  # 0: measured at the start (calibrate_rows)

    def __post_init__(self):
        try:
            self._validate()
        except GrowthConfigError:
            raise
        except BenchConfigError as exc:  # from the checks shared with BenchConfig
            raise GrowthConfigError(str(exc)) from None

    def _validate(self) -> None:
        self.sizes = _sizes("sizes", self.sizes)
        self.strategies = _names("strategies", self.strategies, STRATEGIES)
        if not self.strategies and not self.cores:
            raise GrowthConfigError("nothing to run: no strategies and --no-cores")
        self.workloads = self._workloads("workloads", self.workloads)
        self.cores_workloads = self._workloads("cores_workloads", self.cores_workloads)
        self.parallelism = _whole("parallelism", self.parallelism, 1, 64)
        self.chunk_size = _whole("chunk_size", self.chunk_size, 0, DEFAULT_MAX_MAP_LENGTH)
        self.repeats = _whole("repeats", self.repeats, 1, 20)
        self.cores_repeats = _whole("cores_repeats", self.cores_repeats, 1, 20)
        self.cores_partitions = _whole("cores_partitions", self.cores_partitions, 1, DEFAULT_MAX_MAP_LENGTH)
        self.cores_levels = _sizes("cores_levels", self.cores_levels, high=64)
        self.cpu_rows = _whole("cpu_rows", self.cpu_rows, 0, 10_000_000)
        if isinstance(self.max_trial_s, bool) or not isinstance(self.max_trial_s, (int, float)):
            raise GrowthConfigError(f"max_trial_s must be a number of seconds, got {self.max_trial_s!r}")
        if self.max_trial_s <= 0:
            raise GrowthConfigError(f"max_trial_s must be positive, got {self.max_trial_s}")
        BenchConfig(partitions=max(self.sizes))  # the window fits the largest N (the backfilled DAGs)

    @staticmethod
    def _workloads(name: str, value) -> list[str]:
        items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
        unknown = [w for w in items if w not in WORKLOADS]
        if unknown:
            raise GrowthConfigError(f"{name}: unknown workloads {unknown}; known are {', '.join(WORKLOADS)}")
        if len(set(items)) != len(items):
            raise GrowthConfigError(f"{name} names a workload twice: {items}")
        return items

    def chunk_for(self, partitions: int, parallelism: int) -> int:
        """chunked_mapping's chunk size: fixed, or one chunk per slot (ceil(N / P))."""
        return self.chunk_size or -(-partitions // parallelism)

    def plan(self) -> list[dict]:
        """Every trial in running order: per workload and strategy, N growing (so a size can be cut
        from the one before it), repeats next to each other; then the cores study."""
        trials = [
            {
                "study": "growth",
                "workload": w,
                "strategy": s,
                "partitions": n,
                "parallelism": self.parallelism,
            }
            | {"repeat": r}
            for w in self.workloads
            for s in self.strategies
            for n in self.sizes
            for r in range(self.repeats)
        ]
        if self.cores:
            trials += [
                {"study": "cores", "workload": w, "strategy": HEADLINE, "partitions": self.cores_partitions}
                | {"parallelism": p, "repeat": r}
                for r in range(self.cores_repeats)
                for w in self.cores_workloads
                for p in self.cores_levels
            ]
        return trials


def calibrate_rows(
    target_s: float = CPU_TARGET_S, start: int = 200_000, rounds: int = 3
) -> tuple[int, float]:
    """Rows for which one partition's write takes about `target_s` in-process: (rows, seconds measured)."""
    rows = start
    for _ in range(rounds):
        seconds = statistics.median(probes.measure_partition(rows, 0.0))
        if abs(seconds - target_s) <= 0.1 * target_s:
            break
        rows = min(10_000_000, max(1000, int(round(rows * target_s / seconds, -4))))
    else:
        seconds = statistics.median(probes.measure_partition(rows, 0.0))
    return rows, seconds


def cut_reason(done: list[dict], trial: dict, max_trial_s: float) -> str | None:
    """Why `trial` is skipped, or None: the same workload and strategy's largest size measured so
    far, scaled linearly to this one, would exceed `max_trial_s` (a skipped size skips the rest)."""
    same = [
        d
        for d in done
        if (d["study"], d["workload"], d["strategy"])
        == (trial["study"], trial["workload"], trial["strategy"])
    ]
    smaller = [d for d in same if d["partitions"] < trial["partitions"]]
    if any(d.get("skipped") or d.get("error") for d in smaller):
        return "a smaller size was already cut or failed"
    timed = [d for d in smaller if d.get("verified") and d.get("makespan_s") == d.get("makespan_s")]
    if not timed:
        return None
    last = max(timed, key=lambda d: d["partitions"])
    expected = last["makespan_s"] * trial["partitions"] / last["partitions"]
    if expected > max_trial_s:
        return (
            f"N={last['partitions']} took {last['makespan_s']:.0f} s, so N={trial['partitions']} would "
            f"take at least {expected:.0f} s > --max-trial-s {max_trial_s:.0f}"
        )
    return None


def _phase_medians(tis: pd.DataFrame, t0: pd.Timestamp, parallelism: int) -> tuple[dict, pd.DataFrame]:
    """Per trial: medians of the phases of the instances that did the work, and the moments
    before the first of them (run creation, planning, expansion)."""
    d = overhead.decompose(tis)
    worked = d.dropna(subset=["entered_at"])
    planning = d[d["entered_at"].isna()]
    row = {f"median_{p}": round(float(worked[p].median()), 3) for p in overhead.PHASES}
    row["mean_slot_gap_s"] = round(float(worked["slot_gap_s"].mean()), 3)
    row["slot_overhead_per_task_s"] = round(overhead.slot_overhead_per_task(d, t0, parallelism), 3)
    row["first_queued_s"] = round((worked["queued_when"].min() - t0).total_seconds(), 3)
    if len(planning):  # a mapped run: its planning task ended -> the first mapped instance scheduled
        row["expansion_s"] = round(
            (worked["scheduled_when"].min() - planning["end_date"].max()).total_seconds(), 3
        )
    return row, d


def run(config: GrowthConfig, out: Path, progress=print) -> pd.DataFrame:
    """Run every trial of `config.plan()` on the local Airflow, saving as it goes; returns the trials."""
    from lab import airflow_local
    from lab.bench.runner import BenchError, Runner
    from lab.client import AirflowError
    from lab.config import settings

    cfg = settings()
    out.mkdir(parents=True, exist_ok=True)
    plan = config.plan()
    started_here = cfg.is_managed and not airflow_local.status(cfg)["healthy"]
    top = max([t["parallelism"] for t in plan])
    workers = probes.ensure_capacity(probes.EXECUTOR_HEADROOM * top)
    meta = {
        "config": asdict(config),
        "started_at": datetime.now(UTC).isoformat(),
        "machine": probes.machine_info(),
        "versions": probes.software_versions(),
        "airflow": {"executor": "LocalExecutor", "parallelism": workers},
        "workloads": {},
    }
    for name in dict.fromkeys(t["workload"] for t in plan):
        events, latency, what = WORKLOADS[name]
        if events is None:
            events, measured = (config.cpu_rows, None) if config.cpu_rows else calibrate_rows()
            progress(f"workload {name}: {events} rows per partition (one write measured {measured} s)")
        samples = probes.measure_partition(events, latency)
        meta["workloads"][name] = {
            "events_per_partition": events,
            "latency_s": latency,
            "what": what,
            "t_partition_s": statistics.median(samples),
            "t_partition_samples_s": samples,
        }
    runner = Runner(BenchConfig(partitions=max(config.sizes)), progress=False)
    runner.warm_up([], workers=workers)
    rows, timelines = [], []
    try:
        for i, item in enumerate(plan, 1):
            reason = cut_reason(rows, item, config.max_trial_s)
            what = (
                f"[{i}/{len(plan)}] {item['study']:6} {item['workload']:9} {item['strategy']:16} "
                f"N={item['partitions']:<4} P={item['parallelism']:<2} r{item['repeat'] + 1}"
            )
            if reason:
                rows.append({**item, "skipped": reason, "verified": False})
                progress(f"{what}  skipped: {reason}")
                continue
            work = meta["workloads"][item["workload"]]
            n, p = item["partitions"], item["parallelism"]
            runner.config = replace(
                runner.config,
                partitions=n,
                parallelism=p,
                events_per_partition=work["events_per_partition"],
                latency_s=work["latency_s"],
                chunk_size=config.chunk_for(n, p),
            )
            runner.t_partition = work["t_partition_s"]
            runner.poll = min(5.0, max(0.5, n / 256))  # listing 1024 runs twice a second would load the API
            started = time.monotonic()
            try:
                row, tis = runner.trial(item["strategy"], p, item["repeat"], item["study"])
            except (AirflowError, BenchError) as exc:  # refused or stuck: a result, and the rest goes on
                rows.append({**item, "skipped": "", "verified": False, "error": str(exc)[:600]})
                pd.DataFrame(rows).to_csv(out / "trials.csv", index=False)
                progress(f"{what}  FAILED: {exc}")
                continue
            row = {**item, **row, "skipped": "", "error": "", "wall_s": round(time.monotonic() - started, 1)}
            if not tis.dropna(subset=["start_date", "end_date"]).empty:
                phases, tis = _phase_medians(tis, pd.Timestamp(row["triggered_at"]), p)
                row.update(phases)
            rows.append(row)
            timelines.append(tis.assign(study=item["study"], workload=item["workload"], partitions=n))
            pd.DataFrame(rows).to_csv(out / "trials.csv", index=False)
            pd.concat(timelines, ignore_index=True).to_csv(out / "timelines.csv", index=False)
            outcome = "verified" if row["verified"] else f"NOT VERIFIED: {row['problems']}"
            progress(
                f"{what}  makespan {row.get('makespan_s', float('nan')):7.1f} s  "
                f"overhead/task {row.get('overhead_per_task_s', float('nan')):5.2f} s  "
                f"scheduler CPU {row.get('cpu_scheduler_s', float('nan')):6.1f} s  "
                f"eff. parallelism {row.get('effective_parallelism', float('nan')):4.1f}  {outcome}"
            )
    finally:
        meta["finished_at"] = datetime.now(UTC).isoformat()
        meta["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        meta["trials"] = json.loads(pd.DataFrame(rows).to_json(orient="records")) if rows else []
        (out / "results.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        if rows:
            pd.DataFrame(rows).to_csv(out / "trials.csv", index=False)
        if started_here:
            airflow_local.down(cfg, quiet=True)
            progress("Stopped the Airflow that the growth study started.")
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    from lab.bench import growth_report

    d = GrowthConfig()
    parser = argparse.ArgumentParser(prog="python -m lab.bench.growth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, d.sizes)), help="N values, comma-separated")
    parser.add_argument("--strategies", default=",".join(d.strategies), help="from: " + ", ".join(STRATEGIES))
    parser.add_argument("--workloads", default=",".join(d.workloads), help="from: " + ", ".join(WORKLOADS))
    parser.add_argument("--parallelism", type=int, default=d.parallelism, help="P of the growth study")
    parser.add_argument("--chunk-size", type=int, default=0, help="chunked_mapping's k (0: ceil(N / P))")
    parser.add_argument("--repeats", type=int, default=d.repeats, help="trials per growth point")
    parser.add_argument("--max-trial-s", type=float, default=d.max_trial_s, help="cut sizes expected longer")
    parser.add_argument("--no-cores", action="store_true", help="skip the cores study")
    parser.add_argument("--cores-levels", default="1,2,4,8", help="P values of the cores study")
    parser.add_argument("--cores-partitions", type=int, default=d.cores_partitions)
    parser.add_argument("--cores-workloads", default=",".join(d.cores_workloads))
    parser.add_argument("--cores-repeats", type=int, default=d.cores_repeats)
    parser.add_argument("--cpu-rows", type=int, default=0, help="rows of cpu_1s (0: measured for ~1 s)")
    parser.add_argument("--out", type=Path, default=None, help="default data/benchmarks/growth-<UTC time>")
    parser.add_argument("--report", type=Path, default=None, help="only print the tables of a saved run")
    args = parser.parse_args(argv)
    if args.report:
        print(growth_report.write(args.report))
        return 0
    try:
        config = GrowthConfig(
            sizes=args.sizes,
            strategies=[s for s in args.strategies.split(",") if s],
            workloads=args.workloads,
            parallelism=args.parallelism,
            chunk_size=args.chunk_size,
            repeats=args.repeats,
            max_trial_s=args.max_trial_s,
            cores=not args.no_cores,
            cores_partitions=args.cores_partitions,
            cores_levels=args.cores_levels,
            cores_workloads=args.cores_workloads,
            cores_repeats=args.cores_repeats,
            cpu_rows=args.cpu_rows,
        )
    except BenchConfigError as exc:
        parser.error(str(exc))
    from lab.config import settings

    out = args.out or settings().data_dir / "benchmarks" / f"growth-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    plan = config.plan()
    print(f"growth study: {len(plan)} trials at most -> {out}", flush=True)
    run(config, out, progress=lambda msg: print(msg, flush=True))
    print(f"\n{growth_report.write(out)}\n\nsaved in {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
