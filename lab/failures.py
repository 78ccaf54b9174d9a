"""Failure isolation, made visible: which partitions a run (re)wrote, the sequential loop to compare,
and a task killed in the middle of a write.

Checksums tell whether a partition's bytes changed, but a reload is idempotent: re-writing a
partition with the same input gives the same bytes. A *write stamp* (the Parquet file's inode
and modification time) tells whether a partition was written again at all, because every write
swaps in a new file.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lab import lake
from lab.config import settings
from lab.partitions import COUNTRY_TABLE, Partition


def write_stamps(table: str = COUNTRY_TABLE, lake_dir: str | Path | None = None) -> dict[str, tuple]:
    """partition -> (inode, mtime_ns) of each of its files: changes whenever the partition is written."""
    base = lake.table_dir(table, lake_dir)
    stamps = {}
    for partition, names in lake.partition_files(table, lake_dir).items():
        stats = [os.stat(base / partition / name) for name in names]
        stamps[partition] = tuple((s.st_ino, s.st_mtime_ns) for s in stats)
    return stamps


def rewritten(before: dict, after: dict) -> list[str]:
    """Partitions written between two `write_stamps` (new ones included), sorted."""
    return sorted(p for p, stamp in after.items() if before.get(p) != stamp)


def attempts(tis: pd.DataFrame, task_id: str = "write_partition") -> pd.DataFrame:
    """One row per mapped instance: its label, final state and how many tries it took."""
    mapped = tis[tis["task_id"] == task_id].sort_values("map_index")
    return pd.DataFrame(
        {
            "partition": mapped["rendered_map_index"].tolist(),
            "state": mapped["state"].tolist(),
            "tries": mapped["try_number"].astype(int).tolist(),
        }
    )


class LoopFailed(RuntimeError):
    """The sequential loop stopped at a partition; `written` says which ones it had done."""

    def __init__(self, key: str, written: list[str]):
        super().__init__(f"the loop stopped at {key} after writing {len(written)} partition(s)")
        self.written = written


def sequential_loop(
    partitions: list[Partition],
    events_per_partition: int,
    fail: set[str] | frozenset[str] = frozenset(),
    table: str = COUNTRY_TABLE,
    lake_dir: str | Path | None = None,
) -> list[str]:
    """The anti-pattern in miniature: one task that writes every partition in turn.

    A partition whose key ('2024-01-01/DE') is in `fail` raises, and the loop stops there:
    the partitions after it are not written, and the only way to finish is to run the
    whole task again, which re-writes the partitions that had already succeeded.
    Returns the keys of the partitions written.
    """
    written: list[str] = []
    for partition in partitions:
        if partition.key in fail:
            raise LoopFailed(partition.key, written)
        lake.write_partition(
            partition.event_date, events_per_partition, partition.country, table=table, lake_dir=lake_dir
        )
        written.append(partition.key)
    return written


# ---------------------------------------------------------------- a task killed mid-write


@dataclass(frozen=True)
class KilledWriter:
    """What `kill_mid_write` did: the task process it killed and the write it left unfinished."""

    pid: int
    staging_dir: Path  # the dead writer's private directory, outside the table
    partial_bytes: int  # the size its Parquet file had reached when the process was killed

    def leftovers(self) -> list[str]:
        """The dead writer's files still in its staging directory (until the next write sweeps them)."""
        if not self.staging_dir.exists():
            return []
        return sorted(str(p.relative_to(self.staging_dir)) for p in self.staging_dir.rglob("*.parquet"))


def staging_leftovers(table: str = COUNTRY_TABLE, lake_dir: str | Path | None = None) -> list[str]:
    """Every unfinished write's directory in the table's staging area (empty when nothing is writing)."""
    root = Path(lake_dir or settings().lake_dir) / lake.STAGING / table
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def kill_mid_write(
    table: str = COUNTRY_TABLE, timeout: float = 120.0, lake_dir: str | Path | None = None
) -> KilledWriter:
    """SIGKILL the lab Airflow's task process that is writing a partition of `table`, mid-write.

    Waits until a writer's Parquet file in the staging area has bytes (the COPY is under way),
    checks that its process (named by the staging directory, `<pid>-<uuid>`) belongs to the lab's
    own Airflow, and kills it the way an out-of-memory kill or a lost worker would: no cleanup.
    """
    import psutil

    from lab.airflow_local import lab_processes

    staging = Path(lake_dir or settings().lake_dir) / lake.STAGING / table
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for part in staging.glob("*/out/**/*.parquet") if staging.exists() else []:
            try:
                size = part.stat().st_size
            except FileNotFoundError:
                continue
            if size == 0:
                continue
            writer_dir = staging / part.relative_to(staging).parts[0]
            pid = int(writer_dir.name.split("-", 1)[0])
            if pid not in {p.pid for p in lab_processes(settings().airflow_home)}:
                raise RuntimeError(
                    f"process {pid} writing under {staging} is not a task of the lab's Airflow"
                )
            os.kill(pid, signal.SIGKILL)
            try:
                psutil.Process(pid).wait(timeout=30)
            except psutil.NoSuchProcess:
                pass
            return KilledWriter(pid=pid, staging_dir=writer_dir, partial_bytes=size)
        time.sleep(0.05)
    raise RuntimeError(
        f"no task started writing under {staging} within {timeout:g} s: "
        "trigger a run with a partition large enough to take seconds (events_per_partition=3_000_000)"
    )
