"""The growth study's tables, charts and bottleneck verdicts, from its saved trials (lab.bench.growth).

    write(out)            tables.md, growth.png and cores.png in `out`; returns the markdown
    growth_table(trials)  per workload, strategy and N: makespan, overhead, CPU, bounds
    where_table(trials)   per workload, strategy and N: where the time and the CPU went
    bottlenecks(trials)   per workload and strategy: what holds the largest N back, and the evidence
    cores_table(trials)   the cores study: makespan against P, wave bound and CPU bound

Every figure is a median over a point's verified trials, with min..max where there are several.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from lab.bench.metrics import spread  # noqa: E402

KEYS = ["workload", "strategy", "partitions"]
# The parts of Airflow whose CPU is shown per task instance (lab.bench.cpu; the columns of a trial).
CPU_PARTS = ["tasks", "executor", "scheduler", "api_server", "dag_processor"]
SATURATED = 0.85  # the machine's cores this busy on average over a trial: CPU caps it


def load(out: Path) -> tuple[dict, pd.DataFrame]:
    meta = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    return meta, pd.read_csv(out / "trials.csv")


def _derived(trials: pd.DataFrame) -> pd.DataFrame:
    """The verified trials with shares: the scheduler's share of one core, the machine's and the
    lab's (tasks + Airflow) busy share of every core, CPU seconds per task instance by part."""
    good = trials[trials["verified"].astype(bool)].copy()
    if good.empty:
        return good
    # CPU was read over cpu_window_s (trigger to runs seen finished), a little past the makespan.
    window = good["cpu_window_s"] if "cpu_window_s" in good else good["makespan_s"]
    good["scheduler_core_share"] = good["cpu_scheduler_s"] / window
    good["machine_busy_share"] = good["cpu_machine_s"] / (good["cores"] * window)
    good["lab_busy_share"] = good["cpu_s"] / (good["cores"] * window)
    for part in CPU_PARTS:
        good[f"cpu_per_ti_{part}_s"] = good[f"cpu_{part}_s"] / good["task_instances"]
    return good


def growth_table(trials: pd.DataFrame, study: str = "growth") -> pd.DataFrame:
    good = _derived(trials[trials["study"] == study])
    rows = []
    for (workload, strategy, n), g in good.groupby(KEYS, sort=False):
        rows.append(
            {
                "workload": workload,
                "strategy": strategy,
                "N": int(n),
                "trials": len(g),
                "task instances": int(g["task_instances"].median()),
                "makespan s": spread(g["makespan_s"]),
                "overhead / task s": spread(g["overhead_per_task_s"], 2),
                "slot overhead / task s": spread(g["slot_overhead_per_task_s"], 2),
                "effective parallelism": spread(g["effective_parallelism"]),
                "scheduler CPU s": spread(g["cpu_scheduler_s"]),
                "tasks + Airflow CPU s": spread(g["cpu_s"]),
                "wave bound s": spread(g["ideal_s"]),
                "CPU bound s": spread(g["cpu_bound_s"]),
                "efficiency vs max bound": spread(g["efficiency_vs_bound"], 2),
                "larger bound": "/".join(sorted(set(g["bound"]))),
            }
        )
    return pd.DataFrame(rows)


def pivot(trials: pd.DataFrame, column: str, digits: int = 1, study: str = "growth") -> pd.DataFrame:
    """One row per workload and strategy, one column per N: `column`'s median (min..max); '–' not measured."""
    good = _derived(trials[trials["study"] == study])
    if good.empty:
        return pd.DataFrame()
    cells = good.groupby(["workload", "strategy", "partitions"], sort=False)[column].apply(
        lambda values: spread(values, digits)
    )
    table = cells.unstack("partitions").fillna("–")
    table.columns = [f"N={n}" for n in table.columns]
    return table.reset_index()


def where_table(trials: pd.DataFrame, study: str = "growth") -> pd.DataFrame:
    """Medians per point: the head (launch request, first instance queued, map expansion), the
    phases of an instance's cycle through a slot, the busy shares and CPU per task instance."""
    good = _derived(trials[trials["study"] == study])
    columns = {
        "launch_s": "launch request s",
        "first_queued_s": "first queued s",
        "expansion_s": "expansion s",
        "median_queued_s": "queued s",
        "median_startup_s": "start-up s",
        "median_finish_s": "finish s",
        "mean_slot_gap_s": "slot gap s",
        "scheduler_core_share": "scheduler, share of a core",
        "machine_busy_share": "machine busy share",
        "lab_busy_share": "lab busy share",
        **{f"cpu_per_ti_{p}_s": f"CPU/TI {p} s" for p in CPU_PARTS},
    }
    present = [c for c in columns if c in good]
    table = good.groupby(KEYS, sort=False)[present].median().round(3).reset_index()
    return table.rename(columns={"partitions": "N", **columns})


