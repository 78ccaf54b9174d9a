"""The lake: write one partition of events with DuckDB, atomically; read and validate what is there.

`write_partition` is "process a partition" for every DAG of the lab: it checks its input with
`lab.partitions.Partition` and runs `lab.lake_writer.write_events_partition`, the one writer,
which the demo's `@task.virtualenv` also runs on its own inside its virtualenv.

Why not just `COPY ... (PARTITION_BY ..., OVERWRITE)`? DuckDB's OVERWRITE empties the whole
target directory (every other partition with it). OVERWRITE_OR_IGNORE overwrites files of the
same name in place and keeps the others: a reload that writes fewer files than the last write
(FILE_SIZE_BYTES splits, per-thread output, a `{uuid}` FILENAME_PATTERN, APPEND) leaves stale
files whose rows are counted next to the new ones, and a task killed mid-write leaves a
truncated Parquet file that makes every query over the table fail. (`lab.naive_overwrite`
reproduces all three on a scratch lake; lesson 05 shows them.) So each write goes to a private
staging directory on the same filesystem, and the finished partition directory is swapped in
with one atomic rename: readers and concurrent mapped tasks only ever see the old partition or
the complete new one, and a killed writer leaves only its staging directory, swept by the next
write.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from lab.config import settings
from lab.lake_writer import LakeNotWritableError as LakeNotWritableError  # raised by write_partition
from lab.lake_writer import write_events_partition
from lab.partitions import Partition, check_events_per_partition, check_latency_s, known_countries

if TYPE_CHECKING:
    import duckdb

STAGING = ".staging"  # under the lake root, outside every table: readers never glob it


def table_dir(table: str = "events", lake_dir: str | Path | None = None) -> Path:
    if not table.replace("_", "").isalnum():
        raise ValueError(f"table name must be letters, digits and underscores, got {table!r}")
    return Path(lake_dir or settings().lake_dir) / table


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection for the lab: no progress bar (it garbles notebooks and logs)."""
    import duckdb  # here, not at the top: DAG files import this module and pay for it in every task

    con = duckdb.connect()
    # In a Jupyter kernel without ipywidgets the bar is off already, and DuckDB refuses any SET of it.
    ((on,),) = con.execute("SELECT current_setting('enable_progress_bar')").fetchall()
    if on:
        con.execute("SET enable_progress_bar = false")
    return con


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def events_sql(partition: Partition, events_per_partition: int) -> str:
    """The SELECT of one partition's events, exactly as `write_partition` runs it (nothing is written)."""
    return write_events_partition(**_writer_args(partition, events_per_partition), dry_run=True)["select_sql"]


def copy_statement(partition: Partition, events_per_partition: int, table: str = "events") -> str:
    """The `COPY ... TO ... (FORMAT parquet, PARTITION_BY (...))` that writing this partition runs.

    Rendered by the writer itself (a dry run), so a lesson shows the statement that really runs,
    with the lake's location written `<lake>` (each write's staging directory is its own).
    """
    args = {
        **_writer_args(partition, events_per_partition, table),
        "staging_dir": f"<lake>/{STAGING}/{table}",
    }
    return write_events_partition(**args, dry_run=True)["sql"]


def partition_dir(
    event_date: str | date,
    country: str | None = None,
    table: str = "events",
    lake_dir: str | Path | None = None,
) -> Path:
    """The directory of one partition in the lake (validated: an impossible date never becomes a path)."""
    return table_dir(table, lake_dir) / Partition(event_date, country).path


def writer_arguments(table: str = "events", lake_dir: str | Path | None = None) -> dict:
    """What every date-only partition of `table` passes to `write_events_partition`, as plain values.

    Where the table and its staging area are, and the country codes its events draw from: the
    `.partial()` of a task that runs the writer as is, such as the demo's `@task.virtualenv`.
    """
    root = Path(lake_dir or settings().lake_dir)
    return {
        "table_dir": str(table_dir(table, root)),
        # Inside the lake (one filesystem: the swap is a rename), outside every table (never read).
        "staging_dir": str(root / STAGING / table),
        # A date-only partition's events get their country from the reference list.
        "countries": list(known_countries()),
    }


def _writer_args(
    partition: Partition,
    events_per_partition: int,
    table: str = "events",
    lake_dir: str | Path | None = None,
    latency_s: float = 0.0,
) -> dict:
    """The plain arguments of `write_events_partition` for one partition of a table in the lake."""
    shared = writer_arguments(table, lake_dir)
    return {
        "event_date": partition.event_date.isoformat(),
        "events_per_partition": check_events_per_partition(events_per_partition),
        "table_dir": shared["table_dir"],
        "staging_dir": shared["staging_dir"],
        "country": partition.country,
        "countries": None if partition.country else shared["countries"],
        "latency_s": check_latency_s(latency_s),
    }


def write_partition(
    event_date: str | date,
    events_per_partition: int,
    country: str | None = None,
    *,
    table: str = "events",
    lake_dir: str | Path | None = None,
    latency_s: float = 0.0,
) -> dict:
    """Write (or replace) one partition of `events_per_partition` events and return what was written.

    Validates with `Partition` (a date that does not exist, an unknown country) and hands the
    plain values to `lab.lake_writer.write_events_partition`, the one writer every DAG uses.
    `latency_s` stands for waiting on a remote warehouse: a plain sleep, so that the benchmark
    can model I/O-bound work without a warehouse.
    """
    partition = Partition(event_date, country)
    written = write_events_partition(
        **_writer_args(partition, events_per_partition, table, lake_dir, latency_s)
    )
    assert written["partition"] == partition.path, (written["partition"], partition.path)
    return written


# ---------------------------------------------------------------- reading and checking


