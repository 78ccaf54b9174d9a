"""`lab` command line: up | down | status | logs | jupyter | airflow (and bench, when installed).

lab prepare            migrate the metadata DB and build the task virtualenv (no network needed after)
lab up                 start the local Airflow (reuses a healthy one) and wait until healthy
lab down               stop it, every process of it
lab status             is it running and healthy, where, how much memory and CPU
lab logs [component]   tail a component's log (scheduler, api-server, dag-processor, triggerer)
lab jupyter            Airflow up, JupyterLab in the foreground; Ctrl-C stops both
lab airflow ARGS...    the `airflow` CLI against the lab's Airflow home
lab check              which lessons and exercises you have completed (your notebooks, Airflow, lake)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys

import psutil

from lab import airflow_local, footprint, profiles
from lab.config import settings
from lab.processes import port_in_use


def cmd_up(args) -> int:
    try:
        airflow_local.up(timeout=args.timeout)
    except airflow_local.AirflowStartError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"Airflow UI: {settings().url}")
    return 0


def cmd_prepare(args) -> int:
    try:
        airflow_local.prepare(force=args.force)
    except airflow_local.AirflowStartError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_down(args) -> int:
    airflow_local.down()
    return 0


def cmd_status(args) -> int:
    report = airflow_local.status()
    scheduler = report["components"].get("scheduler")
    if report["running"] and scheduler:
        try:
            report["profile"] = profiles.identify(psutil.Process(scheduler).environ())
        except psutil.Error:
            pass
    if report["running"] and args.cpu_window > 0:
        home = settings().airflow_home
        report["cpu_percent"] = footprint.cpu_percent(
            lambda: airflow_local.lab_processes(home), args.cpu_window
        )
        report["cpu_window_s"] = args.cpu_window
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        state = (
            "healthy" if report["healthy"] else ("running, NOT healthy" if report["running"] else "stopped")
        )
        profile = f", profile {report['profile']}" if "profile" in report else ""
        print(f"Airflow {state} at {report['url']} (home {report['airflow_home']}{profile})")
        if report["running"]:
            cpu = (
                f", {report['cpu_percent']}% of one core (average over {report['cpu_window_s']:g} s)"
                if "cpu_percent" in report
                else ""
            )
            print(f"  {report['processes']} processes, {report['pss_mib']} MiB (PSS){cpu}")
            for name, pid in report["components"].items():
                print(f"  {name:14} pid {pid}")
            if not report["healthy"]:
                print(f"  health: {report['health']}\n  see `lab logs scheduler`", file=sys.stderr)
    return 0 if report["healthy"] or not report["running"] else 1


def cmd_logs(args) -> int:
    cfg = settings()
    path = airflow_local.log_dir(cfg) / f"{args.component}.log"
    if args.follow:
        return subprocess.call(["tail", "-n", str(args.lines), "-F", str(path)])
    print(airflow_local.tail(path, args.lines))
    return 0


def cmd_jupyter(args) -> int:
    """Airflow up (if not already), JupyterLab in the foreground; stop what we started on exit."""
    cfg = settings()
    # LAB_AIRFLOW_URL: an Airflow run elsewhere (docker compose, a server): only JupyterLab starts.
    external = not cfg.is_managed
    already = external or airflow_local.status(cfg)["healthy"]
    try:
        if not external:
            airflow_local.up(cfg, timeout=args.timeout)
    except airflow_local.AirflowStartError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    if port_in_use(cfg.jupyter_port):
        print(f"ERROR: port {cfg.jupyter_port} is taken: LAB_JUPYTER_PORT=8899 make lab", file=sys.stderr)
        if not already:
            airflow_local.down(cfg)
        return 1
    token = secrets.token_hex(16)
    print(
        f"\nAirflow UI:  {cfg.url}\n"
        f"JupyterLab:  http://127.0.0.1:{cfg.jupyter_port}/lab?token={token}\n"
        "Ctrl-C stops JupyterLab" + ("" if already else " and this Airflow") + "\n",
        flush=True,
    )
    jupyter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={cfg.jupyter_port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={cfg.repo_root / 'notebooks'}",
            f"--IdentityProvider.token={token}",
            *(["--allow-root"] if os.geteuid() == 0 else []),  # workshop VMs and CI often run as root
        ],
    )
    try:
        return jupyter.wait()
    except KeyboardInterrupt:
        jupyter.terminate()
        try:
            jupyter.wait(timeout=15)
        except subprocess.TimeoutExpired:
            jupyter.kill()
        return 0
    finally:
        if not already:
            airflow_local.down(cfg)
        elif not external:
            print("Airflow was running before `make lab`: left running (`make down` stops it)")


def cmd_airflow(args) -> int:
    return airflow_local.run_airflow_cli(args.args)


def cmd_check(args) -> int:
    """The participant's progress table; reads notebooks, Airflow and the lake, changes nothing."""
    from lab.exercises import progress

    rows = progress.collect()
    print(progress.as_json(rows) if args.json else progress.table(rows).rstrip())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start the local Airflow")
    p.add_argument("--timeout", type=float, default=240)
    p.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop the local Airflow").set_defaults(func=cmd_down)
    p = sub.add_parser("prepare", help="migrate the metadata DB, build the cached virtualenv")
    p.add_argument("--force", action="store_true", help="even when nothing changed since the last prepare")
    p.set_defaults(func=cmd_prepare)
    p = sub.add_parser("status", help="is the local Airflow healthy")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--cpu-window", type=float, default=5, metavar="S", help="average CPU over S seconds (0: skip)"
    )
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("logs", help="a component's log")
    p.add_argument("component", nargs="?", default="scheduler")
    p.add_argument("-n", "--lines", type=int, default=50)
    p.add_argument("-f", "--follow", action="store_true")
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser("jupyter", help="Airflow + JupyterLab in the foreground")
    p.add_argument("--timeout", type=float, default=240)
    p.set_defaults(func=cmd_jupyter)
    p = sub.add_parser("airflow", help="the airflow CLI on the lab's home")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_airflow)
    p = sub.add_parser("check", help="which lessons and exercises you have completed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)
    try:
        from lab import bench  # noqa: F401  (optional: the benchmark adds `lab bench`)

        if hasattr(bench, "add_cli"):
            bench.add_cli(sub)
    except ImportError:
        pass
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
