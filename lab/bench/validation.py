"""`lab bench validate`: the model's predictions against measured trials it was not calibrated on.

    lab bench validate                       the default grid (about 11 minutes on 2 cores)
    lab bench validate --partitions 4,16 --parallelism 1,2 --latency 0 --strategies dynamic_mapping

Each grid point is one verified trial on the local Airflow (`lab.bench.runner`), predicted from
the latest calibration (`lab.bench.calibration`) with the trial's own N, P, latency, events and
chunk size. The sequential loop is one task whatever P is: it runs once per (N, latency).
Next to each prediction's terms the trial's measured counterparts are kept (start, task
overhead, gaps), so that where the model is off the missing term shows. Everything lands in
data/benchmarks/validation-<UTC time>/: points.csv (one row per trial), timelines.csv and
errors.md (median absolute and worst error, overall and per strategy).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from lab.bench import model, overhead
from lab.bench.config import BenchConfig
from lab.bench.runner import Runner

# Corners and middle of the grid (N 4, 16, 64; P 1, 2, 4, 8; latency 0, 0.5, 2) that fit
# in about 11 minutes on 2 cores; the calibration used N=8 and N=16 at latency 0 with 1 event.
PARTITIONS = (4, 16, 64)
PARALLELISM = (1, 4)
LATENCIES = (0.0, 0.5)
STRATEGIES = ("sequential_loop", "catchup_backfill", "dynamic_mapping", "chunked_mapping")
EVENTS = 1000
CHUNK_SIZE = 4


def grid(partitions, parallelism, latencies, strategies) -> list[dict]:
    """The grid's trials in running order: by latency and N, every strategy at every P (the loop once)."""
    points = []
    for latency in latencies:
        for n in partitions:
            for p in parallelism:
                for strategy in strategies:
                    if strategy == "sequential_loop" and p != min(parallelism):
                        continue
                    points.append(
                        {"strategy": strategy, "partitions": n, "parallelism": p, "latency_s": latency}
                    )
    return points


def predict(
    point: dict,
    overheads: model.Overheads,
    cores: float,
    events: int,
    chunk_size: int,
    deployment: model.Deployment | None = None,
):
    return model.makespan(
        point["strategy"],
        point["partitions"],
        point["parallelism"],
        point["latency_s"],
        events,
        chunk_size,
        cores,
        overheads,
        deployment,
    )


def measured_terms(tis: pd.DataFrame, t0: pd.Timestamp) -> dict:
    """What a trial's timeline shows for the model's terms: its start, its tasks' overhead, its gaps."""
    d = overhead.decompose(tis)
    worked = d.dropna(subset=["entered_at"])
    held = (worked["end_date"] - worked["queued_when"]).dt.total_seconds() - pd.to_numeric(worked["work_s"])
    return {
        "measured_start_s": round((d["queued_when"].min() - t0).total_seconds(), 3),
        "measured_task_overhead_s": round(float(held.median()), 3),
        "measured_gap_s": round(float(worked["slot_gap_s"].median()), 3),
        "measured_startup_s": round(float(worked["startup_s"].median()), 3),
    }


def errors(points: pd.DataFrame) -> pd.DataFrame:
    """Median absolute and worst relative error, overall and per strategy (verified trials only)."""
    good = points[points["verified"]]
    rows = []
    for name, group in [("all", good), *good.groupby("strategy", sort=False)]:
        rel = group["error"].abs()
        worst = group.loc[rel.idxmax()] if len(group) else None
        rows.append(
            {
                "strategy": name,
                "trials": len(group),
                "median_abs_error": round(float(rel.median()), 3),
                "worst_error": round(float(worst["error"]), 3) if worst is not None else None,
                "worst_at": (
                    f"N={worst['partitions']} P={worst['parallelism']} latency {worst['latency_s']:g}"
                    if worst is not None
                    else ""
                ),
            }
        )
    return pd.DataFrame(rows)


