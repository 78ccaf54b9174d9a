"""A benchmark's results: the trials, their task-instance timelines, the summaries, the files.

    results = run(config)                     # lab.bench.runner
    results.summary                           # one row per strategy: medians, spread, speedups
    results.save("data/benchmarks/<time>/", figures)
    saved, trials = load("data/benchmarks/<time>/")

Files: results.csv (one row per trial), timelines.csv (every task instance), summary.csv,
results.json (parameters, machine, versions, summary, sweep, trials) and the figures as PNG.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from lab.bench import metrics, overhead
from lab.bench.config import BenchConfig
from lab.bench.strategies import BACKFILL_BASELINE, BASELINE, HEADLINE


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
        at_levels = t[t["parallelism"].isin(self.config.sweep) | (t["strategy"] == BASELINE)]
        return metrics.sweep_summary(at_levels, self.config.sweep_strategies)

    @property
    def verification(self) -> pd.DataFrame:
        """Per strategy: how many trials ran and whether every one of them verified."""
        table = self.trials.groupby(["strategy", "phase"], sort=False).agg(
            trials=("verified", "size"),
            verified=("verified", "all"),
            partitions=("partitions", "first"),
            events_per_partition=("events_per_partition", "first"),
        )
        return table.reset_index()

    @property
    def phases(self) -> pd.DataFrame:
        """Where the compared trials' task-instance time went (lab.bench.overhead): per strategy
        and phase, the median, min and max over every task instance that has that phase."""
        trials = [
            overhead.decompose(tis)
            for _, tis in self.timelines[self.timelines["phase"] == "compare"].groupby(
                ["strategy", "repeat"], sort=False
            )
        ]
        return overhead.phase_summary(pd.concat(trials, ignore_index=True)) if trials else pd.DataFrame()

    def timeline(self, strategy: str, repeat: int = 0, phase: str = "compare") -> pd.DataFrame:
        t = self.timelines
        return t[(t["strategy"] == strategy) & (t["repeat"] == repeat) & (t["phase"] == phase)]

    def headline(self) -> dict:
        """The lab's claim in numbers: dynamic mapping (HEADLINE) against the loop and the backfill."""
        s = self.summary.set_index("strategy")
        if HEADLINE not in s.index:
            return {}
        row = s.loc[HEADLINE]
        return {
            "partitions": self.config.partitions,
            "parallelism": self.config.parallelism,
            "latency_s": self.config.latency_s,
            "events_per_partition": self.config.events_per_partition,
            "speedup_vs_sequential": row.get("speedup_vs_sequential"),
            "speedup_vs_backfill": row.get("speedup_vs_backfill"),
            "efficiency": row.get("efficiency"),
            "cpu_bound_s": row.get("cpu_bound_s"),
            "wave_bound_s": row.get("ideal_s"),
            "efficiency_vs_bound": row.get("efficiency_vs_bound"),
        }

    def headline_text(self) -> str:
        """The headline as a sentence ('' when HEADLINE was not measured)."""
        h = self.headline()
        if not h:
            return ""
        return (
            f"At N={h['partitions']}, P={h['parallelism']}, latency_s={h['latency_s']:g}, "
            f"events_per_partition={h['events_per_partition']}: "
            f"{HEADLINE} ran {metrics.relative_speed(h['speedup_vs_sequential'], BASELINE)} and "
            f"{metrics.relative_speed(h['speedup_vs_backfill'], BACKFILL_BASELINE)}, "
            f"at {h['efficiency']:.0%} of the wave bound ceil(N/P) x t_partition" + bound_text(h) + "."
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


def bound_text(h: dict) -> str:
    """', and at N% of max(wave bound, CPU bound) (the CPU bound: ...)' when the CPU was measured."""
    cpu_bound = h.get("cpu_bound_s")
    if cpu_bound is None or pd.isna(cpu_bound) or pd.isna(h.get("efficiency_vs_bound")):
        return ""
    larger = "the CPU bound" if cpu_bound > h["wave_bound_s"] else "the wave bound"
    return (
        f" and {h['efficiency_vs_bound']:.0%} of max(wave bound, CPU bound), here {larger} "
        f"(CPU bound: the CPU seconds its tasks and Airflow used / the cores = {cpu_bound:.1f} s; "
        f"wave bound {h['wave_bound_s']:.1f} s)"
    )


def load(out_dir: str | Path) -> tuple[dict, pd.DataFrame]:
    """A saved benchmark: (results.json as a dict, the trials of results.csv)."""
    out = Path(out_dir)
    return json.loads((out / "results.json").read_text()), pd.read_csv(out / "results.csv")
