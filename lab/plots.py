"""Charts for the lessons: a Gantt chart of task instances (lanes = slots running at once)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from lab.timeline import assign_lanes


def gantt(tis: pd.DataFrame, label: str = "rendered_map_index", title: str = "", ax=None):
    """One bar per task instance, on the lane (slot) it ran in; x = seconds since the first start.

    `label` names the column that colours and labels the bars (a partition, a task id ...).
    """
    laned = assign_lanes(tis)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.5 + 0.45 * max(1, laned["lane"].max() + 1 if len(laned) else 1)))
    if laned.empty:
        ax.set_title(f"{title} (nothing ran)")
        return ax
    t0 = laned["start_date"].min()
    labels = laned[label].fillna(laned["task_id"]).astype(str) if label in laned else laned["task_id"].astype(str)
    palette = plt.get_cmap("tab20")
    colours = {name: palette(i % 20) for i, name in enumerate(dict.fromkeys(labels))}
    for row, name in zip(laned.itertuples(), labels):
        start = (row.start_date - t0).total_seconds()
        width = max((row.end_date - row.start_date).total_seconds(), 0.05)
        ax.barh(row.lane, width, left=start, color=colours[name], edgecolor="black", linewidth=0.4)
        if len(laned) <= 24:
            ax.text(start + width / 2, row.lane, name.replace("Partition: ", ""), ha="center", va="center", fontsize=7)
    ax.set_yticks(range(laned["lane"].max() + 1))
    ax.set_yticklabels([f"slot {i + 1}" for i in range(laned["lane"].max() + 1)])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first task started")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return ax
