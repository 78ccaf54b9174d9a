"""The lab's one partition writer, self-contained so that it also runs inside a `@task.virtualenv`.

Airflow's `@task.virtualenv` ships a function's *source* into a separate Python environment,
not its module: whatever the function needs must be inside it. So `write_events_partition`
imports only the standard library and duckdb, in its body, takes plain JSON-able arguments,
validates every one of them before it builds a single line of SQL, and keeps its helpers
nested. Every DAG of the lab writes through it: in-process via `lab.lake.write_partition`
(which adds the lab's settings and `Partition` checks), and in the demo's virtualenv as is.

What it does (see `lab.lake` for why not DuckDB's OVERWRITE / OVERWRITE_OR_IGNORE):
1. `COPY (SELECT ...) TO '<private staging dir>' (FORMAT parquet, PARTITION_BY (...))`:
   DuckDB writes the hive directory `event_date=.../[country=.../]` itself;
2. the finished directory is swapped in for the partition's old one with one atomic rename
   (Linux `renameat2(RENAME_EXCHANGE)`), so readers and concurrent writers only ever see the
   old partition or the complete new one;
3. a writer killed mid-write leaves only its staging directory, which the next write sweeps.
"""

from __future__ import annotations


class LakeNotWritableError(OSError):
    """A directory that a partition write needs cannot be written; the message names it and why."""


