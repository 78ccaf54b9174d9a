"""What the lab's own Airflow costs: `make up` to healthy, then idle CPU and memory, checkouts interleaved.

    python -m lab.bench.startup                          this checkout, 5 rounds
    git archive <commit> | tar -x -C /tmp/before && ln -s $PWD/.venv /tmp/before/.venv
    python -m lab.bench.startup --repo /tmp/before --repo . --rounds 5     before / after

Each checkout gets an Airflow home of its own under the results folder, first started once
on the empty home (timed: the cold start, migrating a new database and building the task
virtualenv). Then each round, for each checkout in turn: `make down`, `make up` timed to its
end (the Airflow is healthy when it returns), `--settle` seconds of quiet, CPU (% of one core,
per component) over `--window` seconds and PSS, `make down`. Right after `make up` returns, the
CPU seconds each component has used since it started are read too: everything that happened
before "healthy", so their sum over the cores is a floor under the start time (the CPU bound of
a start, like a trial's). Ports and LAB_AIRFLOW_PROFILE come
from the environment and are the same for all, so only the code differs; an older checkout
runs on this checkout's .venv with its own code first on PYTHONPATH. Results:
data/benchmarks/startup-<UTC time>/ (startup.csv, cold.csv, tables.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from lab.bench.cpu import AIRFLOW_PARTS, CpuProbe, cores, idle_usage
from lab.bench.metrics import spread
from lab.bench.tuning import verdict
from lab.config import settings


def make(repo: Path, target: str, env: dict[str, str]) -> float:
    """Run `make <target>` in `repo`; return its wall-clock seconds (raises when it fails)."""
    started = time.monotonic()
    done = subprocess.run(["make", "-s", "-C", str(repo), target], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"make {target} in {repo} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def start_cpu(home: Path) -> dict:
    """CPU seconds the freshly started components used up to now (each process's whole life so
    far, so right after `make up` it is what starting cost), per part and in all, and that over
    the cores."""
    probe = CpuProbe.for_home(home)
    used = {name: sum(pids.values()) for name, pids in probe.snapshot().items()} if probe else {}
    row = {f"up_cpu_{name}_s": round(used.get(name, 0.0), 2) for name in AIRFLOW_PARTS}
    row["up_cpu_s"] = round(sum(used.get(name, 0.0) for name in AIRFLOW_PARTS), 2)
    row["up_cpu_bound_s"] = round(row["up_cpu_s"] / cores(), 2)
    return row


def checkout_env(repo: Path, home: Path) -> dict[str, str]:
    env = {**os.environ, "LAB_AIRFLOW_HOME": str(home), "PYTHONPATH": str(repo)}
    env.pop("VIRTUAL_ENV", None)
    return env


def one_round(repo: Path, home: Path, settle_s: float, window_s: float) -> dict:
    env = checkout_env(repo, home)
    make(repo, "down", env)
    load = os.getloadavg()[0]
    up_s = make(repo, "up", env)
    try:
        started = start_cpu(home)
        time.sleep(settle_s)
        usage = idle_usage(home, window_s)
    finally:
        make(repo, "down", env)
    return {
        "checkout": str(repo),
        "load_1min": round(load, 2),
        "make_up_s": round(up_s, 1),
        **started,
        **usage,
    }


def cold_start(repo: Path, home: Path) -> dict:
    """`make up` on an empty Airflow home (a new database, the virtualenv built), then down."""
    env = checkout_env(repo, home)
    load = os.getloadavg()[0]
    try:
        up_s = make(repo, "up", env)
        started = start_cpu(home)
    finally:
        make(repo, "down", env)
    return {"checkout": str(repo), "load_1min": round(load, 2), "cold_make_up_s": round(up_s, 1), **started}


def table(rows: pd.DataFrame) -> str:
    first = rows["checkout"].iloc[0]
    lines = [
        "| checkout | rounds | make up s | CPU s to healthy | its CPU bound s | idle CPU % | PSS MiB | load "
        "| make up vs first |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for checkout, group in rows.groupby("checkout", sort=False):
        base = rows.loc[rows["checkout"] == first, "make_up_s"]

        def cell(column: str, g=group) -> str:
            return spread(g[column])

        lines.append(
            f"| {checkout} | {len(group)} | {cell('make_up_s')} | {cell('up_cpu_s')} | {cell('up_cpu_bound_s')} | "
            f"{cell('cpu_pct')} | {cell('pss_mib')} | "
            f"{cell('load_1min')} | {verdict(group['make_up_s'], base) if checkout != first else ''} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench.startup", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repo", type=Path, action="append", help="a checkout (repeatable; default: this one)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--settle", type=float, default=45.0)
    parser.add_argument("--window", type=float, default=60.0)
    args = parser.parse_args(argv)
    cfg = settings()
    repos = [r.resolve() for r in (args.repo or [cfg.repo_root])]
    out = cfg.data_dir / "benchmarks" / f"startup-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    out.mkdir(parents=True, exist_ok=True)
    homes = {repo: out / f"home-{i}" for i, repo in enumerate(repos)}
    cold = [cold_start(repo, homes[repo]) for repo in repos]
    pd.DataFrame(cold).to_csv(out / "cold.csv", index=False)
    print(cold, flush=True)
    rows = []
    for round_no in range(args.rounds):
        shift = round_no % len(repos)
        for repo in repos[shift:] + repos[:shift]:
            row = {"round": round_no, **one_round(repo, homes[repo], args.settle, args.window)}
            print(row, flush=True)
            rows.append(row)
            pd.DataFrame(rows).to_csv(out / "startup.csv", index=False)
    frame = pd.DataFrame(rows)
    parts = [
        c for c in frame.columns if c.startswith("up_cpu_") or c.startswith("pss_") or c.startswith("cpu_")
    ]
    per_part = frame.groupby("checkout", sort=False)[parts].median().T
    text = (
        f"{table(frame)}\n\nPer component (medians; CPU s to healthy, idle CPU % of one core, PSS MiB):\n"
        f"{per_part.to_markdown()}\n\nCold start (empty home):\n{pd.DataFrame(cold).T.to_markdown()}"
    )
    (out / "tables.md").write_text(text + "\n")
    print(f"\n{text}\n\nsaved in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
