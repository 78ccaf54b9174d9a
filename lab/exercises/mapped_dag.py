"""Exercise 5: the participant writes a mapped DAG file; the checker runs it on the lab's Airflow.

The file goes to `dags/participant/` (git-ignored), inside the folder the lab's Airflow parses,
so it is a real DAG. The checker

1. parses the file the way the dag-processor does (`DagBag`, in a separate process): an import
   error, a missing task, a task that is not mapped or has no retry is a FAIL before any run;
2. waits until the lab's Airflow has the same DAG (its tasks, as the REST API lists them, match
   the file's): the dag-processor picks a new or changed file up within seconds, but it writes a
   DAG's new structure at most every `[core] min_serialized_dag_update_interval` (30 s by
   default; 0 in the lab profile), and a run triggered before that would run the previous version;
3. triggers a run with its own Params (CHECK_CONF) through the REST API and checks what really
   happened: one instance of `write_partition` per date x country, labelled "2024-03-01 / DE"
   by its `map_index_template`; the partition told to fail once (`fail_once`) failed its first
   try and succeeded on the retry, and no other partition needed one; the lake's table
   `exercise_events` holds exactly those partitions with the asked number of rows (DuckDB).

The checker empties `exercise_events` before it triggers, so what it finds was written by the
run it watched. Every problem is a FAIL line, never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime
from pathlib import Path

from lab import lake
from lab.airflow_local import health
from lab.client import Airflow, AirflowError, RunTimeout
from lab.config import settings
from lab.exercises.dagfile import inspect_dag_file
from lab.exercises.verdict import Checks, Result, head
from lab.partitions import Partition, PartitionError, date_range

MAPPED_DAG_ID = "exercise_5_mapped"
MAPPED_TASK_ID = "write_partition"
MAPPED_TABLE = "exercise_events"
PARTICIPANT_DIR = "participant"  # under the DAGs folder; git-ignored
MAPPED_DAG_FILE = "exercise_5_mapped.py"
# What the checker triggers: other values than the starter's defaults, so a hard-coded list fails.
CHECK_CONF = {
    "start_date": "2024-03-01",
    "end_date": "2024-03-03",
    "countries": ["DE", "NL"],
    "events_per_partition": 25,
    "fail_once": "2024-03-02/NL",
}
MAX_RETRY_DELAY_S = 30.0


def participant_dag_file(create: bool = True) -> Path:
    """Where exercise 5's DAG file goes: <DAGs folder>/participant/exercise_5_mapped.py.

    Relative to the working directory when it can be (a notebook prints it without machine paths).
    """
    folder = settings().dags_dir / PARTICIPANT_DIR
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    path = folder / MAPPED_DAG_FILE
    try:
        return Path(os.path.relpath(path))
    except ValueError:  # another drive (Windows): keep it absolute
        return path


def expected_partitions(conf: dict = CHECK_CONF) -> list[tuple[str, str]]:
    """(event_date, country) of every partition a run with `conf` must write."""
    return [
        (day, country)
        for day in date_range(conf["start_date"], conf["end_date"])
        for country in conf["countries"]
    ]


def check_mapped_dag(
    path: str | Path | None = None,
    client: Airflow | None = None,
    load_timeout: float = 180.0,
    run_timeout: float = 300.0,
) -> Result:
    """Check the DAG file at `path`, load it into the lab's Airflow, run it with CHECK_CONF, check the run."""
    checks = Checks(
        "Exercise 5 (a mapped DAG)",
        hint="open the hints below the check: they go from a nudge to nearly the answer.",
    )
    path = Path(path) if path is not None else participant_dag_file(create=False)
    if not path.is_file():
        return checks.fail(f"no DAG file at {path}: run the ✏️ cell that writes it first")
    tasks = _file_checks(checks, path)
    if tasks is None:
        return checks.result()
    af = client or Airflow()
    if health(af.url) is None:
        return checks.fail(
            f"Airflow is not running at {af.url}: run the first cell of this notebook "
            "(it starts Airflow), or `make up` in a terminal"
        )
    try:
        problem = wait_until_loaded(af, path, tasks, timeout=load_timeout)
        if problem:
            return checks.fail(problem)
        lake.delete_table(MAPPED_TABLE)  # what is there afterwards was written by the run we watch
        run_id = af.trigger(MAPPED_DAG_ID, CHECK_CONF)["dag_run_id"]
        try:
            run = af.wait(MAPPED_DAG_ID, run_id, timeout=run_timeout, progress=False)
        except RunTimeout:
            return checks.fail(
                f"the run did not finish within {run_timeout:.0f} s: look at it in the Airflow UI, "
                f"{af.run_url(MAPPED_DAG_ID, run_id)}"
            )
        _run_checks(checks, af, run)
    except AirflowError as exc:  # the API refused or went away: a FAIL with Airflow's reason
        checks.expect(False, f"Airflow answered with an error: {exc}")
    return checks.result()


