"""Airflow 2 code on Airflow 3: ask the installed Airflow what is deprecated and what is gone.

The lesson's sidebar does not claim, it asks: a fresh interpreter with the lab's Airflow
environment imports the Airflow 2 names (recording the warnings they raise) and parses
Airflow 2 CLI commands with Airflow 3's own parser (recording the error it gives). One
subprocess for everything, because importing Airflow costs seconds, and because the notebook
kernel should not import Airflow itself (it would pick a default ~/airflow home).
"""

from __future__ import annotations

import json
import subprocess
import sys

from lab.config import Settings, settings

_PROBE = r"""
import contextlib, io, json, sys, warnings
import airflow.sdk  # import Airflow first: only the probed imports' own warnings are recorded
from airflow.cli import cli_parser

spec = json.loads(sys.argv[1])
results = []
for statement in spec["imports"]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exec(statement, {})
            error = None
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    messages = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    results.append({"airflow_2_code": statement, "on_airflow_3": error or ("\n".join(messages) or "works, no warning")})
for argv in spec["commands"]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            cli_parser.get_parser().parse_args(argv)
            outcome = "a valid command"
        except SystemExit as exc:
            lines = [l for l in err.getvalue().splitlines() if l.strip()]
            outcome = "a valid command" if exc.code == 0 else (lines[-1] if lines else f"exit {exc.code}")
    results.append({"airflow_2_code": "airflow " + " ".join(argv), "on_airflow_3": outcome})
print(json.dumps(results))
"""


def check(imports: list[str], commands: list[list[str]], cfg: Settings | None = None, timeout: float = 300.0):
    """Run import statements and CLI argument lists against the installed Airflow; one row each.

    Returns a DataFrame with `airflow_2_code` and `on_airflow_3`: the warnings an import raised
    (deduplicated), its error, "works, no warning", or the CLI parser's error line.
    """
    import pandas as pd

    from lab.airflow_local import MARKER, airflow_env

    for statement in imports:
        if not statement.lstrip().startswith(("import ", "from ")):
            raise ValueError(f"only import statements can be checked, got {statement!r}")
    env = airflow_env(cfg or settings())
    env.pop(MARKER)  # a probe is not part of the running Airflow (lab down must not count it)
    spec = json.dumps({"imports": imports, "commands": commands})
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, spec], env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"the Airflow probe failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return pd.DataFrame(json.loads(done.stdout.strip().splitlines()[-1]))
