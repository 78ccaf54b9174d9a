"""The lake: write one partition of events with DuckDB, atomically; read and validate what is there.

This is the one implementation of "process a partition" that every DAG of the lab calls, the
demo's `@task.virtualenv` included, so it imports only the standard library, duckdb and
`lab.partitions` / `lab.config`.

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

import ctypes
import ctypes.util
import errno
import hashlib
import os
import shutil
import time
import uuid
from datetime import date
from pathlib import Path

import duckdb

from lab.config import settings
from lab.partitions import check_country, check_events_per_partition, known_countries, parse_date

EVENT_TYPES = ("page_view", "click", "add_to_cart", "purchase")
STAGING = ".staging"  # under the lake root, outside every table: readers never glob it


def table_dir(table: str = "events", lake_dir: str | Path | None = None) -> Path:
    if not table.replace("_", "").isalnum():
        raise ValueError(f"table name must be letters, digits and underscores, got {table!r}")
    return Path(lake_dir or settings().lake_dir) / table


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection for the lab: no progress bar (it garbles notebooks and logs)."""
    con = duckdb.connect()
    # In a Jupyter kernel without ipywidgets the bar is off already, and DuckDB refuses any SET of it.
    ((on,),) = con.execute("SELECT current_setting('enable_progress_bar')").fetchall()
    if on:
        con.execute("SET enable_progress_bar = false")
    return con


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def events_sql(event_date: date, country: str | None, rows: int) -> str:
    """SELECT of `rows` pseudo-random events for one partition, built from validated values only.

    "Random" values come from hashes of one string per (partition, row number, column): they
    look random, but a re-run writes byte-for-byte the same rows, so a reload is truly
    idempotent. (Hashing one concatenated string, not `hash(i, col, key)`: DuckDB combines
    the hashes of several arguments so that every day got a reshuffle of the same counts.)
    """
    key = _sql_str(f"{event_date.isoformat()}|{country or '*'}")
    if country is not None:
        country_expr = _sql_str(country)
    else:  # a date-only partition holds events from every known country
        codes = ", ".join(_sql_str(c) for c in known_countries())
        country_expr = f"[{codes}][1 + (hash(concat_ws('|', {key}, i::VARCHAR, 'country')) % {len(known_countries())})::INTEGER]"
    types = ", ".join(_sql_str(t) for t in EVENT_TYPES)
    return f"""
        SELECT
            md5(concat_ws('|', {key}, i::VARCHAR)) AS event_id,
            DATE '{event_date.isoformat()}' AS event_date,
            {country_expr} AS country,
            [{types}][1 + (hash(concat_ws('|', {key}, i::VARCHAR, 'type')) % {len(EVENT_TYPES)})::INTEGER] AS event_type,
            (hash(concat_ws('|', {key}, i::VARCHAR, 'user')) % 100000)::BIGINT AS user_id,
            round((hash(concat_ws('|', {key}, i::VARCHAR, 'amount')) % 100000) / 100.0, 2)::DOUBLE AS amount,
            DATE '{event_date.isoformat()}'
                + to_seconds((hash(concat_ws('|', {key}, i::VARCHAR, 'ts')) % 86400)::BIGINT) AS event_ts
        FROM range({int(rows)}) AS t(i)
    """


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2 RENAME_EXCHANGE). False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    rc = libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(staged: Path, target: Path) -> None:
    """Put `staged` where `target` is; the old target ends up at `staged` (to be deleted)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        try:
            os.rename(staged, target)
            staged.mkdir()  # keep the contract: `staged` exists afterwards, empty
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # Another writer created the partition in between: replace its version atomically.
    if not _exchange(staged, target):
        # Fallback for filesystems without RENAME_EXCHANGE: two renames, a tiny window
        # in which the partition is missing (never half-written).
        old = staged.with_name(staged.name + ".old")
        os.rename(target, old)
        os.rename(staged, target)
        os.rename(old, staged)


def _sweep_staging(root: Path) -> None:
    """Delete staging directories left by writers that died (their pid is gone)."""
    if not root.exists():
        return
    for entry in root.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def partition_dir(
    event_date: str | date,
    country: str | None = None,
    table: str = "events",
    lake_dir: str | Path | None = None,
) -> Path:
    day = parse_date(event_date, "event_date")
    path = table_dir(table, lake_dir) / f"event_date={day.isoformat()}"
    return path / f"country={check_country(country)}" if country is not None else path


class LakeNotWritableError(OSError):
    """A directory that a partition write needs cannot be written; the message names it and why."""


def check_writable(target: Path, *directories: Path) -> None:
    """Refuse, before anything is written, a partition write that could not finish.

    Each directory (or its nearest existing parent) must let us create an entry. It is probed
    by creating and removing an empty directory, because permission bits alone do not tell:
    root writes through them, while a read-only mount or `chattr +i` stops root too.
    """
    for existing in dict.fromkeys(_nearest_existing(d) for d in directories):
        probe = existing / f".lab-write-check-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError as exc:
            reason = f"{exc.strerror} [{errno.errorcode.get(exc.errno, exc.errno)}]"
            raise LakeNotWritableError(
                exc.errno,
                f"cannot write partition {target}: {existing} is not writable: {reason}. Nothing in the "
                "lake was changed. Make it writable (`ls -ld` and `lsattr -d` show why) or set LAB_LAKE_DIR "
                "to a writable directory, then clear the failed task",
            ) from exc


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def write_partition(
    event_date: str | date,
    rows: int,
    country: str | None = None,
    *,
    table: str = "events",
    lake_dir: str | Path | None = None,
    latency_s: float = 0.0,
) -> dict:
    """Write (or replace) one partition of `rows` events and return what was written.

    `latency_s` stands for waiting on a remote warehouse: it is a plain sleep, so that the
    benchmark can model I/O-bound work without a warehouse.
    """
    started = time.perf_counter()
    day = parse_date(event_date, "event_date")
    rows = check_events_per_partition(rows)
    target = partition_dir(day, country, table, lake_dir)
    root = Path(lake_dir or settings().lake_dir)
    staging_root = root / STAGING / table
    check_writable(target, staging_root, target.parent, target)
    staging_root.mkdir(parents=True, exist_ok=True)
    _sweep_staging(staging_root)
    staging = staging_root / f"{os.getpid()}-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        if latency_s > 0:
            time.sleep(latency_s)
        keys = "event_date, country" if country is not None else "event_date"
        con = connect()
        try:
            con.execute(
                f"COPY ({events_sql(day, country, rows)}) TO {_sql_str(str(staging / 'out'))} "
                f"(FORMAT parquet, PARTITION_BY ({keys}))"
            )
        finally:
            con.close()
        staged = staging / "out" / target.relative_to(table_dir(table, lake_dir))
        files = sorted(p.name for p in staged.iterdir())
        _swap_in(staged, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "event_date": day.isoformat(),
        "country": country,
        "rows": rows,
        "files": files,
        "path": str(target),
        "seconds": round(time.perf_counter() - started, 3),
    }


# ---------------------------------------------------------------- reading and checking


def scan(table: str = "events", lake_dir: str | Path | None = None) -> str:
    """The DuckDB table function that reads a table with its hive partition columns."""
    pattern = table_dir(table, lake_dir) / "**" / "*.parquet"
    return f"read_parquet({_sql_str(str(pattern))}, hive_partitioning = true)"


def has_data(table: str = "events", lake_dir: str | Path | None = None) -> bool:
    return any(table_dir(table, lake_dir).glob("**/*.parquet"))


def partition_counts(table: str = "events", lake_dir: str | Path | None = None):
    """Rows per partition as a DataFrame (empty when the table has no data yet)."""
    import pandas as pd

    if not has_data(table, lake_dir):
        return pd.DataFrame(columns=["partition", "rows"])
    con = connect()
    try:
        df = con.sql(
            f"SELECT regexp_replace(parse_dirpath(filename), '^.*/{table}/', '') AS partition, count(*) AS rows "
            f"FROM read_parquet({_sql_str(str(table_dir(table, lake_dir) / '**' / '*.parquet'))}, "
            f"hive_partitioning = true, filename = true) GROUP BY ALL ORDER BY partition"
        ).df()
    finally:
        con.close()
    return df


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
    expected: list[str], rows_per_partition: int, table: str = "events", lake_dir: str | Path | None = None
) -> dict:
    """Compare the lake with what a run should have written.

    `expected` holds partition paths relative to the table, such as 'event_date=2024-01-01' or
    'event_date=2024-01-01/country=DE'. Returns the lists of problems, all empty when valid.
    """
    counts = partition_counts(table, lake_dir)
    found = dict(zip(counts["partition"], counts["rows"], strict=False)) if len(counts) else {}
    files = partition_files(table, lake_dir)
    report = {
        "missing": sorted(p for p in expected if p not in found),
        "wrong_counts": {p: int(found[p]) for p in expected if p in found and found[p] != rows_per_partition},
        "several_files": {p: files[p] for p in expected if len(files.get(p, [])) > 1},
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
    keys = counts["partition"].str.extract(r"^event_date=(?P<event_date>[^/]+)/country=(?P<country>[^/]+)$")
    grid = pd.concat([keys, counts["rows"]], axis=1).pivot(
        index="event_date", columns="country", values="rows"
    )
    grid.columns.name = None
    return grid.fillna(0).astype(int)
