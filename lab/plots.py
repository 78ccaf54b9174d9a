"""Charts for the lessons: a Gantt chart of task instances (lanes = slots running at once), and the
benchmark's charts (a Gantt chart per strategy, bars per strategy, speedup against parallelism)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.patches import Patch

from lab.timeline import assign_lanes


def gantt(
    tis: pd.DataFrame,
    label: str = "rendered_map_index",
    title: str = "",
    ax=None,
    t0: pd.Timestamp | None = None,
    colours: dict | None = None,
    text: str | None = None,
):
    """One bar per task instance, on the lane (slot) it ran in; x = seconds since the first start.

    `label` names the column that colours and labels the bars (a partition, a task id ...).
    `t0`, when given, is where x = 0 is instead (e.g. the moment the run was triggered);
    `colours` (label -> colour) keeps colours the same across several charts; `text`, when
    given, names another column to write on the bars (colour by run, text the partition).
    """
    laned = assign_lanes(tis)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.5 + 0.45 * max(1, laned["lane"].max() + 1 if len(laned) else 1)))
    if laned.empty:
        ax.set_title(f"{title} (nothing ran)")
        return ax
    since_trigger = t0 is not None
    t0 = t0 if since_trigger else laned["start_date"].min()
    labels = (
        laned[label].fillna(laned["task_id"]).astype(str) if label in laned else laned["task_id"].astype(str)
    )
    palette = plt.get_cmap("tab20")
    own = {name: palette(i % 20) for i, name in enumerate(dict.fromkeys(labels))}
    colours = {**own, **(colours or {})}
    texts = labels if text is None else laned[text].fillna(laned["task_id"]).astype(str)
    for row, name, words in zip(laned.itertuples(), labels, texts, strict=False):
        start = (row.start_date - t0).total_seconds()
        width = max((row.end_date - row.start_date).total_seconds(), 0.05)
        ax.barh(row.lane, width, left=start, color=colours[name], edgecolor="black", linewidth=0.4)
        if len(laned) <= 24:
            ax.text(
                start + width / 2,
                row.lane,
                words.replace("Partition: ", ""),
                ha="center",
                va="center",
                fontsize=7,
            )
    ax.set_yticks(range(laned["lane"].max() + 1))
    ax.set_yticklabels([f"slot {i + 1}" for i in range(laned["lane"].max() + 1)])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the trigger" if since_trigger else "seconds since the first task started")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return ax


def runs_gantt(tis: pd.DataFrame, by: str = "run", title: str = "", ax=None):
    """Task instances of several runs on one timeline: one colour per `by` value (with a legend),
    each bar labelled with its partition, or the first word of its task id ("plan") when unmapped."""
    names = list(dict.fromkeys(tis[by].astype(str)))
    palette = plt.get_cmap("tab10")
    colours = {name: palette(i % 10) for i, name in enumerate(names)}
    words = tis["rendered_map_index"].fillna(tis["task_id"].str.split("_").str[0])
    ax = gantt(
        tis.assign(**{by: tis[by].astype(str), "_text": words}),
        label=by,
        colours=colours,
        title=title,
        ax=ax,
        text="_text",
    )
    ax.legend(
        handles=[Patch(color=colours[name], label=name) for name in names],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
    )
    return ax


# ---------------------------------------------------------------- the strategy benchmark (lab.bench)


def strategy_gantts(
    timelines: dict[str, pd.DataFrame], t0s: dict[str, pd.Timestamp] | None = None, title: str = ""
):
    """One Gantt chart per strategy, stacked on a shared time axis (x = seconds since each trigger).

    `timelines` maps a strategy to its task instances, which need a `label` column (the
    partition or chunk each instance worked on: the bar's colour and text).
    """
    lanes = [
        1 + assign_lanes(t)["lane"].max() if len(t.dropna(subset=["start_date", "end_date"])) else 1
        for t in timelines.values()
    ]
    # Fixed inches per lane and per gap (for each chart's title), whatever the number of charts.
    lane_in, gap_in, margin_in = 0.32, 0.45, 0.8
    axes_in = [lane_in * n + 0.15 for n in lanes]
    height = sum(axes_in) + gap_in * (len(lanes) - 1) + margin_in
    fig, axes = plt.subplots(
        len(timelines),
        1,
        sharex=True,
        squeeze=False,
        figsize=(10, height),
        gridspec_kw={"height_ratios": axes_in, "hspace": gap_in / (sum(axes_in) / len(axes_in))},
    )
    fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.3 / height, bottom=0.5 / height)
    # Colour = partition, the same in every chart; planning tasks and loops over several
    # partitions are grey.
    names = sorted(
        {str(v) for t in timelines.values() for v in t.get("label", pd.Series(dtype=str)).dropna()}
    )
    dated = [n for n in names if n[:4].isdigit()]
    palette = plt.get_cmap("tab20")
    colours = {n: (palette(dated.index(n) % 20) if n in dated else (0.75, 0.75, 0.75, 1.0)) for n in names}
    for ax, (name, tis) in zip(axes[:, 0], timelines.items(), strict=False):
        gantt(tis, label="label", title="", ax=ax, t0=(t0s or {}).get(name), colours=colours)
        ax.set_title(name, loc="left", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    ends = [
        (t["end_date"].max() - (t0s or {}).get(n, t["start_date"].min())).total_seconds()
        for n, t in timelines.items()
        if t["end_date"].notna().any()
    ]
    if ends:
        axes[0, 0].set_xlim(0, max(ends) * 1.02)  # shared by all: set once, after every bar is drawn
    for ax in axes[:-1, 0]:
        ax.set_xlabel("")
    if title:
        fig.suptitle(title)
    return fig


def strategy_bars(
    summary: pd.DataFrame,
    column: str,
    xlabel: str,
    spread: tuple[str, str] | None = None,
    reference: float | None = None,
    reference_label: str = "",
    ax=None,
):
    """Horizontal bars, one per strategy (`summary` has a `strategy` column), optionally with the
    spread over repeats as error bars (`spread` = the min and max columns) and a reference line."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.6 + 0.42 * len(summary)))
    values = summary[column].astype(float)
    xerr = None
    if spread:
        low, high = summary[spread[0]].astype(float), summary[spread[1]].astype(float)
        xerr = [(values - low).clip(lower=0), (high - values).clip(lower=0)]
    ax.barh(summary["strategy"], values, xerr=xerr, color=plt.get_cmap("tab10")(0), alpha=0.85, capsize=3)
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:.2f}", va="center", fontsize=8)
    if reference is not None:
        ax.axvline(reference, color="black", linestyle="--", linewidth=1, label=reference_label or None)
        if reference_label:
            ax.legend(loc="lower right", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    return ax


def makespan_and_efficiency(summary: pd.DataFrame):
    """The benchmark's two bar charts side by side: makespan (with the spread over repeats and the
    ideal line ceil(N/P) x t_partition) and efficiency (ideal / makespan, 1.0 = the ideal)."""
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, 0.8 + 0.45 * len(summary)), sharey=True, layout="constrained"
    )
    strategy_bars(
        summary,
        "makespan_s",
        "makespan (s), median with min..max",
        spread=("makespan_min_s", "makespan_max_s"),
        reference=float(summary["ideal_s"].iloc[0]),
        reference_label="ideal: ceil(N/P) x t_partition",
        ax=left,
    )
    strategy_bars(summary, "efficiency", "efficiency = ideal / makespan", reference=1.0, ax=right)
    return fig