def scan(table: str = "events", lake_dir: str | Path | None = None) -> str:
    """The DuckDB table function that reads a table with its hive partition columns."""
    pattern = table_dir(table, lake_dir) / "**" / "*.parquet"
    return f"read_parquet({_sql_str(str(pattern))}, hive_partitioning = true)"


def has_data(table: str = "events", lake_dir: str | Path | None = None) -> bool:
    return any(table_dir(table, lake_dir).glob("**/*.parquet"))


def partition_counts(table: str = "events", lake_dir: str | Path | None = None, files: bool = False):
    """Rows per partition (the path relative to the table) as a DataFrame, empty when there is no data.

    With `files=True`, also how many Parquet files hold them. A table with a broken file
    raises DuckDB's error: every query over it fails, this one too.
    """
    import pandas as pd

    columns = ["partition", "rows", "files"] if files else ["partition", "rows"]
    if not has_data(table, lake_dir):
        return pd.DataFrame(columns=columns)
    base = table_dir(table, lake_dir)
    con = connect()
    try:
        df = con.execute(
            "SELECT parse_dirpath(filename) AS dir, count(*) AS rows, count(DISTINCT filename) AS files "
            "FROM read_parquet(?, hive_partitioning = true, filename = true) GROUP BY ALL ORDER BY dir",
            [str(base / "**" / "*.parquet")],
        ).df()
    finally:
        con.close()
    df["partition"] = [str(Path(d).relative_to(base)) for d in df["dir"]]
    return df.sort_values("partition", ignore_index=True)[columns]


def partition_files(table: str = "events", lake_dir: str | Path | None = None) -> dict[str, list[str]]:
    """partition path (relative to the table) -> the Parquet files in it."""
    base = table_dir(table, lake_dir)
    found: dict[str, list[str]] = {}
    for path in sorted(base.glob("**/*.parquet")):
        found.setdefault(str(path.parent.relative_to(base)), []).append(path.name)
    return found


def checksums(table: str = "events", lake_dir: str | Path | None = None) -> dict[str, str]:
    """partition -> sha256 over its files' names and bytes: tells whether a partition was touched."""
    base = table_dir(table, lake_dir)
    result = {}
    for partition, names in partition_files(table, lake_dir).items():
        digest = hashlib.sha256()
        for name in names:
            digest.update(name.encode())
            digest.update((base / partition / name).read_bytes())
        result[partition] = digest.hexdigest()
    return result


def validate(
    expected: Iterable[Partition | str],
    events_per_partition: int,
    table: str = "events",
    lake_dir: str | Path | None = None,
) -> dict:
    """Compare the lake with what a run should have written.

    `expected` holds `Partition`s or their paths relative to the table, such as
    'event_date=2024-01-01/country=DE'. Returns the problems, keyed by path; all empty when valid.
    """
    paths = [p.path if isinstance(p, Partition) else Partition.from_path(p).path for p in expected]
    counts = partition_counts(table, lake_dir)
    found = dict(zip(counts["partition"], counts["rows"], strict=False)) if len(counts) else {}
    files = partition_files(table, lake_dir)
    report = {
        "missing": sorted(p for p in paths if p not in found),
        "wrong_counts": {p: int(found[p]) for p in paths if p in found and found[p] != events_per_partition},
        "several_files": {p: files[p] for p in paths if len(files.get(p, [])) > 1},
    }
    report["ok"] = not any(report.values())
    return report


def delete_table(table: str = "events", lake_dir: str | Path | None = None) -> None:
    """Remove a table from the lake (the lab's reset, and test set-up)."""
    shutil.rmtree(table_dir(table, lake_dir), ignore_errors=True)


def explain_scans(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    """Run `sql` under EXPLAIN ANALYZE and report what each Parquet scan actually read.

    One dict per READ_PARQUET scan: the partition filter DuckDB applied to file paths
    (`file_filters`), how many of the table's files it considered and read, and the rows
    scanned. Shows partition pruning as numbers rather than a plan to squint at.
    """
    import json

    plan = json.loads(con.execute(f"EXPLAIN (ANALYZE, FORMAT json) {sql}", params or []).fetchall()[0][1])
    scans = []

    def walk(node: dict) -> None:
        info = node.get("extra_info") or {}
        if node.get("type") == "TABLE_SCAN" and info.get("Function") == "READ_PARQUET":
            scans.append(
                {
                    "file_filters": _unwrap(info.get("File Filters", "")) or None,
                    "files_considered": info.get("Scanning Files"),
                    "files_read": int(info.get("Total Files Read", 0)),
                    "rows_scanned": node.get("rows_scanned", node.get("operator_cardinality")),
                }
            )
        for child in node.get("children", []):
            walk(child)

    for root in plan.get("operator", []) if isinstance(plan, dict) else plan:
        walk(root)
    return scans


def _unwrap(expr: str) -> str:
    """'(a = 1)' -> 'a = 1', but '(a) AND (b)' stays as it is: only parentheses around the whole."""
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        depth = 0
        for i, ch in enumerate(expr):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0 and i < len(expr) - 1:
                return expr  # the first parenthesis closes before the end
        expr = expr[1:-1].strip()
    return expr


def country_grid(table: str = "events_by_country", lake_dir: str | Path | None = None):
    """A date x country table's rows as a grid: one row per event_date, one column per country (0 = none)."""
    import pandas as pd

    counts = partition_counts(table, lake_dir)
    if counts.empty:
        return pd.DataFrame()
    partitions = [Partition.from_path(path) for path in counts["partition"]]
    grid = pd.DataFrame(
        {
            "event_date": [p.event_date.isoformat() for p in partitions],
            "country": [p.country for p in partitions],
            "rows": counts["rows"],
        }
    ).pivot(index="event_date", columns="country", values="rows")
    grid.columns.name = None
    return grid.fillna(0).astype(int)