def verdict(row: pd.Series) -> tuple[str, str]:
    """(the bottleneck, the evidence) of one point's medians (a row of `_derived`'s columns)."""
    parts = {p: row[f"cpu_per_ti_{p}_s"] for p in CPU_PARTS}
    biggest = max(parts, key=parts.get)
    cpu_text = ", ".join(f"{p} {v:.2f}" for p, v in sorted(parts.items(), key=lambda kv: -kv[1]))
    busy = row["machine_busy_share"]
    if busy >= SATURATED:
        name = f"the cores: the machine was {busy:.0%} busy, most of it {biggest}"
    elif row["scheduler_core_share"] >= 0.8:
        name = f"the scheduler's loop: it kept {row['scheduler_core_share']:.0%} of a core busy"
    else:

        def seconds(column: str) -> float:  # NaN: no such phase (one instance per slot has no slot gap)
            value = row.get(column, float("nan"))
            return 0.0 if pd.isna(value) else float(value)

        cycle = {
            "the scheduler queueing a freed slot (slot gap)": seconds("mean_slot_gap_s"),
            "the executor's hand-off (queued)": seconds("median_queued_s"),
            "the task process's start-up and finish": seconds("median_startup_s")
            + seconds("median_finish_s"),
        }
        name = max(cycle, key=cycle.get)
    evidence = (
        f"machine busy {busy:.0%} (the lab's own {row['lab_busy_share']:.0%}), "
        f"scheduler {row['scheduler_core_share']:.0%} of a core; per task instance: "
        f"slot gap {row.get('mean_slot_gap_s', float('nan')):.2f} s, queued "
        f"{row.get('median_queued_s', float('nan')):.2f} s, "
        f"start-up {row.get('median_startup_s', float('nan')):.2f} s, "
        f"finish {row.get('median_finish_s', float('nan')):.2f} s; CPU s per task instance: {cpu_text}"
    )
    if pd.notna(row.get("expansion_s")):
        evidence += f"; map expansion {row['expansion_s']:.2f} s"
    if pd.notna(row.get("launch_s")) and row.get("runs", 1) > 1:
        evidence += f"; creating the {int(row['runs'])} runs (the backfill request) {row['launch_s']:.1f} s"
    return name, evidence


def bottlenecks(trials: pd.DataFrame, study: str = "growth") -> pd.DataFrame:
    """Per workload and strategy, at its smallest and largest N measured: what caps it, and why."""
    good = _derived(trials[trials["study"] == study])
    numeric = good.select_dtypes("number").columns.difference(["partitions"])
    rows = []
    for (workload, strategy), g in good.groupby(["workload", "strategy"], sort=False):
        points = g.groupby("partitions")[list(numeric)].median()
        for n in sorted({points.index.min(), points.index.max()}):
            name, evidence = verdict(points.loc[n])
            rows.append(
                {
                    "workload": workload,
                    "strategy": strategy,
                    "N": int(n),
                    "bottleneck": name,
                    "evidence": evidence,
                }
            )
    return pd.DataFrame(rows)


def cores_table(trials: pd.DataFrame) -> pd.DataFrame:
    good = _derived(trials[trials["study"] == "cores"])
    rows = []
    for (workload, p), g in good.groupby(["workload", "parallelism"], sort=True):
        base = good.loc[(good["workload"] == workload) & (good["parallelism"] == good["parallelism"].min())]
        rows.append(
            {
                "workload": workload,
                "P": int(p),
                "trials": len(g),
                "makespan s": spread(g["makespan_s"]),
                "speedup vs lowest P": round(base["makespan_s"].median() / g["makespan_s"].median(), 2),
                "wave bound s": spread(g["ideal_s"]),
                "CPU bound s": spread(g["cpu_bound_s"]),
                "larger bound": "/".join(sorted(set(g["bound"]))),
                "efficiency vs max bound": spread(g["efficiency_vs_bound"], 2),
                "machine busy": spread(100 * g["machine_busy_share"], 0, " %"),
                "task CPU s": spread(g["cpu_tasks_s"]),
            }
        )
    return pd.DataFrame(rows)


def skipped(trials: pd.DataFrame) -> pd.DataFrame:
    """The points not measured: cut before running (`skipped`) or failed (`error`), with why."""
    why = pd.Series("", index=trials.index)
    for column in ("skipped", "error"):
        if column in trials:
            text = trials[column].astype(object).fillna("").astype(str)  # all empty: read back as NaN floats
            why = why.where(text == "", (column.replace("skipped", "cut") + ": ") + text)
    cut = trials[why != ""].assign(why=why[why != ""])
    return cut[["study", "workload", "strategy", "partitions", "parallelism", "why"]]


# ---------------------------------------------------------------- charts