def repredict(out: Path, calibration: dict, overheads: model.Overheads) -> pd.DataFrame:
    """A saved validation's measured points predicted again from another calibration (no Airflow):
    the measurements stay, the model's side is replaced; saved as points-<calibration>.csv."""
    points = pd.read_csv(out / "points.csv")
    for index, point in points.iterrows():
        prediction = predict(
            point.to_dict(),
            overheads,
            calibration["cores"],
            int(point["events_per_partition"]),
            int(point["chunk_size"]),
        )
        points.loc[index, "predicted_s"] = round(prediction.makespan_s, 3)
        points.loc[index, "error"] = round(
            (prediction.makespan_s - point["measured_s"]) / point["measured_s"], 3
        )
        for term, value in prediction.terms.items():
            points.loc[index, term] = round(value, 3)
    points.to_csv(out / f"points-{calibration['created_at']}.csv", index=False)
    return points


def report(out: Path, points: pd.DataFrame | None = None) -> str:
    points = pd.read_csv(out / "points.csv") if points is None else points
    columns = [
        "strategy",
        "partitions",
        "parallelism",
        "latency_s",
        "load_1min",
        "measured_s",
        "predicted_s",
        "error",
        "measured_start_s",
        "start_s",
        "measured_task_overhead_s",
        "measured_gap_s",
        "cpu_contention_s",
    ]
    return "\n".join(
        [
            "Errors ((predicted - measured) / measured):",
            errors(points).to_markdown(index=False),
            "",
            "Every point (seconds; start_s and cpu_contention_s are the model's terms):",
            points[[c for c in columns if c in points]].to_markdown(index=False),
        ]
    )


def validate(
    points: list[dict],
    calibration: dict,
    overheads: model.Overheads,
    out: Path,
    events: int = EVENTS,
    chunk_size: int = CHUNK_SIZE,
    progress: bool = True,
    deployment: model.Deployment | None = None,
) -> pd.DataFrame:
    """Run every point once, predict it (on `deployment`: default the local Airflow's), save after
    each trial; returns the points' table."""
    from lab.bench import probes

    cores = calibration["cores"]
    top = max(p["parallelism"] for p in points)
    workers = probes.ensure_capacity(probes.EXECUTOR_HEADROOM * top)
    runner = Runner(BenchConfig(events_per_partition=events, chunk_size=chunk_size), progress=False)
    runner.warm_up([], workers=workers)
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.json").write_text(json.dumps(calibration, indent=2, default=str) + "\n")
    rows, timelines = [], []
    for i, point in enumerate(points):
        config = replace(
            runner.config,
            partitions=point["partitions"],
            parallelism=point["parallelism"],
            latency_s=point["latency_s"],
        )
        if config.latency_s != runner.config.latency_s:
            runner.t_partition = None  # measured again for the new work
        runner.config = config
        started, load = time.monotonic(), os.getloadavg()[0]  # a shared machine: what else was running
        row, tis = runner.trial(point["strategy"], point["parallelism"], 0, "validate")
        row["load_1min"] = round(load, 2)
        prediction = predict(point, overheads, cores, events, chunk_size, deployment)
        row.update(
            measured_s=row["makespan_s"],
            predicted_s=round(prediction.makespan_s, 3),
            error=round((prediction.makespan_s - row["makespan_s"]) / row["makespan_s"], 3),
            **{k: round(v, 3) for k, v in prediction.terms.items()},
            **measured_terms(tis, pd.Timestamp(row["triggered_at"])),
        )
        rows.append(row)
        timelines.append(tis)
        pd.DataFrame(rows).to_csv(out / "points.csv", index=False)
        pd.concat(timelines, ignore_index=True).to_csv(out / "timelines.csv", index=False)
        if progress:
            print(
                f"[{i + 1}/{len(points)}] {point['strategy']:17} N={point['partitions']:<3} "
                f"P={point['parallelism']} latency {point['latency_s']:<4g} measured {row['measured_s']:6.2f} s  "
                f"predicted {row['predicted_s']:6.2f} s  ({row['error']:+.0%})  "
                f"{'verified' if row['verified'] else 'NOT VERIFIED: ' + row['problems']}  "
                f"[{time.monotonic() - started:.0f} s]",
                file=sys.stderr,
                flush=True,
            )
    (out / "errors.md").write_text(report(out) + "\n")
    return pd.DataFrame(rows)