def write_events_partition(
    event_date: str,
    events_per_partition: int,
    table_dir: str,
    staging_dir: str,
    country: str | None = None,
    countries: list[str] | None = None,
    latency_s: float = 0.0,
    dry_run: bool = False,
) -> dict:
    """Write (or replace) one partition of `events_per_partition` pseudo-random events.

    - `table_dir`: the table's directory in the lake; `staging_dir`: a directory on the same
      filesystem for unfinished writes (the rename is atomic only within one filesystem);
    - `country`: None for a date-only table, whose events then get a country from `countries`;
    - `latency_s`: a plain sleep standing for a remote warehouse (the benchmark's I/O wait);
    - `dry_run`: validate and return the SQL it would run, without touching the disk.

    Returns what was written, the exact `COPY` statement that ran, and where it ran
    (`sys.prefix` and the duckdb version: inside a virtualenv they are the venv's).
    """
    import ctypes
    import ctypes.util
    import errno
    import os
    import re
    import shutil
    import sys
    import time
    import uuid
    from datetime import date

    import duckdb

    started = time.perf_counter()

    # ------------------------------------------------------------ 1. validate every argument
    if not isinstance(event_date, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", event_date):
        raise ValueError(f"event_date must be a date written YYYY-MM-DD, got {event_date!r}")
    day = date.fromisoformat(event_date)  # refuses impossible dates such as 2024-02-30
    code = r"[A-Z]{2}"
    if country is not None and not (isinstance(country, str) and re.fullmatch(code, country)):
        raise ValueError(f"country must be a two-letter upper-case ISO code such as 'DE', got {country!r}")
    if country is None and not (
        countries and all(isinstance(c, str) and re.fullmatch(code, c) for c in countries)
    ):
        raise ValueError(f"a date-only partition needs the country codes to draw from, got {countries!r}")
    rows = events_per_partition
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"events_per_partition must be a whole number of at least 1, got {rows!r}")
    if isinstance(latency_s, bool) or not isinstance(latency_s, int | float) or latency_s < 0:
        raise ValueError(f"latency_s must be a number of seconds of at least 0, got {latency_s!r}")

    def literal(text: str) -> str:
        """A SQL string literal. Only ever applied to the validated values above, or to paths."""
        return "'" + text.replace("'", "''") + "'"

    # ------------------------------------------------------------ 2. the SQL, from those values only
    # Values look random but come from hashes of (partition, row, column): a re-run writes the
    # same rows, so a reload is idempotent. (One concatenated string per hash: DuckDB combines
    # the hashes of several arguments in a way that reshuffles the same counts every day.)
    seed = literal(f"{day.isoformat()}|{country or '*'}")

    def pick(options: list[str], column: str) -> str:
        items = ", ".join(literal(o) for o in options)
        return (
            f"[{items}][1 + (hash(concat_ws('|', {seed}, i::VARCHAR, '{column}')) % {len(options)})::INTEGER]"
        )

    def number(column: str, modulo: int) -> str:
        return f"(hash(concat_ws('|', {seed}, i::VARCHAR, '{column}')) % {modulo})"

    select = f"""SELECT
    md5(concat_ws('|', {seed}, i::VARCHAR)) AS event_id,
    DATE '{day.isoformat()}' AS event_date,
    {literal(country) if country else pick(list(countries), "country")} AS country,
    {pick(["page_view", "click", "add_to_cart", "purchase"], "type")} AS event_type,
    {number("user", 100000)}::BIGINT AS user_id,
    round({number("amount", 100000)} / 100.0, 2)::DOUBLE AS amount,
    DATE '{day.isoformat()}' + to_seconds({number("ts", 86400)}::BIGINT) AS event_ts
FROM range({rows}) AS t(i)"""
    keys = "event_date, country" if country else "event_date"
    # Private to this write: named after the writer's pid, so a dead writer's leftovers can be told apart.
    staging = os.path.join(staging_dir, "<pid>-<uuid>" if dry_run else f"{os.getpid()}-{uuid.uuid4().hex}")
    out = os.path.join(staging, "out")
    copy = f"COPY (\n{select}\n) TO {literal(out)} (FORMAT parquet, PARTITION_BY ({keys}))"
    where = {"python": sys.prefix, "duckdb": duckdb.__version__}
    if dry_run:
        return {"select_sql": select, "sql": copy, **where}

    # ------------------------------------------------------------ 3. can it finish? (before anything is touched)
    # In a virtualenv only this function's source exists: it then raises a class of the same name.
    not_writable = globals().get("LakeNotWritableError") or type("LakeNotWritableError", (OSError,), {})
    hive = f"event_date={day.isoformat()}" + (f"/country={country}" if country else "")
    target = os.path.join(table_dir, hive)

    def check_writable(*directories: str) -> None:
        """Each directory (or its nearest existing parent) must take a new entry. Probed by making
        one, because permission bits do not tell: root writes through them, a read-only mount or
        `chattr +i` stops root too. (Moving a directory also needs it writable itself.)"""
        for path in directories:
            while not os.path.exists(path) and os.path.dirname(path) != path:
                path = os.path.dirname(path)
            probe = os.path.join(path, f".lab-write-check-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            try:
                os.mkdir(probe)
                os.rmdir(probe)
            except OSError as exc:
                reason = f"{exc.strerror} [{errno.errorcode.get(exc.errno, exc.errno)}]"
                raise not_writable(
                    exc.errno,
                    f"cannot write partition {target}: {path} is not writable: {reason}. Nothing in the "
                    "lake was changed. Make it writable (`ls -ld` and `lsattr -d` show why) or set "
                    "LAB_LAKE_DIR to a writable directory, then clear the failed task",
                ) from exc

    check_writable(staging_dir, os.path.dirname(target), target)

    # ------------------------------------------------------------ 4. write into staging, swap in
    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def sweep() -> None:
        """Staging directories of writers that died (their pid is gone) are deleted."""
        for entry in os.listdir(staging_dir):
            pid = entry.split("-", 1)[0]
            if pid.isdigit() and not alive(int(pid)):
                shutil.rmtree(os.path.join(staging_dir, entry), ignore_errors=True)

    def exchange(a: str, b: str) -> bool:
        """Swap two directories atomically (renameat2 RENAME_EXCHANGE); False where unsupported."""
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name, use_errno=True) if name else None
        if libc is None or not hasattr(libc, "renameat2"):
            return False
        if libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
            return True
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            return False
        raise OSError(err, os.strerror(err), b)

    def swap_in(staged: str, target: str) -> None:
        """Put `staged` where `target` is; the old partition (if any) ends up in staging."""
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            try:
                os.rename(staged, target)
                return
            except OSError as exc:  # another writer created it meanwhile: swap with theirs
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        if not exchange(staged, target):  # e.g. NFS: two renames, the partition briefly missing
            old = staged + ".old"
            os.rename(target, old)
            os.rename(staged, target)
            shutil.rmtree(old, ignore_errors=True)

    os.makedirs(staging_dir, exist_ok=True)
    sweep()
    os.makedirs(staging)
    try:
        if latency_s:
            time.sleep(latency_s)
        con = duckdb.connect()
        try:
            con.execute(copy)
        finally:
            con.close()
        # DuckDB named the hive directory; the one leaf holding the files is the partition.
        leaf = next(root for root, _dirs, files in os.walk(out) if files)
        partition = os.path.relpath(leaf, out)
        if partition != hive:  # DuckDB's hive path must be the one checked above
            raise RuntimeError(f"DuckDB wrote {partition!r}, expected {hive!r}")
        files = sorted(os.listdir(leaf))
        swap_in(leaf, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "event_date": day.isoformat(),
        "country": country,
        "partition": partition,
        "rows": rows,
        "files": files,
        "path": target,
        "seconds": round(time.perf_counter() - started, 3),
        "sql": copy,
        **where,
    }