def growth_chart(trials: pd.DataFrame):
    """Log-log: makespan, overhead per task instance and the scheduler's CPU seconds against N."""
    good = _derived(trials[trials["study"] == "growth"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), layout="constrained")
    metrics = [
        ("makespan_s", "makespan (s)"),
        ("overhead_per_task_s", "overhead per task instance (s)"),
        ("cpu_scheduler_s", "scheduler CPU (s)"),
    ]
    styles = ["-", "--", ":", "-."]
    workloads = list(dict.fromkeys(good["workload"]))
    colours = {s: plt.get_cmap("tab10")(i) for i, s in enumerate(dict.fromkeys(good["strategy"]))}
    for ax, (column, label) in zip(axes, metrics, strict=True):
        for (workload, strategy), g in good.groupby(["workload", "strategy"], sort=False):
            m = g.groupby("partitions")[column].agg(["median", "min", "max"])
            ax.errorbar(
                m.index,
                m["median"],
                yerr=[m["median"] - m["min"], m["max"] - m["median"]],
                color=colours[strategy],
                linestyle=styles[workloads.index(workload) % len(styles)],
                marker="o",
                capsize=3,
                label=f"{strategy}, {workload}",
            )
        if column == "makespan_s":
            for workload, g in good.groupby("workload", sort=False):
                bound = g.groupby("partitions")["bound_s"].median()
                ax.plot(
                    bound.index, bound, color="grey", linestyle=styles[workloads.index(workload) % 4], lw=1
                )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(f"partitions N (P = {good['parallelism'].max()})" if len(good) else "N")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_title("makespan (grey: max(wave, CPU bound))")
    axes[1].set_title("(time in tasks - work) / instances")
    axes[2].set_title("scheduler process CPU during the trial")
    axes[0].legend(fontsize=7)
    return fig


def cores_chart(trials: pd.DataFrame):
    """The cores study: makespan against P, the wave bound and the CPU bound, per workload."""
    good = _derived(trials[trials["study"] == "cores"])
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for i, (workload, g) in enumerate(good.groupby("workload", sort=False)):
        colour = plt.get_cmap("tab10")(i)
        m = g.groupby("parallelism")[["makespan_s", "ideal_s", "cpu_bound_s"]].median()
        spread = g.groupby("parallelism")["makespan_s"].agg(["min", "max"])
        ax.errorbar(
            m.index,
            m["makespan_s"],
            yerr=[m["makespan_s"] - spread["min"], spread["max"] - m["makespan_s"]],
            color=colour,
            marker="o",
            capsize=3,
            label=f"{workload}: makespan",
        )
        ax.plot(m.index, m["ideal_s"], color=colour, linestyle="--", lw=1, label=f"{workload}: wave bound")
        ax.plot(
            m.index, m["cpu_bound_s"], color=colour, linestyle=":", lw=1.5, label=f"{workload}: CPU bound"
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(good["parallelism"].unique()) if len(good) else [1])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("P (pool slots)")
    ax.set_ylabel("seconds")
    ax.set_title(
        f"dynamic_mapping, N = {int(good['partitions'].max()) if len(good) else '?'}: cores vs waiting"
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def write(out: Path) -> str:
    """tables.md and the charts of a saved run; returns the markdown."""
    meta, trials = load(out)
    parts = []
    if meta.get("workloads"):
        parts += ["Workloads (t_partition: one partition in-process, median):", ""]
        parts += [
            f"- {name}: {w['events_per_partition']} events, latency {w['latency_s']} s, "
            f"t_partition {w['t_partition_s']:.3f} s ({w['what']})"
            for name, w in meta["workloads"].items()
        ]
        parts.append("")
    sections = [
        ("Makespan, s, against N", pivot(trials, "makespan_s")),
        (
            "Effective parallelism (time in tasks / makespan) against N",
            pivot(trials, "effective_parallelism"),
        ),
        ("Scheduler CPU, s, against N", pivot(trials, "cpu_scheduler_s")),
        (
            f"How the cost grows (P = {meta.get('config', {}).get('parallelism', '?')})",
            growth_table(trials),
        ),
        ("Where the time and the CPU went (medians)", where_table(trials)),
        ("What caps each strategy at its smallest and largest N", bottlenecks(trials)),
        ("Cores against waiting (dynamic_mapping)", cores_table(trials)),
        ("Points not measured: cut, or refused by Airflow", skipped(trials)),
    ]
    for title, table in sections:
        if len(table):
            parts += [f"## {title}", "", table.to_markdown(index=False), ""]
    for name, chart in (("growth", growth_chart), ("cores", cores_chart)):
        study = "growth" if name == "growth" else "cores"
        if (trials.get("study") == study).any() and trials.loc[trials["study"] == study, "verified"].any():
            fig = chart(trials)
            fig.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
            plt.close(fig)
    text = "\n".join(parts)
    (out / "tables.md").write_text(text + "\n")
    return text
