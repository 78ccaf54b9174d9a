"""Failure isolation, made visible: which partitions a run (re)wrote, and the sequential loop to compare.

Checksums tell whether a partition's bytes changed, but a reload is idempotent: re-writing a
partition with the same input gives the same bytes. A *write stamp* (the Parquet file's inode
and modification time) tells whether a partition was written again at all, because every write
swaps in a new file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from lab import lake
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
