"""`make bench-reference` (`lab bench --reference`): the README's reference run, on both profiles.

    lab bench --reference                          run it (about 25 minutes), then rewrite the README
    lab bench --reference -p repeats 7             more rounds (-p: partitions, events_per_partition,
                                                   latency_s, parallelism, chunk_size, repeats, strategies)
    lab bench --readme data/benchmarks/reference-<time>   only rewrite the README from a saved run

The reference parameters (`REFERENCE`): 16 partitions of 2 s waiting and 10 000 events each,
P = 8, every benchmarked strategy. Each round starts the local Airflow once per profile
(`lab.profiles`: `lab`, the tuned one `make lab` runs, and `default`, Airflow's own settings),
alternating which goes first, and runs one trial of every strategy on it (their order rotates
from round to round): both profiles share the machine's noise, and a round's ratios (mapping /
loop, mapping / backfill) are taken between trials minutes apart. The mechanism is
`lab.bench.tuning.run_variant` (the one that `make bench-profiles` uses): a fresh start per
profile, an untimed warm-up, verified trials, Airflow stopped after each.

Everything lands in data/benchmarks/reference-<UTC time>/: results.csv (one row per trial, with
its `profile` and `round`), timelines.csv (every task instance), reference.json (parameters,
machine, load, versions, t_partition), the chart and report.md (the README block,
`lab.bench.reference_report`).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from lab.bench import probes
from lab.bench.config import BenchConfig
from lab.bench.strategies import STRATEGIES

PROFILES = ("lab", "default")
REFERENCE = {
    "partitions": 16,
    "events_per_partition": 10_000,
    "latency_s": 2.0,
    "parallelism": 8,
    "chunk_size": 4,
    "repeats": 5,  # rounds: one trial per strategy and profile in each
    "strategies": list(STRATEGIES),
}


def reference_config(overrides: dict | None = None) -> BenchConfig:
    """The reference parameters with `overrides` (validated by BenchConfig: bad values are refused)."""
    params = {**REFERENCE, **(overrides or {})}
    return BenchConfig(**{k: v for k, v in params.items() if k in BenchConfig.__dataclass_fields__})


def profile_order(round_no: int) -> list[str]:
    """The profiles in round `round_no`'s order: alternating, so neither always runs first."""
    shift = round_no % len(PROFILES)
    return list(PROFILES[shift:] + PROFILES[:shift])


def run(config: BenchConfig, out: Path, cfg=None) -> Path:
    """Run the reference trials into `out` (saved after every profile, so a broken run keeps its rounds)."""
    from lab.bench import tuning
    from lab.config import settings

    cfg = cfg or settings()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    meta = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            "partitions": config.partitions,
            "events_per_partition": config.events_per_partition,
            "latency_s": config.latency_s,
            "parallelism": config.parallelism,
            "chunk_size": config.chunk_size,
            "rounds": config.repeats,
            "strategies": config.strategies,
            "profiles": list(PROFILES),
        },
        "machine": probes.machine_info(),
        "versions": probes.software_versions(),
    }
    samples = probes.measure_partition(config.events_per_partition, config.latency_s)
    meta["t_partition_s"] = statistics.median(samples)
    meta["t_partition_samples"] = samples
    (out / "reference.json").write_text(json.dumps(meta, indent=2) + "\n")
    trials = [(s, config.partitions, config.parallelism) for s in config.strategies]
    setup = tuple(s for s in config.strategies if STRATEGIES[s].slow_setup)
    work = (config.events_per_partition, config.latency_s, meta["t_partition_s"])
    rows, timelines = [], []
    for round_no in range(config.repeats):
        for profile in profile_order(round_no):
            print(
                f"[{time.monotonic() - started:6.0f} s] round {round_no} (0..{config.repeats - 1}): "
                f"starting Airflow with the {profile} profile",
                flush=True,
            )
            try:
                new_rows, new_tis, _ = tuning.run_variant(
                    profile,
                    round_no,
                    trials,
                    work,
                    cfg,
                    chunk_size=config.chunk_size,
                    setup=setup,
                    clock=started,
                )
            except Exception as exc:  # a round that breaks is reported; the others go on
                print(f"round {round_no} {profile}: FAILED: {exc}", flush=True)
                new_rows = [
                    {"variant": profile, "round": round_no, "verified": False, "problems": str(exc)[:500]}
                ]
                new_tis = []
            rows += [{**row, "profile": row["variant"]} for row in new_rows]
            timelines += new_tis
            pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
            if timelines:
                pd.concat(timelines, ignore_index=True).to_csv(out / "timelines.csv", index=False)
    meta["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["elapsed_s"] = round(time.monotonic() - started)
    (out / "reference.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out
