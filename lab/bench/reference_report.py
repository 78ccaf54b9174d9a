"""The README's reference block and chart, from a saved `make bench-reference` run (lab.bench.reference).

    lab bench --readme data/benchmarks/reference-<time>    rewrite the README block from a saved run

Per profile and strategy: the median makespan with min..max over the rounds, the bound columns
every trial has (`lab.bench.metrics`), and the speedups as ratios within a round (the loop's or
the backfill's makespan / mapping's, in the same round on the same Airflow), median with
min..max. Two spreads that overlap are reported as "no measurable difference", never as a win.
Only the text between README_START and README_END is rewritten; the chart is copied to
docs/benchmark/.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from lab.bench import metrics
from lab.bench.metrics import NO_DIFFERENCE, overlaps, spread
from lab.bench.reference import PROFILES
from lab.bench.strategies import BACKFILL_BASELINE, BASELINE, HEADLINE

README_START = "<!-- bench-results:start -->"
README_END = "<!-- bench-results:end -->"
CHART = "reference_makespan.png"  # the chart the README shows
DOCS_DIR = Path("docs") / "benchmark"


def verified(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials whose output verified (a fast wrong run must not count)."""
    return trials[trials["verified"].astype(bool)] if len(trials) else trials


def round_ratios(trials: pd.DataFrame, profile: str, strategy: str, baseline: str) -> pd.Series:
    """baseline's makespan / strategy's, per round of `profile` where both verified: how many times
    as fast `strategy` ran as `baseline` in that round."""
    good = verified(trials)
    good = good[good["profile"] == profile]
    by_round = good.pivot_table(index="round", columns="strategy", values="makespan_s", aggfunc="median")
    if strategy not in by_round or baseline not in by_round:
        return pd.Series(dtype=float)
    return (by_round[baseline] / by_round[strategy]).dropna()


def compare_text(trials: pd.DataFrame, profile: str, strategy: str, baseline: str) -> str:
    """'3.10x (2.80..3.40) as fast as the loop', and 'no measurable difference' when the two
    strategies' makespans overlap (min..max over the rounds)."""
    ratios = round_ratios(trials, profile, strategy, baseline)
    if ratios.empty:
        return f"not compared with {baseline} (no round where both verified)"
    good = verified(trials)
    good = good[good["profile"] == profile]
    a = good.loc[good["strategy"] == strategy, "makespan_s"]
    b = good.loc[good["strategy"] == baseline, "makespan_s"]
    text = f"{spread(ratios, 2, 'x')} as fast as {baseline}"
    if overlaps(a, b):
        return f"{text}: {NO_DIFFERENCE} (makespans overlap)"
    return text + (", faster in every round" if ratios.min() > 1 else ", slower in every round")


def profile_table(trials: pd.DataFrame, profile: str) -> pd.DataFrame:
    """One row per strategy of `profile`: makespan median (min..max), bounds, speedups within rounds."""
    good = verified(trials)
    runs = trials[trials["profile"] == profile]
    summary = metrics.summarize(runs[runs["strategy"].notna()], baselines={})
    rows = []
    for row in summary.to_dict("records"):
        makespans = good.loc[
            (good["profile"] == profile) & (good["strategy"] == row["strategy"]), "makespan_s"
        ]
        cells = {
            "strategy": row["strategy"],
            "trials": f"{row['trials']}" + (f" ({row['failed']} failed)" if row["failed"] else ""),
            "makespan s, median (min..max)": spread(makespans),
            "task instances": f"{row['task_instances']:.0f}",
            "overhead / task s": f"{row['overhead_per_task_s']:.2f}",
            "efficiency (wave bound)": f"{row['efficiency']:.2f}",
            "CPU bound s": _number(row.get("cpu_bound_s"), "{:.1f}"),
            "bound": row.get("bound") or "–",
            "efficiency vs bound": _number(row.get("efficiency_vs_bound"), "{:.2f}"),
        }
        for base, name in ((BASELINE, "vs loop"), (BACKFILL_BASELINE, "vs backfill")):
            ratios = round_ratios(trials, profile, row["strategy"], base)
            cells[f"speedup {name}, per round"] = spread(ratios, 2, "x")
        rows.append(cells)
    return pd.DataFrame(rows)


def profiles_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: each profile's makespan, and the lab profile against the default one."""
    good = verified(trials)
    rows = []
    for strategy in trials["strategy"].dropna().unique():
        runs = {
            p: good.loc[(good["profile"] == p) & (good["strategy"] == strategy), "makespan_s"]
            for p in PROFILES
        }
        row = {"strategy": strategy}
        for p in PROFILES:
            row[f"{p} profile: makespan s"] = spread(runs[p])
        lab, default = runs["lab"], runs["default"]
        if len(lab) and len(default):
            ratio = f"{lab.median() / default.median():.2f}x"
            row["lab / default (medians)"] = ratio + (f": {NO_DIFFERENCE}" if overlaps(lab, default) else "")
        else:
            row["lab / default (medians)"] = "–"
        rows.append(row)
    return pd.DataFrame(rows)


def _number(value, fmt: str) -> str:
    return "–" if value is None or pd.isna(value) else fmt.format(value)


