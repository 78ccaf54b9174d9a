"""Where a task instance's time goes: Airflow's records and the task's own clock, taken apart.

Every task instance passes through a chain of moments, each taken from whoever knows it:

    scheduled_when   the scheduler made it runnable (upstream done, or its run's map expanded)
    queued_when      the scheduler gave it a pool slot and handed it to the executor
    start_date       its supervisor (in a LocalExecutor worker) has forked the task process and
                     is about to tell the Execution API "running" (the process fork comes first)
    entered_at       the task function's first line ran (the task's report, lab.bench.workload)
    exited_at        the task function returned (the task's report)
    end_date         the task process recorded success, after pushing its XCom
    next queued_when the next instance taken into the pool slot this one freed

The phases are the gaps between consecutive moments (PHASES); the three inside a task
instance add up to Airflow's duration (end_date - start_date) exactly:

    scheduled_s    scheduled -> queued: waiting for a pool slot and a scheduler pass that queues it
    queued_s       queued -> started: executor hand-off, a worker picks it up, supervisor set-up, fork
    startup_s      started -> the task's code: Execution API `run` call, the DAG file re-parsed in
                   the new process, context and templates, mapped arguments pulled from XCom
    function_s     the task function: imports inside it, then the work (`work_s`: write_partition)
    finish_s       return -> ended: the return value pushed as an XCom through supervisor and API
    slot_gap_s     ended -> the next instance queued in the freed slot: until a scheduler pass sees
                   the slot free (NaN for the last instance in its slot)

Instances that report no timestamps (a mapping's planning task) keep their Airflow-side
phases; startup_s, function_s and finish_s stay NaN for them. All functions are pure: a
DataFrame of task instances in (UTC timestamps, as `lab.client.tis_frame` gives), a new one out.
"""

from __future__ import annotations

import pandas as pd

# The chain of moments, in order; each phase is the gap between two neighbours.
MOMENTS = ("scheduled_when", "queued_when", "start_date", "entered_at", "exited_at", "end_date")
PHASES = ("scheduled_s", "queued_s", "startup_s", "function_s", "finish_s", "slot_gap_s")
IN_TASK = ("startup_s", "function_s", "finish_s")  # these add up to end_date - start_date
REPORTED_TIMES = ("process_started_at", "entered_at", "exited_at")


def add_reports(tis: pd.DataFrame, reports: list[dict | None]) -> pd.DataFrame:
    """The task instances with what each reported (`lab.bench.workload.report`, or None), row by row.

    Adds `work_s` and the reported moments as UTC timestamps (NaT where nothing was reported).
    """
    if len(reports) != len(tis):
        raise ValueError(f"{len(reports)} reports for {len(tis)} task instances")
    out = tis.copy()
    out["work_s"] = [r.get("work_s") if r else None for r in reports]
    for column in REPORTED_TIMES:
        seconds = [r.get(column) if r else None for r in reports]
        out[column] = pd.to_datetime(pd.Series(seconds, index=out.index, dtype="float64"), unit="s", utc=True)
    return out