def _file_checks(checks: Checks, path: Path) -> dict | None:
    """The file's tasks as the dag-processor sees them, or None (with the FAIL) when a run is not worth it."""
    try:
        parsed = inspect_dag_file(path)
    except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        checks.expect(False, f"could not parse the DAG file: {exc}")
        return None
    if parsed["import_errors"]:
        lines = next(iter(parsed["import_errors"].values())).strip().splitlines()
        checks.expect(False, f"the DAG file does not import (Airflow would list it as broken): {lines[-1]}")
        return None
    tasks = parsed["dags"].get(MAPPED_DAG_ID)
    if not checks.expect(
        tasks is not None,
        f"no DAG with dag_id {MAPPED_DAG_ID!r} in the file (found {sorted(parsed['dags']) or 'none'}): "
        f"keep dag_id={MAPPED_DAG_ID!r} and the call {MAPPED_DAG_ID}() at the end of the file",
    ):
        return None
    task = tasks.get(MAPPED_TASK_ID)
    if not checks.expect(
        task is not None,
        f"the DAG has no task {MAPPED_TASK_ID!r} (its tasks: {', '.join(sorted(tasks)) or 'none'}): "
        "a @task function becomes a task only when the DAG function calls it (TODO 3)",
    ):
        return None
    if not checks.expect(
        task["mapped"],
        f"{MAPPED_TASK_ID} is a single task, not a mapped one: call it with "
        ".partial(...).expand_kwargs(...) (or .expand(...)) over plan_partitions() (TODO 3)",
    ):
        return None
    if not checks.expect(
        task["retries"] >= 1,
        f"{MAPPED_TASK_ID} has retries={task['retries']}: the partition {CHECK_CONF['fail_once']} fails "
        "its first try on purpose and needs one retry (TODO 2)",
    ):
        return None
    delay = task["retry_delay_s"]
    if not checks.expect(
        delay is not None and delay <= MAX_RETRY_DELAY_S,
        f"{MAPPED_TASK_ID} waits {delay:g} s before its retry (Airflow's default is 300 s): "
        "set retry_delay=timedelta(seconds=2) so the check does not wait for it (TODO 2)",
    ):
        return None
    return tasks


def wait_until_loaded(af: Airflow, path: Path, tasks: dict, timeout: float = 180.0) -> str | None:
    """Wait until Airflow's DAG has the file's tasks; None, or why it has not (an import error, a timeout).

    `tasks` is what `inspect_dag_file` found in the file. Airflow re-parses a changed file within
    seconds, but keeps the DAG's previous structure until `[core] min_serialized_dag_update_interval`
    (30 s by default, 0 in the lab profile) has passed since it last wrote it; asking for a re-parse every few seconds gets the
    new one in as soon as Airflow takes it.
    """
    wanted = {
        tid: _shape(t["mapped"], t["retries"], t["retry_delay_s"], t["downstream"])
        for tid, t in tasks.items()
    }
    relative = _relative_to_dags(path)
    written = path.stat().st_mtime
    deadline = time.monotonic() + timeout
    asked_at = 0.0
    first_error: float | None = None
    while True:
        loaded = _airflow_tasks(af)
        if loaded == wanted:
            return None
        error, stamped = _import_error(af, relative)
        # A parse that began before the file was written can stamp an error after it: only the
        # next one (parses of one file never overlap) speaks for this version.
        if error and stamped > written:
            if first_error is not None and stamped > first_error:
                return f"Airflow could not import your file (the Airflow UI lists it as broken): {error}"
            first_error = first_error or stamped
        if time.monotonic() > deadline:
            differs = sorted(
                t for t in set(wanted) | set(loaded or {}) if (loaded or {}).get(t) != wanted.get(t)
            )
            return (
                f"Airflow has not loaded this version of {path.name} within {timeout:.0f} s "
                f"(its {MAPPED_DAG_ID} differs from the file in: {', '.join(differs) or 'everything'}): "
                f"is another file in dags/ using dag_id={MAPPED_DAG_ID!r}? (`lab logs dag-processor`)"
            )
        if time.monotonic() - asked_at > 5:
            _request_reparse(af)
            asked_at = time.monotonic()
        time.sleep(1)