def _table(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "|".join("---" for _ in df.columns) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def load(out: Path) -> tuple[dict, pd.DataFrame]:
    """A saved reference run: (reference.json, the trials of results.csv)."""
    if not (out / "reference.json").exists():
        raise FileNotFoundError(
            f"{out} is not a `make bench-reference` run (it has no reference.json); run `make bench-reference`"
        )
    return json.loads((out / "reference.json").read_text()), pd.read_csv(out / "results.csv")


def readme_block(meta: dict, trials: pd.DataFrame, chart: str | None) -> str:
    """The README's reference block (markers included) from a saved run."""
    p, m, v = meta["parameters"], meta["machine"], meta["versions"]
    loads = trials["load_1min"].dropna() if "load_1min" in trials else pd.Series(dtype=float)
    load_text = f"{loads.min():.1f}..{loads.max():.1f}" if len(loads) else "not recorded"
    wave = metrics.ideal_seconds(p["partitions"], p["parallelism"], meta["t_partition_s"])
    lines = [
        README_START,
        f"Reference run of {meta['started_at'][:16].replace('T', ' ')} UTC"
        + (f" ({meta['elapsed_s'] / 60:.0f} minutes)" if "elapsed_s" in meta else "")
        + f" on {m['cpu_model']}, {m['cores_logical']} logical cores, {m['memory_gib']} GiB; "
        f"load average (1 min) {load_text} during the trials; Airflow {v['apache-airflow']}, "
        f"LocalExecutor, DuckDB {v['duckdb']}. Parameters: partitions={p['partitions']}, "
        f"events_per_partition={p['events_per_partition']}, latency_s={p['latency_s']:g}, "
        f"parallelism={p['parallelism']}, chunk_size={p['chunk_size']}; {p['rounds']} rounds, each "
        "starting Airflow once per profile (`lab`, the tuned one `make lab` runs, and `default`, "
        "Airflow's own settings; alternating which goes first) and running every strategy once on it. "
        f"Medians, min..max over the rounds. t_partition (one partition in-process) = "
        f"{meta['t_partition_s']:.2f} s; wave bound ceil(N/P) x t_partition = {wave:.1f} s.",
        "",
    ]
    for profile in PROFILES:
        if not len(verified(trials[trials["profile"] == profile])):
            lines += [f"**{profile} profile**: no verified trial.", ""]
            continue
        lines += [
            f"**{profile} profile**: dynamic_mapping ran "
            f"{compare_text(trials, profile, HEADLINE, BASELINE)}, and "
            f"{compare_text(trials, profile, HEADLINE, BACKFILL_BASELINE)}.",
            "",
            _table(profile_table(trials, profile)),
            "",
        ]
    lines += [
        "Both profiles side by side (makespan s, median (min..max)):",
        "",
        _table(profiles_table(trials)),
        "",
    ]
    if chart:
        lines += [f"![makespan per strategy and profile, median with min..max]({chart})", ""]
    lines += [
        "Speedups are ratios within a round (the baseline's makespan / the strategy's, same round, same "
        'Airflow); "no measurable difference" where the two makespans\' min..max overlap (a ratio shown '
        "without it compares spreads that do not overlap). The sweep over "
        "parallelism is not part of this run (it would double its length): lesson 04 and `make bench "
        'PARAMS="-p sweep 1,2,4,8"` run it. Regenerate with `make bench-reference` (about '
        f"{5 * round(meta.get('elapsed_s', 1800) / 300)} minutes, on a quiet machine), or only this "
        "block from a saved run with `lab bench --readme data/benchmarks/reference-<time>`.",
        README_END,
    ]
    return "\n".join(lines)


def chart(trials: pd.DataFrame, wave_s: float, path: Path, title: str = "") -> Path:
    """Makespan per strategy, one bar per profile, median with min..max as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = verified(trials)
    strategies = list(trials["strategy"].dropna().unique())
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.6 * len(strategies)), layout="constrained")
    height = 0.8 / len(PROFILES)
    for i, profile in enumerate(PROFILES):
        stats = (
            good[good["profile"] == profile].groupby("strategy")["makespan_s"].agg(["median", "min", "max"])
        )
        stats = stats.reindex(strategies)
        y = [k + (i - (len(PROFILES) - 1) / 2) * height for k in range(len(strategies))]
        err = [(stats["median"] - stats["min"]).clip(lower=0), (stats["max"] - stats["median"]).clip(lower=0)]
        ax.barh(y, stats["median"], height, xerr=err, capsize=3, label=f"{profile} profile", alpha=0.85)
    ax.axvline(wave_s, color="black", linestyle="--", linewidth=1, label="wave bound ceil(N/P) x t_partition")
    ax.set_yticks(range(len(strategies)), strategies)
    ax.invert_yaxis()
    ax.set_xlabel("makespan (s), median with min..max over the rounds")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def update_readme(out: Path, repo_root: Path | None = None) -> int:
    """Write the chart and report.md into the saved run `out`, copy the chart to docs/benchmark/ and
    rewrite the README's block between its markers (nothing else)."""
    from lab.config import REPO_ROOT

    root = repo_root or REPO_ROOT
    readme = root / "README.md"
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        print(f"ERROR: README.md has no {README_START} ... {README_END} block to fill", file=sys.stderr)
        return 1
    try:
        meta, trials = load(out)
    except FileNotFoundError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    p = meta["parameters"]
    wave = metrics.ideal_seconds(p["partitions"], p["parallelism"], meta["t_partition_s"])
    (root / DOCS_DIR).mkdir(parents=True, exist_ok=True)
    title = (
        f"{p['partitions']} partitions, P = {p['parallelism']}, latency {p['latency_s']:g} s, "
        f"{p['events_per_partition']} events each: {p['rounds']} rounds per profile"
    )
    shutil.copyfile(chart(trials, wave, out / CHART, title), root / DOCS_DIR / CHART)
    block = readme_block(meta, trials, f"{DOCS_DIR.as_posix()}/{CHART}")
    (out / "report.md").write_text(block + "\n")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(head + block + tail)
    print(f"README.md reference block rewritten from {out}; chart {DOCS_DIR.as_posix()}/{CHART}")
    return 0
