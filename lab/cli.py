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
import signal
import subprocess
import sys

import psutil

from lab import airflow_local, components, diagnose, footprint, profiles
from lab.config import settings
from lab.processes import port_in_use

INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C


def _stop_on_hangup() -> None:
    """A closed terminal (SIGHUP) or a `kill` (SIGTERM) cleans up like Ctrl-C does."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def _import_errors(cfg) -> list[diagnose.ImportProblem] | None:
    """The DAG files that failed to import, or None when the REST API does not answer."""
    from lab.client import Airflow, AirflowError

    try:
        return diagnose.import_problems(Airflow(cfg=cfg, timeout=10))
    except AirflowError:
        return None


def _print_import_errors(cfg) -> None:
    text = diagnose.describe_import_problems(_import_errors(cfg) or [])
    if text:
        print(text, file=sys.stderr)


def cmd_up(args) -> int:
    _stop_on_hangup()
    try:
        airflow_local.up(timeout=args.timeout)
    except airflow_local.AirflowStartError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return INTERRUPTED  # up() has said what it stopped
    print(f"Airflow UI: {settings().url}")
    _print_import_errors(settings())
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


def _add_profile_and_cpu(report: dict, cfg, cpu_window: float) -> None:
    """The profile the scheduler runs with, and the CPU of every process of the home (% of one core)."""
    scheduler = report["components"].get("scheduler")
    if report["running"] and scheduler:
        try:
            report["profile"] = profiles.identify(psutil.Process(scheduler).environ())
        except psutil.Error:
            pass
    if report["running"] and cpu_window > 0:
        processes = lambda: airflow_local.lab_processes(cfg.airflow_home)  # noqa: E731
        report["cpu_percent"] = footprint.cpu_percent(processes, cpu_window)
        report["cpu_window_s"] = cpu_window


def cmd_status(args) -> int:
    cfg = settings()
    report = airflow_local.status(cfg)
    _add_profile_and_cpu(report, cfg, args.cpu_window)
    found = _import_errors(cfg) if report["running"] else []
    if args.json:
        report["import_errors"] = None if found is None else [str(problem) for problem in found]
        print(json.dumps(report, indent=2, default=str))
        return 0 if report["healthy"] or not report["running"] else 1
    state = "healthy" if report["healthy"] else ("running, NOT healthy" if report["running"] else "stopped")
    profile = f", profile {report['profile']}" if "profile" in report else ""
    print(f"Airflow {state} at {report['url']} (home {report['airflow_home']}{profile})")
    if not report["running"]:
        print("  `make up` starts it (`make lab` with JupyterLab)")
        return 0
    cpu = (
        f", {report['cpu_percent']}% of one core over {report['cpu_window_s']:g} s"
        if "cpu_percent" in report
        else ""
    )
    print(f"  {report['processes']} processes, {report['pss_mib']} MiB (PSS){cpu}")
    for name, pid in report["components"].items():
        print(f"  {name:14} {report['component_states'].get(name, '?'):13} pid {pid}")
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if not report["healthy"] and not report["problems"]:
        print(f"  health: {report['health']}\n  see `lab logs scheduler`", file=sys.stderr)
    if found:
        print(diagnose.describe_import_problems(found), file=sys.stderr)
    return 0 if report["healthy"] else 1


def cmd_logs(args) -> int:
    cfg = settings()
    path = airflow_local.log_dir(cfg) / f"{args.component}.log"
    if args.follow:
        return subprocess.call(["tail", "-n", str(args.lines), "-F", str(path)])
    print(airflow_local.tail(path, args.lines))
    return 0


def cmd_jupyter(args) -> int:
    """Airflow up (if not already), JupyterLab in the foreground; stop what we started on exit.

    One JupyterLab per lab: a second `make lab` of the same checkout points at the first one
    instead of starting another Airflow or JupyterLab.
    """
    cfg = settings()
    _stop_on_hangup()
    cfg.airflow_home.mkdir(parents=True, exist_ok=True)
    try:
        with components.exclusive(cfg.airflow_home / "lab-jupyter.lock", timeout=0):
            return _run_jupyter(cfg, args)
    except TimeoutError:
        print(_already_running(cfg))
        return 0
    except KeyboardInterrupt:
        return INTERRUPTED


def _already_running(cfg) -> str:
    try:
        running = json.loads((cfg.airflow_home / "lab-jupyter.json").read_text())
    except (OSError, ValueError):
        running = {}
    return (
        "This lab is already running in another terminal (`make lab`"
        + (f", pid {running['pid']}" if "pid" in running else "")
        + "): nothing started.\n"
        + (f"JupyterLab:  {running['url']}\n" if "url" in running else "")
        + f"Airflow UI:  {cfg.url}\n"
        "Ctrl-C in that terminal stops it. A second lab on this machine needs its own checkout "
        "and ports (LAB_AIRFLOW_PORT, LAB_JUPYTER_PORT)."
    )


def _run_jupyter(cfg, args) -> int:
    # LAB_AIRFLOW_URL: an Airflow run elsewhere (docker compose, a server): only JupyterLab starts.
    external = not cfg.is_managed
    if port_in_use(cfg.jupyter_port):
        message = diagnose.port_taken_message(cfg.jupyter_port, "LAB_JUPYTER_PORT", airflow_local.MARKER)
        print(f"ERROR: {message}", file=sys.stderr)
        return 1
    started = False
    if not external:
        try:
            started = airflow_local.up(cfg, timeout=args.timeout).started_here
        except airflow_local.AirflowStartError as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 1
    token = secrets.token_hex(16)
    url = f"http://127.0.0.1:{cfg.jupyter_port}/lab?token={token}"
    info = cfg.airflow_home / "lab-jupyter.json"
    info.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    info.chmod(0o600)
    print(
        f"\nAirflow UI:  {cfg.url}\nJupyterLab:  {url}\n"
        "Ctrl-C stops JupyterLab" + (" and this Airflow" if started else "") + "\n",
        flush=True,
    )
    if not external:
        _print_import_errors(cfg)
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
        info.unlink(missing_ok=True)
        if started:
            with components.sigint_ignored():  # a second Ctrl-C must not leave half an Airflow
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
