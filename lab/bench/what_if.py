"""What if: the cost model's answers before anything runs (lesson 07).

    from lab.bench import what_if
    cal = what_if.calibration("reference")                  # or "latest" (yours), or a file
    what_if.compare(cal, partitions=64, parallelism=8, latency_s=0.5)   # every strategy at one point
    what_if.crossover(cal, parallelism=8)                   # the fastest strategy over N x seconds
    what_if.best_chunk_size(cal, partitions=256, parallelism=8, latency_s=0.1)
    what_if.explore(cal)                                    # the same with sliders (JupyterLab)
    what_if.check(cal, results.trials, config)              # predicted against a real run's trials

Every number comes from `lab.bench.model.makespan` and a calibration (`lab bench calibrate`'s
JSON). "reference" is the one committed in docs/benchmark/, measured on the lab's 2-core machine
with both Airflow profiles, so that the lesson's tables are the same wherever it runs; "latest"
is the one `make bench-calibrate` wrote on your machine (data/benchmarks/).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lab.bench import calibration as calibrations
from lab.bench import model
from lab.config import REPO_ROOT

REFERENCE_DIR = REPO_ROOT / "docs" / "benchmark"
# partitioned_runs is predicted with the backfill's costs (lab.bench.model), so it is left out.
STRATEGIES = ("sequential_loop", "catchup_backfill", "dynamic_mapping", "chunked_mapping")
SHORT = {"sequential_loop": "loop", "catchup_backfill": "backfill", "dynamic_mapping": "mapping"}
PARTITIONS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # up to one mapped task's default limit
LATENCIES = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)  # seconds of waiting per partition
EVENTS = 1000  # rows per partition, as lesson 04 and `lab bench validate`
CHUNK_SIZE = 4
# A lead smaller than this is within the model's own error (median ~20 % in its validation): a tie.
TIE_MARGIN = 1.2
VALIDATION = REFERENCE_DIR / "validation-points.csv"  # `lab bench validate`'s points.csv, committed


@dataclass(frozen=True)
class Calibration:
    """One machine's measured Airflow costs, as the model uses them."""

    source: str  # "reference (lab profile)", or the file it came from
    profile: str  # the Airflow profile it was measured on: lab | default
    cores: float
    created_at: str
    overheads: model.Overheads


def calibration(source: str | Path = "reference", profile: str = "lab") -> Calibration:
    """The committed reference calibration of `profile`, "latest" (yours) or a calibration file."""
    if source == "reference":
        path = REFERENCE_DIR / f"calibration-{profile}.json"
        if not path.exists():
            raise calibrations.CalibrationError(f"no reference calibration for profile {profile!r}")
        label = f"reference ({profile} profile)"
    else:
        path = None if source == "latest" else Path(source)
        label = "latest" if source == "latest" else str(source)
    saved, overheads = calibrations.load(path)
    return Calibration(label, saved.get("profile", "unknown"), saved["cores"], saved["created_at"], overheads)


def _predict(cal: Calibration, strategy, partitions, parallelism, latency_s, events, chunk_size):
    return model.makespan(
        strategy, partitions, parallelism, latency_s, events, chunk_size, cal.cores, cal.overheads
    )


def compare(
    cal: Calibration,
    partitions: int,
    parallelism: int,
    latency_s: float,
    events_per_partition: int = EVENTS,
    chunk_size: int = CHUNK_SIZE,
    strategies: tuple[str, ...] = STRATEGIES,
) -> pd.DataFrame:
    """Every strategy's predicted makespan at one point and what it is made of (seconds)."""
    rows = []
    for strategy in strategies:
        p = _predict(cal, strategy, partitions, parallelism, latency_s, events_per_partition, chunk_size)
        t = p.terms
        rows.append(
            {
                "strategy": strategy,
                "makespan_s": p.makespan_s,
                "start_s": t["start_s"] + t["plan_s"] + t["expand_s"],  # run(s) created, planned, expanded
                "work_s": t["wait_s"] + t["write_s"],  # the partitions' own time, wave by wave
                "orchestration_s": t["task_overhead_s"] + t["gaps_s"] + t["queueing_passes_s"],
                "cpu_contention_s": t["cpu_contention_s"],
                "task_instances": p.details["task_instances"],
                "waves": p.details["waves"],
            }
        )
    table = pd.DataFrame(rows)
    table.insert(2, "x_fastest", table["makespan_s"] / table["makespan_s"].min())
    if "sequential_loop" in strategies:  # the anti-pattern's time over each strategy's
        loop = table.loc[table["strategy"] == "sequential_loop", "makespan_s"].iloc[0]
        table.insert(3, "speedup_vs_loop", loop / table["makespan_s"])
    return table.round(2)