def overhead_phases(phases: pd.DataFrame, ax=None):
    """Median seconds per phase of a task instance, stacked, one bar per strategy
    (`phases` as `lab.bench.overhead.phase_summary` gives it)."""
    order = ["scheduled_s", "queued_s", "startup_s", "function_s", "finish_s"]
    table = phases[phases["phase"].isin(order)].pivot(index="strategy", columns="phase", values="median")
    table = table.reindex(columns=order).reindex(phases["strategy"].drop_duplicates()).fillna(0)
    return stacked_bars(
        table,
        "seconds, median task instance (scheduled -> queued -> started -> code -> return -> ended)",
        ax=ax,
        row_height=0.45,
    )


def stacked_bars(table: pd.DataFrame, xlabel: str, ax=None, width: float = 9, row_height: float = 0.5):
    """One horizontal bar per row of `table` (top to bottom), its columns stacked: seconds by part."""
    if ax is None:
        _, ax = plt.subplots(figsize=(width, 0.9 + row_height * len(table)), layout="constrained")
    table.plot.barh(stacked=True, ax=ax, colormap="tab10", width=0.7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return ax


def speedup_vs_parallelism(sweep: pd.DataFrame, ax=None):
    """Measured speedup over the sequential loop against P, per strategy, with the ideal N / ceil(N / P)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    ideal = sweep.drop_duplicates("parallelism").sort_values("parallelism")
    ax.plot(ideal["parallelism"], ideal["ideal_speedup"], "k--", marker=".", label="ideal: N / ceil(N / P)")
    for name, group in sweep.groupby("strategy", sort=False):
        group = group.sort_values("parallelism")
        ax.plot(group["parallelism"], group["speedup"], marker="o", label=name)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ideal["parallelism"].tolist(), [str(p) for p in ideal["parallelism"]])
    ax.set_xlabel("parallelism P (pool slots)")
    ax.set_ylabel("speedup over sequential_loop")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
