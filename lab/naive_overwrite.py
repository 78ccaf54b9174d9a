"""Why the lab does not just `COPY ... (PARTITION_BY ..., OVERWRITE)`: the naive writes, on a scratch lake.

`lab.lake.write_partition` writes each partition into a private staging directory and swaps
the finished directory in with one atomic rename. This module writes the way a first version
of a pipeline usually does, DuckDB's COPY with PARTITION_BY straight into the table, so that
lesson 05 can show what each of DuckDB's options does to a reload:

- OVERWRITE empties the whole target directory first: every other partition is deleted;
- OVERWRITE_OR_IGNORE keeps the directory, overwrites files of the same name in place and
  leaves files of other names: a reload that writes fewer files than before (big partitions
  are split by FILE_SIZE_BYTES or per-thread output) keeps the old ones, so old rows are
  counted next to the new ones;
- a writer killed during the COPY leaves a truncated Parquet file where the good one was, and
  from then on every query over the table fails.

Never point this at the real lake: it is the exhibit, not a writer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab import lake
from lab.lake import _sql_str, connect, events_sql
from lab.partitions import Partition

OPTIONS = {
    "OVERWRITE": "OVERWRITE",
    "OVERWRITE_OR_IGNORE": "OVERWRITE_OR_IGNORE",
    "OVERWRITE_OR_IGNORE + FILE_SIZE_BYTES": "OVERWRITE_OR_IGNORE, FILE_SIZE_BYTES '1MB', ROW_GROUP_SIZE 20000",
}


def copy_sql(table_dir: Path, event_date: str, country: str, events_per_partition: int, option: str) -> str:
    if option not in OPTIONS:
        raise ValueError(f"option must be one of {', '.join(OPTIONS)}, got {option!r}")
    partition = Partition(event_date, country)
    return (
        f"COPY ({events_sql(partition, events_per_partition)}) TO {_sql_str(str(table_dir))} "
        f"(FORMAT parquet, PARTITION_BY ({', '.join(partition.columns)}), {OPTIONS[option]})"
    )


def compare_copy(partition: Partition, events_per_partition: int, table: str) -> dict[str, str]:
    """The lab's COPY next to the naive one, for a lesson: the SELECT they share, then each statement
    with that SELECT written `<the SELECT>`, so only what differs (the target and its options) remains.

    Both are rendered by the code that runs them (`lab.lake.copy_statement`, a dry run of the
    lab's writer, and `copy_sql` here), with the lake written `<lake>`.
    """
    select = events_sql(partition, events_per_partition)
    statements = {
        "lab": lake.copy_statement(partition, events_per_partition, table),
        "naive": copy_sql(
            Path("<lake>") / table,
            partition.event_date.isoformat(),
            partition.country,
            events_per_partition,
            "OVERWRITE_OR_IGNORE",
        ),
    }
    for name, sql in statements.items():
        if select not in sql:
            raise RuntimeError(f"the {name} COPY does not run the lab's SELECT of {partition.key}")
    return {
        "SELECT": select,
        **{name: sql.replace(select, "<the SELECT>") for name, sql in statements.items()},
    }


def naive_copy(
    table_dir: str | Path, event_date: str, country: str, events_per_partition: int, option: str
) -> None:
    """Write one partition straight into `table_dir` with DuckDB's COPY and `option`."""
    con = connect()
    try:
        con.execute(copy_sql(Path(table_dir), event_date, country, events_per_partition, option))
    finally:
        con.close()


def naive_copy_killed(
    table_dir: str | Path,
    event_date: str,
    country: str,
    events_per_partition: int,
    option: str = "OVERWRITE_OR_IGNORE",
    after_bytes: int = 2_000_000,
    timeout: float = 120.0,
) -> int:
    """Start the naive COPY in another process and SIGKILL it once its file has `after_bytes`.

    Returns the size of the file it left behind.
    """
    table_dir = Path(table_dir)
    target = table_dir / Partition(event_date, country).path / "data_0.parquet"
    before = target.stat().st_mtime_ns if target.exists() else None
    code = (
        "import sys; from lab.naive_overwrite import naive_copy; "
        "naive_copy(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(table_dir), event_date, country, str(events_per_partition), option],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                stat = target.stat()
            except FileNotFoundError:
                stat = None
            if stat and stat.st_mtime_ns != before and stat.st_size >= after_bytes:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        else:
            raise RuntimeError(
                "the COPY finished (or never started) before it could be killed: use more events_per_partition"
            )
    finally:
        proc.wait()
    return target.stat().st_size


def table_health(table_dir: str | Path):
    """Rows and files per partition of a scratch table, or the error any query on it now gets."""
    import duckdb

    table_dir = Path(table_dir)
    try:
        return lake.partition_counts(table_dir.name, table_dir.parent, files=True)
    except duckdb.Error as exc:
        # The first line says what broke; the lines after it only quote the query.
        message = str(exc).splitlines()[0].replace(str(table_dir) + os.sep, "")
        return f"{type(exc).__name__}: {message}"