def crossover(
    cal: Calibration,
    parallelism: int = 8,
    partitions: tuple[int, ...] = PARTITIONS,
    latencies: tuple[float, ...] = LATENCIES,
    events_per_partition: int = EVENTS,
    chunk_size: int = CHUNK_SIZE,
) -> pd.DataFrame:
    """The fastest strategy at every (N, seconds per partition), the runner-up and the margin."""
    rows = []
    for n in partitions:
        for latency in latencies:
            table = compare(cal, n, parallelism, latency, events_per_partition, chunk_size)
            ranked = table.sort_values(["makespan_s", "task_instances"]).reset_index(drop=True)
            rows.append(
                {
                    "partitions": n,
                    "latency_s": latency,
                    "fastest": ranked.loc[0, "strategy"],
                    "makespan_s": ranked.loc[0, "makespan_s"],
                    "runner_up": ranked.loc[1, "strategy"],
                    "margin": round(ranked.loc[1, "makespan_s"] / ranked.loc[0, "makespan_s"], 2),
                }
            )
    return pd.DataFrame(rows)


def short(strategy: str) -> str:
    return SHORT.get(strategy, "chunks")


def fastest_grid(cross: pd.DataFrame) -> pd.DataFrame:
    """The crossover as a table: N down, seconds per partition across, the fastest strategy's short
    name, or "a ~ b" when its lead over the runner-up is within the model's error (TIE_MARGIN)."""
    names = [
        short(row.fastest) if row.margin >= TIE_MARGIN else f"{short(row.fastest)} ~ {short(row.runner_up)}"
        for row in cross.itertuples()
    ]
    table = cross.assign(fastest=names).pivot(index="partitions", columns="latency_s", values="fastest")
    table.columns = [f"{c:g} s" for c in table.columns]
    return table


def best_chunk_size(
    cal: Calibration,
    partitions: int,
    parallelism: int,
    latency_s: float,
    events_per_partition: int = EVENTS,
    sizes: tuple[int, ...] | None = None,
) -> pd.DataFrame:
    """chunked_mapping's predicted makespan per chunk size k (1 = one task per partition), best first."""
    sizes = sizes or tuple(k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= partitions)
    rows = []
    for k in sizes:
        p = _predict(cal, "chunked_mapping", partitions, parallelism, latency_s, events_per_partition, k)
        rows.append(
            {"chunk_size": k, "tasks": math.ceil(partitions / k), "waves": p.details["waves"],
             "makespan_s": round(p.makespan_s, 2)}
        )  # fmt: skip
    return pd.DataFrame(rows).sort_values(["makespan_s", "chunk_size"]).reset_index(drop=True)


def profile_shift(first: Calibration, second: Calibration, **grid) -> pd.DataFrame:
    """Where the fastest strategy differs between two calibrations (e.g. lab and default profiles);
    columns fastest_<profile> (fastest_<profile>_1 and _2 when both share a profile)."""
    names = (first.profile, second.profile)
    if names[0] == names[1]:
        names = (f"{names[0]}_1", f"{names[1]}_2")
    a, b = crossover(first, **grid), crossover(second, **grid)
    both = a.merge(b, on=["partitions", "latency_s"], suffixes=tuple(f"_{n}" for n in names))
    keep = ["partitions", "latency_s", *(f"fastest_{n}" for n in names)]
    moved = both[both[keep[2]] != both[keep[3]]]
    return moved[keep].reset_index(drop=True)


def check(cal: Calibration, trials: pd.DataFrame, config) -> pd.DataFrame:
    """Predicted against measured for a real run's verified trials (`lab.bench.runner.run(...).trials`):
    per strategy and P, the median measured makespan with its min..max over the repeats."""
    rows = []
    good = trials[trials["verified"]]
    for (strategy, parallelism), group in good.groupby(["strategy", "parallelism"], sort=False):
        p = _predict(
            cal,
            strategy,
            config.partitions,
            int(parallelism),
            config.latency_s,
            config.events_per_partition,
            config.chunk_size,
        )
        measured = group["makespan_s"].astype(float)
        rows.append(
            {
                "strategy": strategy,
                "parallelism": int(parallelism),
                "trials": len(group),
                "predicted_s": round(p.makespan_s, 2),
                "measured_s": round(measured.median(), 2),
                "measured_min_s": round(measured.min(), 2),
                "measured_max_s": round(measured.max(), 2),
                "error": round((p.makespan_s - measured.median()) / measured.median(), 2),
            }
        )
    return pd.DataFrame(rows)