def _shape(mapped, retries, retry_delay_s, downstream) -> tuple:
    """What the file and the REST API can both say about a task, comparable."""
    return bool(mapped), int(retries or 0), float(retry_delay_s or 0), tuple(sorted(downstream or ()))


def _airflow_tasks(af: Airflow) -> dict | None:
    try:
        listed = af.request("GET", f"/dags/{MAPPED_DAG_ID}/tasks")["tasks"]
    except AirflowError as exc:
        if exc.status_code == 404:
            return None
        raise
    return {
        t["task_id"]: _shape(
            t.get("is_mapped"), t.get("retries"), _seconds(t.get("retry_delay")), t.get("downstream_task_ids")
        )
        for t in listed
    }


def _seconds(value) -> float | None:
    """A TimeDelta of the REST API ({"days": .., "seconds": .., "microseconds": ..}) in seconds."""
    if not isinstance(value, dict):
        return None
    return value.get("days", 0) * 86400 + value.get("seconds", 0) + value.get("microseconds", 0) / 1e6


def _relative_to_dags(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(settings().dags_dir.resolve()))
    except ValueError:
        return path.name


def _import_error(af: Airflow, relative: str) -> tuple[str, float]:
    """The last line of the import error Airflow holds for the file and when it was recorded ('', 0)."""
    for error in af.request("GET", "/importErrors", params={"filename": relative})["import_errors"]:
        lines = [line.strip() for line in error["stack_trace"].strip().splitlines() if line.strip()]
        stamped = datetime.fromisoformat(error["timestamp"].replace("Z", "+00:00")).timestamp()
        return (lines[-1] if lines else "(no message)"), stamped
    return "", 0.0


def _request_reparse(af: Airflow) -> None:
    """Put the file first in the dag-processor's queue (a shortcut: it gets there anyway)."""
    try:
        af.reparse(MAPPED_DAG_ID)
    except (AirflowError, KeyError):
        pass


def _run_checks(checks: Checks, af: Airflow, run: dict) -> None:
    run_id = run["dag_run_id"]
    tis = af.task_instances(MAPPED_DAG_ID, run_id)
    mapped = tis[(tis["task_id"] == MAPPED_TASK_ID) & (tis["map_index"] >= 0)]
    expected = expected_partitions()
    labels = [Partition(day, country).label for day, country in expected]
    if (
        not checks.expect(
            run["state"] == "success",
            f"the run ended {run['state']}: {_failures(af, tis, run_id) or 'see the Airflow UI'} "
            f"({af.run_url(MAPPED_DAG_ID, run_id)})",
        )
        and mapped.empty
    ):
        return
    if not checks.expect(
        len(mapped) == len(expected),
        f"expected {len(expected)} mapped instances of {MAPPED_TASK_ID} "
        f"({len(set(d for d, _ in expected))} dates x {len(CHECK_CONF['countries'])} countries), "
        f"got {len(mapped)}: does plan_partitions return one dict per date x country? (TODO 1)",
    ):
        return
    template = (
        "map_index_template=\"{{ task.op_kwargs['event_date'] }} / {{ task.op_kwargs['country'] }}\" (TODO 2)"
    )
    # Without a template Airflow shows the map index itself: 0, 1, 2, ...
    unlabelled = mapped["rendered_map_index"].isna() | (
        mapped["rendered_map_index"] == mapped["map_index"].astype(str)
    )
    if checks.expect(
        not unlabelled.any(),
        "the mapped instances have no labels (the Airflow UI calls them 0, 1, 2, ...): give the task "
        + template,
    ):
        got = sorted(mapped["rendered_map_index"])
        checks.expect(
            got == sorted(labels),
            f"the mapped instances are labelled {head(got, 3)}, expected labels such as {labels[:2]}: "
            + template,
        )
    _retry_checks(checks, af, mapped, run_id)
    _lake_checks(checks, expected)


