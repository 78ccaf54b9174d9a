"""Airflow 2 code on Airflow 3: ask the installed Airflow what is deprecated, gone or different.

The lesson's sidebar does not claim, it asks: a fresh interpreter with the lab's Airflow
environment runs Airflow 2 imports and snippets (recording the warnings, errors or values they
give), parses Airflow 2 CLI commands with Airflow 3's own parser (recording the error it gives),
and asks Airflow's own timetables which day a scheduled `@daily` run is about. One subprocess
per question, because importing Airflow costs seconds, and because the notebook kernel should
not import Airflow itself (it would pick a default ~/airflow home).
"""

from __future__ import annotations

import json
import subprocess
import sys

from lab.config import Settings, settings

_CHECK = r"""
import ast, contextlib, io, json, sys, warnings
import airflow.sdk  # import Airflow first: only the probed code's own warnings are recorded
from airflow.cli import cli_parser

spec = json.loads(sys.argv[1])


def param_doc(obj, name):
    # The text of `:param name:` in obj's docstring, on one line.
    text = (obj.__doc__ or "").split(f":param {name}:", 1)[1]
    return " ".join(text.split(":param ", 1)[0].split())


def shown(value):
    text = repr(value) if not isinstance(value, str) else value
    return type(value).__name__ if " object at 0x" in text else text


def run(code, namespace):
    # exec the snippet; if it ends with an expression, that expression's value is the outcome
    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<airflow 2 code>", "exec"), namespace)
    if last is not None:
        return shown(eval(compile(ast.Expression(last.value), "<airflow 2 code>", "eval"), namespace))
    return None


results = []
for kind, code in [("import", s) for s in spec["imports"]] + [("code", s) for s in spec["code"]]:
    namespace = {} if kind == "import" else {"param_doc": param_doc}
    if kind == "code":
        exec("from airflow.sdk import DAG, conf", namespace)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value, error = run(code, namespace), None
        except Exception as exc:
            value, error = None, f"{type(exc).__name__}: {exc}"
    messages = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    outcome = error or value or ("\n".join(messages) or "works, no warning")
    results.append({"code": code, "on_airflow_3": outcome})
for argv in spec["commands"]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            cli_parser.get_parser().parse_args(argv)
            outcome = "a valid command"
        except SystemExit as exc:
            lines = [l for l in err.getvalue().splitlines() if l.strip()]
            outcome = "a valid command" if exc.code == 0 else (lines[-1] if lines else f"exit {exc.code}")
    results.append({"code": "airflow " + " ".join(argv), "on_airflow_3": outcome})
print(json.dumps(results))
"""

_SCHEDULE = r"""
import json, sys
from datetime import datetime, timezone
from airflow.sdk import DAG
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import TimeRestriction

spec = json.loads(sys.argv[1])
start = datetime.fromisoformat(spec["first_day"]).replace(tzinfo=timezone.utc)
schedules = {
    f"{spec['cron']!r} (Airflow 3's default)": spec["cron"],
    f"CronDataIntervalTimetable({spec['cron']!r}) (Airflow 2's)": CronDataIntervalTimetable(spec["cron"], timezone="UTC"),
}
rows = []
for label, schedule in schedules.items():
    dag = DAG("scheduled", schedule=schedule, start_date=start)
    timetable = coerce_to_core_timetable(dag.timetable)  # what the scheduler runs
    restriction = TimeRestriction(earliest=start, latest=None, catchup=True)
    last = None
    for _ in range(spec["runs"]):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        last = info.data_interval
        rows.append({
            "schedule": label,
            "timetable": type(timetable).__name__,
            "run_after": info.run_after.isoformat(),
            "logical_date": info.logical_date.isoformat(),
            "ds": info.logical_date.strftime("%Y-%m-%d"),  # what the task context's ds is
            "data_interval_start": info.data_interval.start.isoformat(),
            "data_interval_end": info.data_interval.end.isoformat(),
        })
print(json.dumps(rows))
"""


def _probe(script: str, spec: dict, cfg: Settings | None, timeout: float) -> list[dict]:
    """Run `script` with the lab's Airflow environment and `spec` as JSON; return its JSON answer."""
    from lab.airflow_local import MARKER, airflow_env

    env = airflow_env(cfg or settings())
    env.pop(MARKER)  # a probe is not part of the running Airflow (lab down must not count it)
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the Airflow probe failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def check(
    imports: list[str] = (),
    commands: list[list[str]] = (),
    code: list[str] = (),
    cfg: Settings | None = None,
    timeout: float = 300.0,
):
    """Run imports, code snippets and CLI argument lists against the installed Airflow; one row each.

    `code` snippets see `DAG` and `conf` from `airflow.sdk`, and `param_doc(obj, name)` (the
    text of a parameter's docstring); a snippet that ends with an expression reports its value.
    Returns a DataFrame with `code` and `on_airflow_3`: the value, the error, the warnings it
    raised (deduplicated), "works, no warning", or the CLI parser's error line.
    """
    import pandas as pd

    for statement in imports:
        if not statement.lstrip().startswith(("import ", "from ")):
            raise ValueError(f"only import statements can be checked, got {statement!r}")
    spec = {"imports": list(imports), "code": list(code), "commands": [list(c) for c in commands]}
    return pd.DataFrame(_probe(_CHECK, spec, cfg, timeout), columns=["code", "on_airflow_3"])


def scheduled_runs(
    cron: str = "@daily", first_day: str = "2024-01-01", runs: int = 2, cfg=None, timeout=300.0
):
    """The first `runs` scheduled runs of `schedule=cron` from `first_day`, as Airflow 3 plans them.

    One block of rows for the plain cron string (a `CronTriggerTimetable` unless
    `[scheduler] create_cron_data_intervals` is on) and one for `CronDataIntervalTimetable`
    (what Airflow 2 made of it): when each run starts (`run_after`), its logical date, the `ds`
    its tasks see and its data interval, computed by Airflow's own timetables.
    """
    import pandas as pd

    rows = _probe(_SCHEDULE, {"cron": cron, "first_day": first_day, "runs": runs}, cfg, timeout)
    return pd.DataFrame(rows)