def explore(cal: Calibration, partitions=64, parallelism=8, latency_s=0.5, chunk_size=CHUNK_SIZE):
    """Sliders for N, P, seconds per partition and chunk size over `compare` and `best_chunk_size`.

    A live notebook shows the widgets; a headless run (papermill, nbval) has no frontend to draw
    them, which is why the lesson prints the same tables with its defaults first.
    """
    import ipywidgets as widgets
    from IPython.display import display

    def show(partitions, parallelism, latency_s, chunk_size):
        display(compare(cal, partitions, parallelism, latency_s, chunk_size=chunk_size))
        best = best_chunk_size(cal, partitions, parallelism, latency_s).iloc[0]
        print(
            f"best chunk size for chunked_mapping here: {int(best['chunk_size'])} ({best['makespan_s']:.2f} s)"
        )

    return widgets.interactive(
        show,
        partitions=widgets.IntSlider(partitions, 1, 1024, description="N"),
        parallelism=widgets.IntSlider(parallelism, 1, 32, description="P"),
        latency_s=widgets.FloatSlider(latency_s, min=0, max=10, step=0.1, description="s/partition"),
        chunk_size=widgets.IntSlider(chunk_size, 1, 64, description="chunk k"),
    )


def validation_points(path: Path = VALIDATION) -> pd.DataFrame:
    """A validation run's points (predicted and measured makespan per trial), verified ones only."""
    points = pd.read_csv(path)
    return points[points["verified"]].reset_index(drop=True)


# ---------------------------------------------------------------- charts

COLOURS = {"sequential_loop": 3, "catchup_backfill": 1, "dynamic_mapping": 0, "chunked_mapping": 2}


def plot_crossover(cross: pd.DataFrame, title: str = "", ax=None):
    """The crossover as a heatmap: a cell's colour is the fastest strategy, its text the margin over
    the runner-up; pale cells are ties (a margin under TIE_MARGIN)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    table = cross.pivot(index="partitions", columns="latency_s", values="fastest")
    margin = cross.pivot(index="partitions", columns="latency_s", values="margin")
    cmap = plt.get_cmap("tab10")
    image = [
        [to_rgba(cmap(COLOURS[s]), 1.0 if m >= TIE_MARGIN else 0.35) for s, m in zip(row, mrow, strict=True)]
        for row, mrow in zip(table.to_numpy(), margin.to_numpy(), strict=True)
    ]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 5.5), layout="constrained")
    ax.imshow(image, aspect="auto", origin="lower")
    for y, mrow in enumerate(margin.to_numpy()):
        for x, m in enumerate(mrow):
            ax.text(x, y, f"{m:.1f}x", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(table.columns)), [f"{c:g}" for c in table.columns])
    ax.set_yticks(range(len(table.index)), [str(n) for n in table.index])
    ax.set_xlabel("seconds of waiting per partition")
    ax.set_ylabel("partitions N")
    ax.set_title(title or "fastest strategy (text: its lead over the runner-up; pale: a tie)")
    ax.legend(
        handles=[Patch(color=cmap(COLOURS[s]), label=s) for s in STRATEGIES],
        loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8,
    )  # fmt: skip
    return ax


def plot_predicted_vs_measured(points: pd.DataFrame, ax=None):
    """Predicted against measured makespan, one dot per trial, log-log, with the +-30 % band."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5.5), layout="constrained")
    cmap = plt.get_cmap("tab10")
    for strategy, group in points.groupby("strategy", sort=False):
        ax.scatter(group["measured_s"], group["predicted_s"], label=strategy, color=cmap(COLOURS[strategy]))
    low = min(points["measured_s"].min(), points["predicted_s"].min()) * 0.8
    high = max(points["measured_s"].max(), points["predicted_s"].max()) * 1.2
    line = [low, high]
    ax.plot(line, line, "k-", linewidth=0.8, label="predicted = measured")
    ax.fill_between(line, [v * 0.7 for v in line], [v * 1.3 for v in line], color="grey", alpha=0.15,
                    label="within 30 %")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured makespan (s)")
    ax.set_ylabel("predicted makespan (s)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax


def plot_terms(table: pd.DataFrame, ax=None):
    """`compare`'s table as stacked bars: what each strategy's predicted makespan is made of."""
    from lab.plots import stacked_bars

    parts = ["start_s", "work_s", "orchestration_s", "cpu_contention_s"]
    return stacked_bars(table.set_index("strategy")[parts], "predicted seconds", ax=ax, width=8)