def _retry_checks(checks: Checks, af: Airflow, mapped, run_id: str) -> None:
    flaky = CHECK_CONF["fail_once"]
    keys = [_partition_key(ti) for _, ti in mapped.iterrows()]
    rows = mapped[[key == flaky for key in keys]]
    if not checks.expect(len(rows) == 1, f"no mapped instance wrote {flaky}: cannot check its retry"):
        return
    ti = rows.iloc[0]
    tries = af.request(
        "GET",
        f"/dags/{MAPPED_DAG_ID}/dagRuns/{run_id}/taskInstances/{MAPPED_TASK_ID}/{int(ti['map_index'])}/tries",
    )["task_instances"]
    states = {t["try_number"]: t["state"] for t in tries}
    checks.expect(
        int(ti["try_number"]) == 2
        and states.get(1) in ("failed", "up_for_retry")
        and ti["state"] == "success",
        f"{flaky} should fail its first try and succeed on the second: its tries ended "
        f"{[states.get(n) for n in sorted(states)]}. Keep the given `if ... ti.try_number == 1: raise` "
        "and give the task one retry (TODO 2)",
    )
    again = sorted(k for k, t in zip(keys, mapped["try_number"], strict=True) if k != flaky and int(t) != 1)
    checks.expect(
        not again, f"only {flaky} should need a retry, but {head(again, 3)} took more than one try too"
    )


def _partition_key(ti) -> str | None:
    """'2024-03-02/NL': the partition a mapped instance wrote, from its rendered arguments."""
    fields = ti.get("rendered_fields")
    kwargs = (fields.get("op_kwargs") if isinstance(fields, dict) else None) or {}
    try:
        return Partition(kwargs["event_date"], kwargs["country"]).key
    except (KeyError, PartitionError):  # a participant's task may pass anything: not a partition
        return None


def _lake_checks(checks: Checks, expected: list[tuple[str, str]]) -> None:
    counts = lake.partition_counts(MAPPED_TABLE)
    found = {p: int(n) for p, n in zip(counts["partition"], counts["rows"], strict=False)}
    wanted = {Partition(day, country).path: CHECK_CONF["events_per_partition"] for day, country in expected}
    if not checks.expect(
        bool(found),
        f"no partitions in the lake's table {MAPPED_TABLE!r}: write with "
        f"lab.lake.write_partition(..., table={MAPPED_TABLE!r}) as the starter does",
    ):
        return
    missing = sorted(set(wanted) - set(found))
    extra = sorted(set(found) - set(wanted))
    checks.expect(not missing, f"partitions missing from the lake: {head(missing, 3)}")
    checks.expect(not extra, f"partitions in the lake that the run was not asked for: {head(extra, 3)}")
    wrong = {p: found[p] for p in sorted(set(found) & set(wanted)) if found[p] != wanted[p]}
    checks.expect(
        not wrong,
        f"expected {CHECK_CONF['events_per_partition']} rows per partition "
        f"(the Param events_per_partition), found {dict(list(wrong.items())[:3])}: "
        'pass rows="{{ params.events_per_partition }}" through .partial(...)',
    )


def _failures(af: Airflow, tis, run_id: str) -> str:
    """'label: Error: message' for the failed task instances of a run (the first three)."""
    failed = tis[tis["state"].isin(["failed", "upstream_failed"])]
    lines = []
    for _, ti in failed.head(3).iterrows():
        name = ti["rendered_map_index"] or ti["task_id"]
        error = ""
        if ti["state"] == "failed":
            try:
                error = af.task_error(
                    MAPPED_DAG_ID, run_id, ti["task_id"], int(ti["map_index"]), int(ti["try_number"])
                )
            except AirflowError:
                error = ""
        lines.append(f"{name} {ti['state']}" + (f" ({error.splitlines()[-1]})" if error else ""))
    return "; ".join(lines)