def _seconds(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds()


def assign_slots(tis: pd.DataFrame) -> pd.DataFrame:
    """Add `slot` (which pool slot) and `next_queued_when` (when the next instance took that slot).

    An instance holds its slot from queued to ended (the pool counts queued and running ones).
    In queued order, each takes the slot that has been free the longest, or a new one when
    none is free; the slot's next occupant is what ends this instance's `slot_gap_s`.
    """
    out = tis.copy()
    out["slot"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
    out["next_queued_when"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
    held = out.dropna(subset=["queued_when", "end_date"]).sort_values(["queued_when", "end_date"])
    slot_free_at: list[pd.Timestamp] = []  # per slot: when its last occupant ended
    last_in_slot: list = []  # per slot: index of its last occupant
    for index, row in held.iterrows():
        free = [s for s, at in enumerate(slot_free_at) if at <= row["queued_when"]]
        if free:
            slot = min(free, key=lambda s: slot_free_at[s])
            out.loc[last_in_slot[slot], "next_queued_when"] = row["queued_when"]
            slot_free_at[slot], last_in_slot[slot] = row["end_date"], index
        else:
            slot = len(slot_free_at)
            slot_free_at.append(row["end_date"])
            last_in_slot.append(index)
        out.loc[index, "slot"] = slot
    return out


def decompose(tis: pd.DataFrame) -> pd.DataFrame:
    """The task instances with one column per phase (PHASES), `duration_s` and two details.

    Details: `function_overhead_s` = function_s - work_s (what the function did besides the
    work: imports of a fresh process), `forked_before_start_s` = start_date - process_started_at
    (the fork is part of queued_s). Needs queued_when, start_date, end_date; uses
    scheduled_when and the reported moments when present.
    """
    out = assign_slots(tis)
    for column in MOMENTS + ("process_started_at",):
        if column not in out:
            out[column] = pd.NaT
        out[column] = pd.to_datetime(out[column], utc=True)
    for phase, (earlier, later) in zip(PHASES[:-1], zip(MOMENTS, MOMENTS[1:], strict=False), strict=True):
        out[phase] = _seconds(out[later], out[earlier])
    out["slot_gap_s"] = _seconds(out["next_queued_when"], out["end_date"])
    out["duration_s"] = _seconds(out["end_date"], out["start_date"])
    work = out["work_s"] if "work_s" in out else pd.Series(float("nan"), index=out.index)
    out["function_overhead_s"] = out["function_s"] - pd.to_numeric(work)
    out["forked_before_start_s"] = _seconds(out["start_date"], out["process_started_at"])
    return out


def in_task_residual_s(decomposed: pd.DataFrame) -> pd.Series:
    """duration_s minus the in-task phases: zero for every instance with a report (NaN without)."""
    return decomposed["duration_s"] - decomposed[list(IN_TASK)].sum(axis=1, min_count=len(IN_TASK))


def phase_summary(decomposed: pd.DataFrame, by: str | list[str] = "strategy") -> pd.DataFrame:
    """Median, min and max of every phase per group (rows: group x phase), over the instances that have it."""
    keys = [by] if isinstance(by, str) else list(by)
    columns = [*PHASES, "duration_s", "function_overhead_s", "forked_before_start_s"]
    long = decomposed.melt(id_vars=keys, value_vars=columns, var_name="phase", value_name="seconds")
    long = long.dropna(subset=["seconds"])
    table = long.groupby([*keys, "phase"], sort=False)["seconds"].agg(
        median="median", min="min", max="max", mean="mean", instances="size"
    )
    return table.reset_index()


def slot_overhead_per_task(decomposed: pd.DataFrame, triggered_at: pd.Timestamp, parallelism: int) -> float:
    """Slot-seconds not spent in a task function, per task instance: (P x makespan - sum function_s) / n.

    At P = 1 the slots are one chain, so this is the whole orchestration cost per instance: the
    issue's "overhead per task". Instances without a report (a planning task) count as overhead.
    """
    ran = decomposed.dropna(subset=["end_date"])
    if ran.empty:
        raise ValueError("no task instance of this trial has ended")
    makespan = (ran["end_date"].max() - triggered_at).total_seconds()
    in_functions = float(ran["function_s"].fillna(0).sum())
    return (parallelism * makespan - in_functions) / len(ran)


def serial_chain(decomposed: pd.DataFrame, triggered_at: pd.Timestamp) -> pd.DataFrame:
    """A P = 1 trial's makespan cut into consecutive pieces that add up to it exactly.

    One row per instance in start order: `lead_in_s` (the previous instance's end, or the
    trigger, to this one queued), then queued_s, startup_s, function_s, finish_s (or the whole
    duration_s for an instance without a report). Raises when instances overlapped.
    """
    ran = decomposed.dropna(subset=["queued_when", "start_date", "end_date"]).sort_values("start_date")
    previous_end = triggered_at
    rows = []
    for _, row in ran.iterrows():
        if row["queued_when"] < previous_end:
            raise ValueError("instances overlap: serial_chain is for trials at P = 1")
        pieces = {
            "lead_in_s": (row["queued_when"] - previous_end).total_seconds(),
            "queued_s": row["queued_s"],
        }
        if pd.isna(row["startup_s"]):
            pieces.update(startup_s=float("nan"), function_s=float("nan"), finish_s=float("nan"))
            pieces["unreported_s"] = row["duration_s"]
        else:
            pieces.update({p: row[p] for p in IN_TASK}, unreported_s=0.0)
        rows.append({"task_id": row.get("task_id"), "map_index": row.get("map_index"), **pieces})
        previous_end = row["end_date"]
    return pd.DataFrame(rows)
